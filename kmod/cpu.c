// SPDX-License-Identifier: GPL-2.0
/*
 * Which CPU a local listener serves: the caller's explicit choice, the one
 * CPU it is pinned to, or (enable_listen_spawn=2) the least-loaded CPU it
 * may run on.
 *
 * The load is counted afresh at each choice from the table of the
 * caller's netns, over the listeners of the same owner (uid) as the one
 * being placed (fsk_table_load()): a tenant's closed fds, listeners in
 * another netns or another user's servers never push a placement away.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <net/sock.h>
#include <linux/fastsocket.h>

#include "fsk.h"

/* Least-loaded online CPU the caller may run on; ties go to the lowest. */
static int fsk_pick_cpu(struct fsk_net *fn, const struct sock *orig)
{
	unsigned int cpu, best_load = UINT_MAX;
	unsigned int *load;
	int best = -ENXIO;

	load = kcalloc(nr_cpu_ids, sizeof(*load), GFP_KERNEL);
	if (!load)
		return -ENOMEM;
	fsk_table_load(fn, orig->sk_uid, load);
	for_each_cpu_and(cpu, current->cpus_ptr, cpu_online_mask) {
		if (load[cpu] < best_load) {
			best = cpu;
			best_load = load[cpu];
		}
	}
	kfree(load);
	return best;
}

/*
 * Turn the caller's cpu request @req for a listener like @orig into a CPU
 * number, or a negative errno. An explicit CPU need only be online: a
 * worker may serve a CPU it does not run on (Documentation/limits.md).
 */
int fsk_resolve_cpu(struct fsk_net *fn, const struct sock *orig, int req,
		    int mode)
{
	/* FASTSOCKET_CPU_AUTO reads the load the last placement left. */
	lockdep_assert_held(&fn->mutex);
	if (req >= 0) {
		if (req >= nr_cpu_ids)
			return -EINVAL;
		return cpu_online(req) ? req : -ENXIO;
	}
	if (req == FASTSOCKET_CPU_CURRENT) {
		if (current->nr_cpus_allowed != 1)
			return -EINVAL;
		req = cpumask_first(current->cpus_ptr);
		return cpu_online(req) ? req : -ENXIO;
	}
	if (req == FASTSOCKET_CPU_AUTO) {
		if (mode != FASTSOCKET_SPAWN_AUTO)
			return -EINVAL;
		return fsk_pick_cpu(fn, orig);
	}
	return -EINVAL;
}
