// SPDX-License-Identifier: GPL-2.0
/*
 * Receive flow deliver, the port half: each netns's layout of per-CPU
 * port blocks (include/uapi/linux/fastsocket.h, fastsocket_rfd_owner()).
 *
 * The module does not pick ports: the shim asks for the layout
 * (FASTSOCKET_IOC_INFO) and gives a pinned worker's connect() its CPU's
 * block through IP_LOCAL_PORT_RANGE; the NIC (ntuple rules from
 * tools/fastsocket-rfd-ntuple) or XDP steers the replies by port. What
 * this file owns is that every process of a netns sees one layout for the
 * netns's whole life: it is cut from net.ipv4.ip_local_port_range when
 * first asked for and never changes afterwards, even if the range does,
 * since the ports already handed out and the NIC rules follow it.
 *
 * It also counts where the segments to those ports are processed (on
 * the block's CPU or elsewhere), whatever steered them, so that an
 * operator can see whether the NIC rules do their work.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/fastsocket.h>
#include <net/ip.h>

#include "fsk.h"

/* Fewer ports per CPU than this would run out under any real load. */
#define FSK_RFD_BLOCK_MIN	64

/* Cut [lo, hi] into nr_cpu_ids blocks; false if they would be too small. */
static bool fsk_rfd_cut(struct net *net, struct fsk_net *fn)
{
	struct fsk_rfd_layout *l = &fn->rfd;
	int lo, hi;
	u32 block;

	lockdep_assert_held(&fn->mutex);
	inet_get_local_port_range(net, &lo, &hi);
	block = (u32)(hi - lo + 1) / nr_cpu_ids;
	if (hi < lo || block < FSK_RFD_BLOCK_MIN) {
		pr_info_ratelimited("receive flow deliver: net.ipv4.ip_local_port_range %d-%d gives fewer than %d ports to each of %u CPUs; no port blocks in this netns\n",
				    lo, hi, FSK_RFD_BLOCK_MIN, nr_cpu_ids);
		return false;
	}
	l->lo = lo;
	l->block = block;
	l->ncpus = nr_cpu_ids;
	return true;
}

/*
 * The layout of @net's blocks into @out. Returns false when port blocks
 * are off (enable_receive_flow_deliver 0) or @net's range is too small.
 * The first call with blocks on fixes the layout, under fn->mutex so
 * that two first callers agree; later calls only read it.
 */
bool fsk_rfd_layout(struct net *net, struct fsk_rfd_layout *out)
{
	struct fsk_net *fn = fsk_net(net);
	int state;

	if (READ_ONCE(fsk_receive_flow_deliver) == FASTSOCKET_RFD_OFF)
		return false;
	/* Pairs with the release below: a reader that sees CUT sees fn->rfd. */
	state = smp_load_acquire(&fn->rfd_state);
	if (state == FSK_RFD_UNSET) {
		if (mutex_lock_killable(&fn->mutex))
			return false;
		state = fn->rfd_state;
		if (state == FSK_RFD_UNSET) {
			state = fsk_rfd_cut(net, fn) ? FSK_RFD_CUT :
						       FSK_RFD_NONE;
			/* fn->rfd before the state that says it is there */
			smp_store_release(&fn->rfd_state, state);
		}
		mutex_unlock(&fn->mutex);
	}
	if (state != FSK_RFD_CUT)
		return false;
	*out = fn->rfd;
	return true;
}

/*
 * /proc/net/fastsocket's part after the listeners, only while port blocks
 * are on: the mode (enable_receive_flow_deliver) and the layout.
 */
void fsk_rfd_show(struct seq_file *seq, struct net *net)
{
	int mode = READ_ONCE(fsk_receive_flow_deliver);
	struct fsk_rfd_layout l;

	if (!fsk_rfd_layout(net, &l))
		return;
	seq_puts(seq, "rfd port_lo block cpus\n");
	seq_printf(seq, "%d %u %u %u\n", mode, l.lo, l.block, l.ncpus);
}

/*
 * The CPU whose block in @fn's layout holds @port, or -1 (no layout in
 * this netns, or a port of no block). For the hooks: lockless, a load
 * and a compare while the netns has no layout.
 */
int fsk_rfd_owner(struct fsk_net *fn, u16 port)
{
	/* Pairs with the release in fsk_rfd_layout(): CUT means fn->rfd is set. */
	if (smp_load_acquire(&fn->rfd_state) != FSK_RFD_CUT)
		return -1;
	return fastsocket_rfd_owner(port, fn->rfd.lo, fn->rfd.block,
				    fn->rfd.ncpus);
}

/*
 * Count a TCP segment to local @port processed on this CPU, if @port is
 * in a block of @fn's layout. Called by the LOCAL_IN hook for every TCP
 * segment (softirq, or preemptible after an NFQUEUE verdict: raw_ CPU
 * and this_cpu_inc() are right for both).
 */
void fsk_rfd_count(struct fsk_net *fn, u16 port)
{
	int owner;

	if (READ_ONCE(fsk_receive_flow_deliver) == FASTSOCKET_RFD_OFF)
		return;
	owner = fsk_rfd_owner(fn, port);
	if (owner < 0)
		return;
	if (owner == raw_smp_processor_id())
		this_cpu_inc(fn->stats->rfd_owner);
	else
		this_cpu_inc(fn->stats->rfd_foreign);
}
