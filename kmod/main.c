// SPDX-License-Identifier: GPL-2.0
/*
 * fastsocket: per-CPU local listeners for unmodified servers on a stock
 * kernel. Module init/exit, parameters and per-netns setup.
 *
 * Order matters for lifetimes. Init: per-netns state (tables, hooks,
 * /proc) exists before close_watch can ask for it, and close_watch runs
 * before /dev/fastsocket can create the first local listener. Exit is the
 * reverse; after it, the local listeners still open are ordinary members
 * of their SO_REUSEPORT groups, owned by their fds (rmmod never waits for
 * servers and never loses a connection).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/kernel.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <linux/fastsocket.h>

#include "fsk.h"

int fsk_listen_spawn = FASTSOCKET_SPAWN_AUTO;
int fsk_fast_epoll = 1;
int fsk_receive_flow_deliver;
int fsk_unwatched_grace_ms = 10;

/* Parameters are ints in [0, max]; a bad value says what is allowed. */
static int fsk_param_set(const char *val, const struct kernel_param *kp,
			 int max, const char *allowed)
{
	int v;

	if (kstrtoint(val, 10, &v) || v < 0 || v > max) {
		pr_err("%s=%s is invalid: use %s\n", kp->name, val, allowed);
		return -EINVAL;
	}
	WRITE_ONCE(*(int *)kp->arg, v);
	return 0;
}

/*
 * Whether the initial netns's fsk_net exists, so that a write of
 * enable_listen_spawn can reach it: from register_pernet_subsys() in
 * fsk_init() to unregister_pernet_subsys() in fsk_exit(). Parameters are
 * set, at insmod as through sysfs, under the module's param_lock.
 */
static bool fsk_pernet_live;

static void fsk_set_pernet_live(bool live)
{
	kernel_param_lock(THIS_MODULE);
	fsk_pernet_live = live;
	kernel_param_unlock(THIS_MODULE);
}

/*
 * The value each new netns starts with, and the initial netns's own:
 * that keeps a host's runtime write doing what it always did. Other
 * netns keep theirs (net.fastsocket.listen_spawn).
 */
static int fsk_set_listen_spawn(const char *val, const struct kernel_param *kp)
{
	int err;

	lockdep_assert_held(&THIS_MODULE->param_lock);
	err = fsk_param_set(val, kp, FASTSOCKET_SPAWN_AUTO,
			    "0 (off), 1 (application pins workers) or 2 (module pins workers)");
	if (!err && fsk_pernet_live)
		WRITE_ONCE(fsk_net(&init_net)->listen_spawn,
			   READ_ONCE(fsk_listen_spawn));
	return err;
}

static int fsk_set_bool(const char *val, const struct kernel_param *kp)
{
	return fsk_param_set(val, kp, 1, "0 or 1");
}

/*
 * Any value at load. At runtime 0 and 2 always (a netns's layout, once
 * cut, never changes: rfd.c), 1 only if the module was loaded with it:
 * its queues and PRE_ROUTING hooks exist only then (rfd_steer.c), so
 * that a module not asked to steer adds nothing to every packet's path.
 */
static int fsk_set_rfd(const char *val, const struct kernel_param *kp)
{
	int v;

	if (!kstrtoint(val, 10, &v) && v == FASTSOCKET_RFD_STEER &&
	    THIS_MODULE->state == MODULE_STATE_LIVE &&
	    !fsk_rfd_steer_available()) {
		pr_err("%s=1 (steering by the module) is set at load only: rmmod, then insmod fastsocket.ko %s=1\n",
		       kp->name, kp->name);
		return -EINVAL;
	}
	return fsk_param_set(val, kp, FASTSOCKET_RFD_PORTS,
			     "0 (off), 1 (port blocks, steered by the module) or 2 (port blocks, steered by the NIC)");
}

static int fsk_set_grace(const char *val, const struct kernel_param *kp)
{
	BUILD_BUG_ON(FSK_GRACE_MS_MAX != 60000);	/* the message below */
	return fsk_param_set(val, kp, FSK_GRACE_MS_MAX,
			     "milliseconds from 0 to 60000");
}

static const struct kernel_param_ops fsk_grace_ops = {
	.set = fsk_set_grace,
	.get = param_get_int,
};

static const struct kernel_param_ops fsk_listen_spawn_ops = {
	.set = fsk_set_listen_spawn,
	.get = param_get_int,
};

static const struct kernel_param_ops fsk_rfd_ops = {
	.set = fsk_set_rfd,
	.get = param_get_int,
};

static const struct kernel_param_ops fsk_bool_ops = {
	.set = fsk_set_bool,
	.get = param_get_int,
};

module_param_cb(enable_listen_spawn, &fsk_listen_spawn_ops, &fsk_listen_spawn,
		0644);
MODULE_PARM_DESC(enable_listen_spawn,
		 "Per-CPU local listeners: 0 off, 1 the application pins its workers, 2 the module picks the least-loaded CPU and pins the worker (default 2; writable at runtime). The initial value of net.fastsocket.listen_spawn in every netns; a write also sets the initial netns's");

module_param_cb(unwatched_grace_ms, &fsk_grace_ops, &fsk_unwatched_grace_ms,
		0644);
MODULE_PARM_DESC(unwatched_grace_ms,
		 "How long a local listener nobody waits on (a worker out of poll or accept, or accepting through io_uring) keeps its CPU's SYNs after one last found its worker waiting, in ms; then they go to a listener someone waits on (default 10; writable at runtime; the same value as sysctl net.fastsocket.unwatched_grace_ms)");

