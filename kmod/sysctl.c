// SPDX-License-Identifier: GPL-2.0
/*
 * net.fastsocket.* (/proc/sys/net/fastsocket/), a table per netns.
 *
 *   listen_spawn        per netns: fsk_net->listen_spawn
 *   max_local_listeners, max_local_listeners_per_user
 *                       per netns: fsk_net->max_local{,_per_user}; outside
 *                       the initial netns at most the initial netns's
 *                       values, so a tenant's root cannot raise its own
 *                       above what the host allows
 *   unwatched_grace_ms  global: the module parameter's variable itself,
 *                       so the two can never disagree
 *
 * A netns's table is a copy of fsk_sysctl_template with the per-netns
 * data pointers moved to its fsk_net. The copy and its header belong to
 * the netns: made in fsk_net_init() (for a netns that existed before the
 * module as for a new one), freed in fsk_net_exit() after
 * unregister_net_sysctl_table() has waited for the handlers running in
 * it. Root of a netns owned by another user namespace may write that
 * netns's own knobs, so the global ones are read-only outside the
 * initial netns.
 *
 * enable_fast_epoll has no entry: it does nothing, and its parameter
 * already shows its value. Nor has enable_receive_flow_deliver: its
 * switch is global (the parameter); what it makes per netns, the port
 * layout, is fixed once cut and shown in /proc/net/fastsocket.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <linux/sysctl.h>
#include <net/net_namespace.h>
#include <linux/fastsocket.h>

#include "fsk.h"

static int fsk_grace_ms_max = FSK_GRACE_MS_MAX;
static int fsk_max_local_limit = FSK_MAX_LOCAL_LIMIT;

/* proc_dointvec_minmax(), saying why a write was refused. */
static int fsk_sysctl_minmax(struct ctl_table *table, int write, void *buffer,
			     size_t *lenp, loff_t *ppos)
{
	int err = proc_dointvec_minmax(table, write, buffer, lenp, ppos);

	if (write && err == -EINVAL)
		pr_warn_ratelimited("net.fastsocket.%s: invalid value: use an integer from %d to %d\n",
				    table->procname, *(int *)table->extra1,
				    *(int *)table->extra2);
	return err;
}

enum {
	FSK_SYSCTL_LISTEN_SPAWN,
	FSK_SYSCTL_GRACE,
	FSK_SYSCTL_MAX_LOCAL,
	FSK_SYSCTL_MAX_LOCAL_PER_USER,
};

static struct ctl_table fsk_sysctl_template[] = {
	[FSK_SYSCTL_LISTEN_SPAWN] = {
		.procname	= "listen_spawn",
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= fsk_sysctl_minmax,
		.extra1		= SYSCTL_ZERO,
		.extra2		= SYSCTL_TWO,	/* FASTSOCKET_SPAWN_AUTO */
	},
	[FSK_SYSCTL_GRACE] = {
		.procname	= "unwatched_grace_ms",
		.data		= &fsk_unwatched_grace_ms,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= fsk_sysctl_minmax,
		.extra1		= SYSCTL_ZERO,
		.extra2		= &fsk_grace_ms_max,
	},
	[FSK_SYSCTL_MAX_LOCAL] = {
		.procname	= "max_local_listeners",
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= fsk_sysctl_minmax,
		.extra1		= SYSCTL_ONE,
		.extra2		= &fsk_max_local_limit,
	},
	[FSK_SYSCTL_MAX_LOCAL_PER_USER] = {
		.procname	= "max_local_listeners_per_user",
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= fsk_sysctl_minmax,
		.extra1		= SYSCTL_ONE,
		.extra2		= &fsk_max_local_limit,
	},
	{ }
};

/*
 * Outside the initial netns: the global knobs are read-only, and the
 * limits' maxima are the initial netns's current values. Its fsk_net
 * outlives every other netns's table: the pernet core frees them all
 * only after every netns's exit.
 */
static void fsk_sysctl_cap_by_init(struct ctl_table *table)
{
	struct fsk_net *init_fn = fsk_net(&init_net);

	table[FSK_SYSCTL_GRACE].mode = 0444;
	table[FSK_SYSCTL_MAX_LOCAL].extra2 = &init_fn->max_local;
	table[FSK_SYSCTL_MAX_LOCAL_PER_USER].extra2 =
		&init_fn->max_local_per_user;
}

int fsk_sysctl_net_init(struct net *net)
{
	struct fsk_net *fn = fsk_net(net);
	struct ctl_table *table;

	BUILD_BUG_ON(FASTSOCKET_SPAWN_AUTO != 2);
	table = kmemdup(fsk_sysctl_template, sizeof(fsk_sysctl_template),
			GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	table[FSK_SYSCTL_LISTEN_SPAWN].data = &fn->listen_spawn;
	table[FSK_SYSCTL_MAX_LOCAL].data = &fn->max_local;
	table[FSK_SYSCTL_MAX_LOCAL_PER_USER].data = &fn->max_local_per_user;
	if (!net_eq(net, &init_net))
		fsk_sysctl_cap_by_init(table);
	fn->sysctl = register_net_sysctl(net, "net/fastsocket", table);
	if (!fn->sysctl) {
		kfree(table);
		return -ENOMEM;
	}
	return 0;
}

void fsk_sysctl_net_exit(struct net *net)
{
	struct fsk_net *fn = fsk_net(net);
	struct ctl_table *table = fn->sysctl->ctl_table_arg;

	unregister_net_sysctl_table(fn->sysctl);
	kfree(table);
}
