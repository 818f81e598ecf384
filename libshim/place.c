// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * place.c - placing a worker on a CPU and making its local listener.
 */
#include "place.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cpu.h"
#include "dev.h"
#include "listener.h"
#include "log.h"
#include "mode.h"
#include "real.h"
#include "shim.h"
#include "sibling.h"

static struct fs_load *_Atomic load_map;

void fs_place_share_load(void)
{
	if (!atomic_load(&load_map))
		atomic_store(&load_map, fs_load_new());
}

void fs_place_release_self(void)
{
	if (fs_self.load_slot >= 0) {
		fs_load_release(atomic_load(&load_map), fs_self.load_slot);
		fs_self.load_slot = -1;
	}
}

void fs_place_reset(void)
{
	fs_place_release_self();
	fs_load_free(atomic_exchange(&load_map, NULL));
	fs_self.cpu = -1;
	fs_self.shim_pinned = false;
}

/* Pin the calling worker as the plan says. 0, or -1: pass through. */
static int place_thread(struct fs_listener *l, const struct fs_cpu_plan *plan,
			const cpu_set_t *aff)
{
	struct fs_thread *me = &fs_self;
	struct fs_load *load;
	char set[128];
	int cpu = -1;

	if (plan->how == FS_CPU_KEEP) {
		me->cpu = plan->cpu;
		fs_info("pid %d tid %d: worker on CPU %d (its own affinity)",
			getpid(), me->tid, me->cpu);
		return 0;
	}
	load = atomic_load(&load_map);
	if (!load) {
		load = fs_load_new();
		atomic_store(&load_map, load);
	}
	if (load) {
		cpu = fs_load_reserve(load, &plan->from, getpid(), me->tid,
				      &me->load_slot);
	} else {
		for (int c = 0; c < FS_MAX_CPUS && cpu < 0; c++)
			if (CPU_ISSET(c, &plan->from))
				cpu = c;
	}
	if (cpu < 0)
		return -1;
	if (fs_cpu_pin(cpu) < 0) {
		fs_listener_say_once(l, SAY_PIN_FAILED,
				     "pid %d tid %d: cannot pin to CPU %d: %s; passing through",
				     getpid(), me->tid, cpu, strerror(errno));
		if (load)
			fs_load_release(load, me->load_slot);
		me->load_slot = -1;
		return -1;
	}
	if (!me->shim_pinned)
		me->base = *aff;
	me->shim_pinned = true;
	me->cpu = cpu;
	fs_cpuset_format(&plan->from, set, sizeof(set));
	fs_info("pid %d tid %d: pinned to CPU %d (least loaded of %s)",
		getpid(), me->tid, cpu, set);
	return 0;
}

/*
 * The CPUs of from that have the fewest of this server's placed workers
 * (the shared load table), into out; all of from without a table. Why
 * not the module's own count: see Documentation/shim.md, "Placing a
 * worker".
 */
static void fewest_workers(const cpu_set_t *from, cpu_set_t *out)
{
	struct fs_load *load = atomic_load(&load_map);
	uint32_t best = UINT32_MAX, n;

	*out = *from;
	if (!load)
		return;
	fs_load_reap(load);
	for (int c = 0; c < FS_MAX_CPUS; c++) {
		n = atomic_load(&load->count[c]);
		if (CPU_ISSET(c, from) && n < best)
			best = n;
	}
	CPU_ZERO(out);
	for (int c = 0; c < FS_MAX_CPUS; c++)
		if (CPU_ISSET(c, from) && atomic_load(&load->count[c]) == best)
			CPU_SET(c, out);
}

/* The module placed the calling worker on cpu: count it in the table. */
static void note_placed(int cpu)
{
	struct fs_load *load = atomic_load(&load_map);
	cpu_set_t one;

	if (!load || fs_self.load_slot >= 0 || cpu < 0 || cpu >= FS_MAX_CPUS)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	fs_load_reserve(load, &one, getpid(), fs_self.tid, &fs_self.load_slot);
}

/*
 * The module path: FASTSOCKET_IOC_SPAWN for the calling worker. A worker
 * to be placed asks for FASTSOCKET_CPU_AUTO (the module picks and pins),
 * its affinity narrowed first to the CPUs with the fewest of this
 * server's workers; if the module does not pick (its enable_listen_spawn
 * is 1), the shim places the worker and asks for that CPU. 0 with the
 * local listener, or a negative errno.
 */
/* SPAWN's fd is the lowest free one, which a dup (closed again at once)
 * shows beforehand: is it in room (fs_fd_in_room)? */