/*
 * Read-only until it does something: a runtime write would be a no-op.
 * For the same reason it has no sysctl.
 */
module_param_cb(enable_fast_epoll, &fsk_bool_ops, &fsk_fast_epoll, 0444);
MODULE_PARM_DESC(enable_fast_epoll,
		 "Fast epoll path: 0 off, 1 on (default 1; accepted for compatibility, not implemented yet)");
module_param_cb(enable_receive_flow_deliver, &fsk_rfd_ops,
		&fsk_receive_flow_deliver, 0644);
MODULE_PARM_DESC(enable_receive_flow_deliver,
		 "Receive flow deliver, the CPU encoded in source ports: 0 off, 1 per-CPU port blocks for the shim, the module steers the replies to the block's CPU, 2 port blocks, steered by the NIC (tools/fastsocket-rfd-ntuple) (default 0; writable at runtime, 1 only if loaded with 1; a netns's blocks are cut from its ip_local_port_range when first asked for)");

static unsigned int fsk_net_id __read_mostly;

struct fsk_net *fsk_net(const struct net *net)
{
	return net_generic(net, fsk_net_id);
}

static int __net_init fsk_net_init(struct net *net)
{
	struct fsk_net *fn = fsk_net(net);
	int err;

	/* Before the hook that reads it. */
	fn->listen_spawn = READ_ONCE(fsk_listen_spawn);
	fn->stats = alloc_percpu(struct fsk_stats);
	if (!fn->stats)
		return -ENOMEM;
	fsk_table_init(fn, net_eq(net, &init_net) ? NULL : fsk_net(&init_net));
	err = fsk_proc_net_init(net);
	if (err)
		goto err_table;
	err = fsk_steer_net_init(net);
	if (err)
		goto err_proc;
	err = fsk_rfd_steer_net_init(net);
	if (err)
		goto err_steer;
	err = fsk_sysctl_net_init(net);
	if (err)
		goto err_rfd;
	return 0;

err_rfd:
	fsk_rfd_steer_net_exit(net);
err_steer:
	fsk_steer_net_exit(net);
	/* As between pre_exit and exit: a hook may still run elsewhere. */
	synchronize_net();
	fsk_rfd_steer_flush();
err_proc:
	fsk_proc_net_exit(net);
err_table:
	fsk_table_exit(fn);
	free_percpu(fn->stats);
	return err;
}

/*
 * The hooks go first, here: unregistering one does not wait for a CPU
 * still running it (net/netfilter/core.c frees the old hook array with
 * call_rcu()), but the pernet core runs synchronize_rcu() between every
 * pre_exit and exit, so no hook still uses @net's state when
 * fsk_net_exit() frees it (the core kfree()s it right after exit).
 */
static void __net_exit fsk_net_pre_exit(struct net *net)
{
	fsk_rfd_steer_net_exit(net);
	fsk_steer_net_exit(net);
}

static void __net_exit fsk_net_exit(struct net *net)
{
	struct fsk_net *fn = fsk_net(net);

	fsk_sysctl_net_exit(net);
	/* Steered skbs of @net still queued count into fn->stats. */
	fsk_rfd_steer_flush();
	fsk_proc_net_exit(net);
	fsk_table_exit(fn);
	free_percpu(fn->stats);
}

static struct pernet_operations fsk_net_ops = {
	.init = fsk_net_init,
	.pre_exit = fsk_net_pre_exit,
	.exit = fsk_net_exit,
	.id = &fsk_net_id,
	.size = sizeof(struct fsk_net),
};

static int __init fsk_init(void)
{
	int err;

	if (fsk_receive_flow_deliver == FASTSOCKET_RFD_STEER) {
		err = fsk_rfd_steer_start();
		if (err)
			return err;
	}
	err = register_pernet_subsys(&fsk_net_ops);
	if (err)
		goto err_rfd;
	fsk_set_pernet_live(true);
	err = fsk_close_watch_start();
	if (err)
		goto err_pernet;
	err = fsk_pin_start();
	if (err)
		goto err_watch;
	err = fsk_dev_register();
	if (err)
		goto err_pin;
	pr_info("loaded: enable_listen_spawn=%d enable_fast_epoll=%d enable_receive_flow_deliver=%d (ABI %d)\n",
		fsk_listen_spawn, fsk_fast_epoll, fsk_receive_flow_deliver,
		FASTSOCKET_ABI_VERSION);
	return 0;

err_pin:
	fsk_pin_stop();
err_watch:
	fsk_close_watch_stop();
err_pernet:
	fsk_set_pernet_live(false);
	unregister_pernet_subsys(&fsk_net_ops);
	rcu_barrier();
err_rfd:
	fsk_rfd_steer_stop();
	return err;
}

static void __exit fsk_exit(void)
{
	fsk_dev_unregister();
	fsk_pin_stop();
	fsk_close_watch_stop();
	fsk_set_pernet_live(false);
	unregister_pernet_subsys(&fsk_net_ops);
	fsk_rfd_steer_stop();
	/* The table's call_rcu() callbacks live in this module's text. */
	rcu_barrier();
	pr_info("unloaded\n");
}

module_init(fsk_init);
module_exit(fsk_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("fastsocket developers");
MODULE_DESCRIPTION("Per-CPU local listen tables for unmodified servers on stock kernels");
MODULE_VERSION("0.1");
