// SPDX-License-Identifier: GPL-2.0
/*
 * Workers the module pinned keep their CPU across CPU hotplug.
 *
 * With enable_listen_spawn=2 the module picks a worker's CPU and pins the
 * worker there (FASTSOCKET_CPU_AUTO). When that CPU goes offline the
 * scheduler breaks the pin and moves the worker; its local listener stays
 * the CPU's, so once the CPU is back the worker must be too, or the SYNs
 * steered to its listener are no longer processed where it runs.
 *
 * A record per pinned thread: its struct pid (a reference, dropped when
 * the record goes) and its CPU. Records of threads that have exited are
 * dropped at the next pin or hotplug event, so the list holds at most one
 * record per live pinned thread. At offline every record of the CPU is
 * marked broken; once the CPU is active again, broken records are pinned
 * back. In mode 2 the module owns the placement of the workers it placed:
 * a thread that changed its own affinity while its CPU was offline is
 * pinned back too (Documentation/limits.md).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "fsk.h"

struct fsk_pin {
	struct list_head node;		/* fsk_pins, under fsk_pins_lock */
	struct pid *pid;		/* one reference */
	unsigned int cpu;
	bool broken;			/* its CPU went offline under it */
};

static LIST_HEAD(fsk_pins);
static DEFINE_MUTEX(fsk_pins_lock);
static enum cpuhp_state fsk_pin_state;

/* A re-pin waits until the CPU is active: online callbacks run earlier. */
#define FSK_REPIN_RETRY_MS	10
#define FSK_REPIN_TRIES		500
static void fsk_repin_work_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(fsk_repin_work, fsk_repin_work_fn);
static unsigned int fsk_repin_tries;

static void fsk_pin_free(struct fsk_pin *p)
{
	list_del(&p->node);
	put_pid(p->pid);
	kfree(p);
}

/* The record's thread, with a reference, or NULL (and the record freed). */
static struct task_struct *fsk_pin_task(struct fsk_pin *p)
{
	struct task_struct *t = get_pid_task(p->pid, PIDTYPE_PID);

	lockdep_assert_held(&fsk_pins_lock);
	if (!t)
		fsk_pin_free(p);
	return t;
}

static void fsk_pins_gc(void)
{
	struct task_struct *t;
	struct fsk_pin *p, *tmp;

	list_for_each_entry_safe(p, tmp, &fsk_pins, node) {
		t = fsk_pin_task(p);
		if (t)
			put_task_struct(t);
	}
}

/*
 * Pin the calling thread to @cpu and remember that the module did. 0, or
 * the errno of set_cpus_allowed_ptr() (a cpuset may refuse; the caller's
 * listener works all the same).
 */
int fsk_pin_current(unsigned int cpu)
{
	struct pid *pid = task_pid(current);
	struct fsk_pin *p, *new;
	int err;

	err = set_cpus_allowed_ptr(current, cpumask_of(cpu));
	if (err)
		return err;
	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	mutex_lock(&fsk_pins_lock);
	fsk_pins_gc();
	list_for_each_entry(p, &fsk_pins, node) {
		if (p->pid == pid) {
			p->cpu = cpu;
			p->broken = false;
			goto out;
		}
	}
	if (new) {
		new->pid = get_pid(pid);
		new->cpu = cpu;
		list_add(&new->node, &fsk_pins);
		new = NULL;
	}
out:
	mutex_unlock(&fsk_pins_lock);
	kfree(new);
	return 0;
}

/*
 * @cpu is going away. Runs after the scheduler stopped using it, so a
 * pinned thread may already have been moved (its pin broken): mark every
 * record of the CPU, whatever the thread's mask says by now.
 */
static int fsk_pin_cpu_offline(unsigned int cpu)
{
	struct fsk_pin *p;

	mutex_lock(&fsk_pins_lock);
	fsk_pins_gc();
	list_for_each_entry(p, &fsk_pins, node)
		if (p->cpu == cpu)
			p->broken = true;
	mutex_unlock(&fsk_pins_lock);
	return 0;
}

static int fsk_pin_cpu_online(unsigned int cpu)
{
	mutex_lock(&fsk_pins_lock);
	fsk_repin_tries = 0;
	mutex_unlock(&fsk_pins_lock);
	mod_delayed_work(system_wq, &fsk_repin_work, 0);
	return 0;
}

static void fsk_repin_work_fn(struct work_struct *work)
{
	bool again = false;
	struct task_struct *t;
	struct fsk_pin *p, *tmp;

	mutex_lock(&fsk_pins_lock);
	list_for_each_entry_safe(p, tmp, &fsk_pins, node) {
		if (!p->broken || !cpu_online(p->cpu))
			continue;
		if (!cpu_active(p->cpu)) {
			again = true;
			continue;
		}
		t = fsk_pin_task(p);
		if (!t)
			continue;
		if (set_cpus_allowed_ptr(t, cpumask_of(p->cpu)))
			pr_debug("pid %d: could not pin back to CPU %u\n",
				 task_pid_nr(t), p->cpu);
		p->broken = false;
		put_task_struct(t);
	}
	if (again && ++fsk_repin_tries < FSK_REPIN_TRIES)
		queue_delayed_work(system_wq, &fsk_repin_work,
				   msecs_to_jiffies(FSK_REPIN_RETRY_MS));
	mutex_unlock(&fsk_pins_lock);
}

int fsk_pin_start(void)
{
	int ret;

	ret = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN,
					"net/fastsocket:online",
					fsk_pin_cpu_online,
					fsk_pin_cpu_offline);
	if (ret < 0)
		return ret;
	fsk_pin_state = ret;
	return 0;
}

void fsk_pin_stop(void)
{
	struct fsk_pin *p, *tmp;

	cpuhp_remove_state_nocalls(fsk_pin_state);
	cancel_delayed_work_sync(&fsk_repin_work);
	mutex_lock(&fsk_pins_lock);
	list_for_each_entry_safe(p, tmp, &fsk_pins, node)
		fsk_pin_free(p);
	mutex_unlock(&fsk_pins_lock);
}