static bool fd_headroom(int fd, struct fs_listener *l)
{
	unsigned long long limit;
	int probe = fs_real.fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (probe >= 0)
		fs_real.close(probe);
	if (fs_fd_in_room(probe, &limit))
		return true;
	fs_listener_say_once(l, SAY_NO_SIBLING,
			     "%s: fd %d: fewer than half of RLIMIT_NOFILE (%llu) free; no local listener, passing through",
			     l->name, probe, limit);
	return false;
}

static int module_local(struct fs_listener *l, int fd,
			const struct fs_cpu_plan *plan, const cpu_set_t *aff,
			struct fs_placed *out)
{
	struct fs_thread *me = &fs_self;
	int lfd = -1, got = -1, rc, fl;

	if (me->cpu < 0 && plan->how == FS_CPU_PICK) {
		bool narrowed = false;
		cpu_set_t cand;

		fewest_workers(&plan->from, &cand);
		if (!CPU_EQUAL(&cand, aff) &&
		    fs_cpu_setaffinity(&cand) == 0)
			narrowed = true;
		rc = fs_dev_spawn(fd, FASTSOCKET_CPU_AUTO, &lfd, &got);
		if (rc == 0) {
			if (!me->shim_pinned)
				me->base = *aff;
			me->shim_pinned = true;
			me->cpu = got;
			note_placed(got);
			fs_info("pid %d tid %d: pinned to CPU %d by the module",
				getpid(), me->tid, got);
			goto done;
		}
		if (narrowed)
			fs_cpu_setaffinity(aff);
		if (rc != -EINVAL || place_thread(l, plan, aff) < 0)
			return rc;
	}
	rc = fs_dev_spawn(fd, me->cpu >= 0 ? me->cpu : plan->cpu, &lfd, &got);
	if (rc < 0)
		return rc;
	if (me->cpu < 0)
		me->cpu = got;
done:
	fl = fs_real.fcntl(lfd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fs_real.fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
	out->fd = lfd;
	out->cpu = got;
	out->kmod = true;
	return 0;
}

/*
 * l is one of the server's own per-worker SO_REUSEPORT sockets: place
 * the worker and, with the module, register that socket as its CPU's
 * local listener (FASTSOCKET_IOC_REGISTER). A copy would only add a
 * second queue on the same CPU. True when the socket was registered. The
 * shim has no fd of its own to mirror either way: the app's fd is the
 * local listener.
 */
static bool register_own_socket(struct fs_listener *l, int fd,
				const struct fs_cpu_plan *plan,
				const cpu_set_t *aff)
{
	int cpu, rc;

	if (fs_self.cpu < 0 && place_thread(l, plan, aff) < 0)
		return false;
	cpu = fs_self.cpu;
	if (!fs_module_ok()) {
		fs_listener_say_once(l, SAY_PER_WORKER_NEEDS_MODULE,
				     "%s: one of the application's per-worker SO_REUSEPORT sockets: worker on CPU %d; the module is needed to steer to it",
				     l->name, cpu);
		return false;
	}
	rc = fs_dev_register(fd, cpu);
	if (rc == 0) {
		fs_info("%s (fd %d): the worker's own socket is CPU %d's local listener (module)",
			l->name, fd, cpu);
		return true;
	}
	fs_listener_say_once(l, SAY_REGISTER_FAILED,
			     "%s: FASTSOCKET_IOC_REGISTER of fd %d for CPU %d: %s; worker on CPU %d, its socket not steered to",
			     l->name, fd, cpu, strerror(-rc), cpu);
	return false;
}

/*
 * Undo a placement made by this call (the module, in mode 2 with
 * enable_listen_spawn 1, had the shim pin first and then refused).
 */
static void unplace(bool was_placed, bool was_pinned, const cpu_set_t *aff)
{
	struct fs_thread *me = &fs_self;

	if (was_placed || me->cpu < 0)
		return;
	fs_place_release_self();
	fs_cpu_setaffinity(aff);
	me->cpu = -1;
	me->shim_pinned = was_pinned;
}

/*
 * A SPAWN error that means the module will not make a local listener
 * for l here, and a sibling would be no better, so the worker passes
 * through for l (no sibling, no pin): EOPNOTSUPP from a module whose
 * enable_listen_spawn is not 0 (the listener has a socket filter, IPsec
 * policy, TCP-MD5 keys or a ULP the module refuses to copy, and a sibling
 * would lack them too; that holds for the whole listener), EBUSY (this
 * CPU's slot belongs to another reuseport group or to a registered
 * socket), or EDQUOT (the administrator's limit of local listeners: a
 * sibling would get round it; other workers still ask, as the count
 * drops when local listeners close). Said once per listener.
 */
static bool spawn_refused(struct fs_listener *l, int rc)
{
	struct fastsocket_info info;
	const char *why;

	if (rc == -EBUSY) {
		why = "the CPU's slot belongs to another listening socket";
	} else if (rc == -EDQUOT) {
		why = "the limit of local listeners is reached (net.fastsocket.max_local_listeners or max_local_listeners_per_user)";
	} else if (rc == -EOPNOTSUPP && fs_dev_info(&info) == 0 &&
		   info.enable_listen_spawn != 0) {
		why = "the module does not copy this socket (socket filter, IPsec policy, TCP-MD5 keys or ULP)";
		atomic_store(&l->refused, true);
	} else {
		return false;
	}
	fs_listener_say_once(l, SAY_SPAWN_REFUSED,
			     "%s: FASTSOCKET_IOC_SPAWN: %s: %s; passing through, no userspace fallback",
			     l->name, strerror(-rc), why);
	return true;
}

bool fs_place_local(struct fs_listener *l, int fd, struct fs_placed *out)
{
	const bool per_worker = l->flags & FS_LST_PER_WORKER;
	struct fs_thread *me = &fs_self;
	bool was_placed, was_pinned;
	struct fs_cpu_plan plan;
	cpu_set_t aff;
	char why[256];
	int lfd = -1, rc;

	fs_assert_locked();
	if (atomic_load(&l->refused) || atomic_load(&fs_fd_table_shared))
		return false;
	if (fs_real.fcntl(fd, F_GETFL) & O_ASYNC) {
		/* Signal-driven: no local listener would raise its SIGIO. */
		atomic_store(&l->refused, true);
		fs_listener_say_once(l, SAY_STOPPED,
				     "%s: signal-driven (O_ASYNC): no local listeners for it; passing through",
				     l->name);
		return false;
	}
	was_placed = me->cpu >= 0;
	was_pinned = me->shim_pinned;
	memset(&plan, 0, sizeof(plan));
	plan.how = FS_CPU_KEEP;
	plan.cpu = me->cpu;
	CPU_ZERO(&aff);
	if (sched_getaffinity(0, sizeof(aff), &aff) < 0)
		CPU_ZERO(&aff);
	if (me->cpu < 0) {
		fs_cpu_plan(fs_mode(), &aff, me->shim_pinned ? &me->base : NULL,
			    &fs_cfg.cpus, &plan);
		if (plan.how == FS_CPU_NONE) {
			fs_listener_say_once(l, SAY_NO_CPU,
					     "%s: %s; the worker passes through",
					     l->name, plan.why);
			return false;
		}
	}

	if (per_worker) {
		register_own_socket(l, fd, &plan, &aff);
		return false;
	}
	if (!atomic_load(&l->nospawn) && fs_module_ok()) {
		if (!fd_headroom(fd, l)) {
			unplace(was_placed, was_pinned, &aff);
			return false;
		}
		rc = module_local(l, fd, &plan, &aff, out);
		if (rc == 0)
			return true;
		if (spawn_refused(l, rc)) {
			unplace(was_placed, was_pinned, &aff);
			return false;
		}
		fs_listener_say_once(l, SAY_SPAWN_FAILED,
				     "%s: FASTSOCKET_IOC_SPAWN: %s; using the userspace fallback",
				     l->name, strerror(-rc));
	}

	/* Userspace fallback. What makes a sibling impossible or unsafe is
	 * checked before the worker is pinned, and a failure undoes the pin:
	 * a worker that passes through keeps the affinity it had. */
	if (atomic_load(&l->nospawn)) {
		unplace(was_placed, was_pinned, &aff);
		return false;
	}
	rc = 0;
	if (l->flags & FS_LST_INHERITED) {
		snprintf(why, sizeof(why),
			 "an inherited listening socket may carry TCP-MD5 keys or an IPsec policy, which cannot be read back to give to a sibling");
		rc = -EOPNOTSUPP;
	} else {
		rc = fs_sibling_refuses(fd, why, sizeof(why));
	}
	if (rc == 0 && me->cpu < 0 && place_thread(l, &plan, &aff) < 0)
		return false;
	if (rc == 0)
		rc = fs_sibling_spawn(fd, me->cpu, l->backlog, &lfd, why,
				      sizeof(why));
	if (rc < 0) {
		if (rc == -EACCES || rc == -EPERM || rc == -EADDRINUSE ||
		    rc == -EOPNOTSUPP)
			atomic_store(&l->nospawn, true);
		unplace(was_placed, was_pinned, &aff);
		fs_listener_say_once(l, SAY_NO_SIBLING,
				     "%s: no local listener in userspace: %s; passing through",
				     l->name, why);
		return false;
	}
	out->fd = lfd;
	out->cpu = me->cpu;
	out->kmod = false;
	return true;
}
