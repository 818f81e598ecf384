// SPDX-License-Identifier: GPL-2.0
/*
 * Receive flow deliver, the steering half (enable_receive_flow_deliver=1):
 * a TCP segment to a port in CPU c's block (rfd.c) is processed on c,
 * where the worker that owns the connection runs.
 *
 * A PRE_ROUTING hook, before defragmentation and conntrack, takes such a
 * segment from the CPU that received it (NF_STOLEN), queues it on c's
 * ring and kicks c's NAPI context with an IPI, as RPS does (on
 * PREEMPT_RT with a work item: see fsk_rfd_kick()). c's poll runs
 * the PRE_ROUTING hooks after ours (nf_hook_slow() from the next entry)
 * and then the okfn the stack gave the hook (ip_rcv_finish(),
 * ip6_rcv_finish()): routing, early demux, LOCAL_IN, TCP and the wakeup
 * of the worker all happen on c, and nothing runs twice. The driver, GRO
 * and the IP header checks stay on the receiving CPU, as with RPS.
 *
 * Ownership and lifetime:
 *  - the rings, NAPI contexts and the dummy device they hang on exist
 *    from fsk_rfd_steer_start() at module load (only when loaded with
 *    1) to fsk_rfd_steer_stop() at unload, after every netns's hooks;
 *  - each CPU's kick (its csd, or on PREEMPT_RT its work item) lives
 *    with that CPU's ring; fsk_rfd_free() waits for a work item still
 *    running (fsk_rfd_kick_stop()) before the array is freed;
 *  - a queued skb belongs to its ring until the poll takes it. It holds
 *    a reference on its device, so unregistering the device waits for
 *    the poll, which drops an skb whose device is going away; and its
 *    netns's exit waits until every ring has passed it
 *    (fsk_rfd_steer_flush()), so the poll may use the netns's state.
 *
 * Left alone (processed where they arrived): fragments, IPv6 with
 * extension headers, packets not for this host or already owned by a
 * socket, pfmemalloc skbs, bridged or IPsec packets, ports of no block
 * or of the receiving CPU's, an offline owner ("offline"), a full ring
 * ("overflow"; RPS would drop instead).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fastsocket.h>
#include <linux/delay.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/ptr_ring.h>
#include <linux/smp.h>
#include <linux/tcp.h>
#include <linux/workqueue.h>
#include <net/dst.h>
#include <net/ip.h>
#include <net/xfrm.h>

#include "fsk.h"

/* Slots per CPU: a burst the owner has not polled yet, as RPS's backlog. */
#define FSK_RFD_RING	1024
/* The okfns seen, indexed by the low bits of a queued skb's pointer. */
#define FSK_RFD_OKFNS	4
#define FSK_RFD_SLOT	(FSK_RFD_OKFNS - 1UL)

typedef int (*fsk_okfn_t)(struct net *net, struct sock *sk,
			  struct sk_buff *skb);

struct fsk_rfd_cpu {
	struct ptr_ring ring;		/* skbs for this CPU, FIFO */
	struct napi_struct napi;	/* polls ring on this CPU */
#ifdef CONFIG_PREEMPT_RT
	struct work_struct kick;	/* schedules napi there */
#else
	call_single_data_t csd;		/* schedules napi there */
#endif
	/* Queued and finished skbs, for fsk_rfd_steer_flush(). */
	atomic_long_t queued;
	atomic_long_t done;
};

static struct fsk_rfd_cpu *fsk_rfd_cpus;	/* nr_cpu_ids, or NULL */
static struct net_device fsk_rfd_dev;		/* hosts the NAPI contexts */
/*
 * The stack's okfns, each learned once by the hook (cmpxchg into a free
 * slot) and kept until unload: they are kernel text, never freed, and a
 * queued skb carries only its slot.
 */
static fsk_okfn_t fsk_rfd_okfns[FSK_RFD_OKFNS];

bool fsk_rfd_steer_available(void)
{
	return READ_ONCE(fsk_rfd_cpus);
}

/*
 * The slot of @okfn, learned on first sight: the stack passes one per
 * family (and xfrm or bridge ones, which are never steered), so four is
 * plenty; -1 if they are taken.
 */
static int fsk_rfd_okfn_slot(fsk_okfn_t okfn)
{
	fsk_okfn_t cur;
	int i;

	for (i = 0; i < FSK_RFD_OKFNS; i++) {
		cur = READ_ONCE(fsk_rfd_okfns[i]);
		if (!cur)
			cur = cmpxchg(&fsk_rfd_okfns[i], NULL, okfn) ?: okfn;
		if (cur == okfn)
			return i;
	}
	return -1;
}

#ifdef CONFIG_PREEMPT_RT
/*
 * PREEMPT_RT: a softirq raised from an IPI's callback trips a WARN in the
 * call-function flush (do_softirq_post_smp_call_flush(); 6.1-RT's own RPS
 * does it too, Documentation/limits.md), so the owner is kicked by a work
 * item bound to it. Its bh-enable runs the poll in that task's context.
 */
static void fsk_rfd_kick_work(struct work_struct *work)
{
	struct fsk_rfd_cpu *t = container_of(work, struct fsk_rfd_cpu, kick);

	local_bh_disable();
	__napi_schedule(&t->napi);
	local_bh_enable();
}

/*
 * Only the first producer after a poll completed gets here
 * (napi_schedule_prep()), after that poll's work item ran, so it is
 * idle. An owner that just went offline gets the item run elsewhere by
 * the workqueue, and the ring polled there.
 */
static void fsk_rfd_kick(unsigned int cpu, struct fsk_rfd_cpu *t)
{
	queue_work_on(cpu, system_highpri_wq, &t->kick);
}

static void fsk_rfd_kick_init(struct fsk_rfd_cpu *t)
{
	INIT_WORK(&t->kick, fsk_rfd_kick_work);
}

/* After napi_disable(): the item scheduled the last poll, may still return. */
static void fsk_rfd_kick_stop(struct fsk_rfd_cpu *t)
{
	cancel_work_sync(&t->kick);
}
#else
static void fsk_rfd_ipi(void *data)
{
	struct fsk_rfd_cpu *t = data;

	__napi_schedule_irqoff(&t->napi);
}

/*
 * Only the first producer after a poll completed gets here
 * (napi_schedule_prep()), and that poll's IPI has run by then, so the
 * csd is free. An owner that just went offline gets its ring polled
 * here; its pending NAPI would have been moved to a live CPU anyway.
 */
static void fsk_rfd_kick(unsigned int cpu, struct fsk_rfd_cpu *t)
{
	int err = smp_call_function_single_async(cpu, &t->csd);

	if (err) {
		WARN_ON_ONCE(err != -ENXIO);
		__napi_schedule(&t->napi);
	}
}

static void fsk_rfd_kick_init(struct fsk_rfd_cpu *t)
{
	INIT_CSD(&t->csd, fsk_rfd_ipi, t);
}

/*
 * Nothing to wait for: the IPI's callback returned before the poll it
 * scheduled ran (the softirq runs on the IPI's exit), and napi_disable()
 * waited for that poll.
 */
static void fsk_rfd_kick_stop(struct fsk_rfd_cpu *t)
{
}
#endif

/* Only kernels with bridge netfilter (Debian's, not the debug build) know it. */
static bool fsk_rfd_bridged(const struct sk_buff *skb)
{
#if IS_ENABLED(CONFIG_BRIDGE_NETFILTER)
	return nf_bridge_info_exists(skb);
#else
	return false;
#endif
}

static bool fsk_rfd_steerable(const struct sk_buff *skb)
{
	return !skb->sk && skb->pkt_type == PACKET_HOST &&
	       !skb_pfmemalloc(skb) && !fsk_rfd_bridged(skb) &&
	       !skb_sec_path(skb);
}

/* The hook's work once @port, the segment's destination, is known. */
static unsigned int fsk_rfd_steer(struct sk_buff *skb,
				  const struct nf_hook_state *state, u16 port)
{
	struct fsk_net *fn = fsk_net(state->net);
	unsigned int cpu = raw_smp_processor_id();
	struct fsk_rfd_cpu *t;
	int owner, slot;

	owner = fsk_rfd_owner(fn, port);
	/* owner < nr_cpu_ids: the layout has that many blocks (rfd.c). */
	if (owner < 0 || owner == cpu || owner >= nr_cpu_ids ||
	    !fsk_rfd_steerable(skb))
		return NF_ACCEPT;
	if (!cpu_online(owner)) {
		this_cpu_inc(fn->stats->rfd_offline);
		return NF_ACCEPT;
	}
	slot = fsk_rfd_okfn_slot(state->okfn);
	if (slot < 0)
		return NF_ACCEPT;
	t = &fsk_rfd_cpus[owner];
	/* A noref dst would not outlive this softirq (as loopback_xmit()). */
	skb_dst_force(skb);
	dev_hold(skb->dev);
	if (ptr_ring_produce_bh(&t->ring, (void *)((unsigned long)skb | slot))) {
		dev_put(skb->dev);
		this_cpu_inc(fn->stats->rfd_overflow);
		return NF_ACCEPT;
	}
	/* From here on the skb is the ring's: the owner may already have it. */
	atomic_long_inc(&t->queued);
	this_cpu_inc(fn->stats->rfd_steered);
	if (napi_schedule_prep(&t->napi))
		fsk_rfd_kick(owner, t);
	return NF_STOLEN;
}

static bool fsk_rfd_on(void)
{
	return READ_ONCE(fsk_receive_flow_deliver) == FASTSOCKET_RFD_STEER;
}

static unsigned int fsk_rfd_hook_v4(void *priv, struct sk_buff *skb,
				    const struct nf_hook_state *state)
{
	const struct iphdr *iph = ip_hdr(skb);
	const struct tcphdr *th;
	struct tcphdr _th;

	if (!fsk_rfd_on() || iph->protocol != IPPROTO_TCP ||
	    ip_is_fragment(iph))
		return NF_ACCEPT;
	th = skb_header_pointer(skb, ip_hdrlen(skb), sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	return fsk_rfd_steer(skb, state, ntohs(th->dest));
}

#if IS_ENABLED(CONFIG_IPV6)
static unsigned int fsk_rfd_hook_v6(void *priv, struct sk_buff *skb,
				    const struct nf_hook_state *state)
{
	const struct tcphdr *th;
	struct tcphdr _th;

	if (!fsk_rfd_on() || ipv6_hdr(skb)->nexthdr != IPPROTO_TCP)
		return NF_ACCEPT;
	th = skb_header_pointer(skb, sizeof(struct ipv6hdr), sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	return fsk_rfd_steer(skb, state, ntohs(th->dest));
}
#endif

/*
 * Before defragmentation and conntrack, which then run on the owner CPU
 * with the rest of the chain; fragments are not steered.
 */
static const struct nf_hook_ops fsk_rfd_ops[] = {
	{
		.hook		= fsk_rfd_hook_v4,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP_PRI_RAW_BEFORE_DEFRAG - 1,
	},
#if IS_ENABLED(CONFIG_IPV6)
	{
		.hook		= fsk_rfd_hook_v6,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP6_PRI_RAW_BEFORE_DEFRAG - 1,
	},
#endif
};

/* @net's PRE_ROUTING hooks for @pf, and the index of ours, or -1. */
static int fsk_rfd_find(struct net *net, u8 pf,
			const struct nf_hook_entries **hooks)
{
	const struct nf_hook_entries *e = NULL;
	nf_hookfn *ours = NULL;
	int i;

	if (pf == NFPROTO_IPV4) {
		e = rcu_dereference(net->nf.hooks_ipv4[NF_INET_PRE_ROUTING]);
		ours = fsk_rfd_hook_v4;
	}
#if IS_ENABLED(CONFIG_IPV6)
	if (pf == NFPROTO_IPV6) {
		e = rcu_dereference(net->nf.hooks_ipv6[NF_INET_PRE_ROUTING]);
		ours = fsk_rfd_hook_v6;
	}
#endif
	*hooks = e;
	for (i = 0; e && i < e->num_hook_entries; i++)
		if (e->hooks[i].hook == ours)
			return i;
	return -1;
}

/*
 * Continue NF_HOOK() for a queued skb on its owner CPU. A device being
 * unregistered, or a netns whose hooks are gone, gets its skb dropped.
 */
static void fsk_rfd_deliver(void *queued)
{
	struct sk_buff *skb = (void *)((unsigned long)queued & ~FSK_RFD_SLOT);
	fsk_okfn_t okfn = READ_ONCE(fsk_rfd_okfns[(unsigned long)queued &
						  FSK_RFD_SLOT]);
	/* Saved: TCP clears skb->dev (tcp_v4_rcv()). */
	struct net_device *dev = skb->dev;
	struct net *net = dev_net(dev);
	struct fsk_net *fn = fsk_net(net);
	const struct nf_hook_entries *e;
	struct nf_hook_state state;
	u8 pf;
	int i;

	pf = skb->protocol == htons(ETH_P_IP) ? NFPROTO_IPV4 : NFPROTO_IPV6;
	rcu_read_lock();
	i = fsk_rfd_find(net, pf, &e);
	if (i < 0 || READ_ONCE(dev->reg_state) != NETREG_REGISTERED) {
		kfree_skb(skb);
		this_cpu_inc(fn->stats->rfd_dropped);
	} else {
		nf_hook_state_init(&state, NF_INET_PRE_ROUTING, pf, dev, NULL,
				   NULL, net, okfn);
		this_cpu_inc(fn->stats->rfd_delivered);
		if (nf_hook_slow(skb, &state, e, i + 1) == 1)
			okfn(net, NULL, skb);
	}
	rcu_read_unlock();
	dev_put(dev);
}

static int fsk_rfd_poll(struct napi_struct *napi, int budget)
{
	struct fsk_rfd_cpu *t = container_of(napi, struct fsk_rfd_cpu, napi);
	void *queued;
	int n = 0;

	while (n < budget && (queued = ptr_ring_consume(&t->ring))) {
		fsk_rfd_deliver(queued);
		atomic_long_inc(&t->done);
		n++;
	}
	/* A producer that found us scheduled set MISSED: we are polled again. */
	if (n < budget)
		napi_complete_done(napi, n);
	return n;
}

int fsk_rfd_steer_net_init(struct net *net)
{
	if (!fsk_rfd_steer_available())
		return 0;
	return nf_register_net_hooks(net, fsk_rfd_ops, ARRAY_SIZE(fsk_rfd_ops));
}

void fsk_rfd_steer_net_exit(struct net *net)
{
	if (fsk_rfd_steer_available())
		nf_unregister_net_hooks(net, fsk_rfd_ops,
					ARRAY_SIZE(fsk_rfd_ops));
}

/*
 * Wait until every ring has finished the skbs queued before this call.
 * With a netns's hooks gone and a grace period passed (pre_exit, then
 * exit), none of its skbs is queued later, so afterwards none is left.
 * The rings are FIFO and always being polled while not empty.
 */
void fsk_rfd_steer_flush(void)
{
	unsigned long start = jiffies;
	struct fsk_rfd_cpu *t;
	bool told = false;
	unsigned int cpu;
	long target;

	if (!fsk_rfd_steer_available())
		return;
	for_each_possible_cpu(cpu) {
		t = &fsk_rfd_cpus[cpu];
		target = atomic_long_read(&t->queued);
		while (atomic_long_read(&t->done) - target < 0) {
			if (!told && time_after(jiffies, start + 10 * HZ)) {
				pr_warn("receive flow deliver: CPU %u's queue is still draining after 10 s\n",
					cpu);
				told = true;
			}
			usleep_range(100, 1000);
		}
	}
}

/*
 * Empty a ring whose NAPI context is disabled: nothing should be left,
 * but be safe. Not ptr_ring_cleanup()'s destructor, which would take
 * the consumer lock with softirqs on, while the poll takes it in softirq
 * (lockdep: inconsistent lock state).
 */
static void fsk_rfd_drain(struct ptr_ring *ring)
{
	struct sk_buff *skb;
	void *queued;

	while ((queued = ptr_ring_consume_bh(ring))) {
		skb = (void *)((unsigned long)queued & ~FSK_RFD_SLOT);
		dev_put(skb->dev);
		kfree_skb(skb);
	}
}

static void fsk_rfd_free(unsigned int upto)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu) {
		if (cpu >= upto)
			break;
		napi_disable(&fsk_rfd_cpus[cpu].napi);
		fsk_rfd_kick_stop(&fsk_rfd_cpus[cpu]);
		netif_napi_del(&fsk_rfd_cpus[cpu].napi);
		fsk_rfd_drain(&fsk_rfd_cpus[cpu].ring);
		ptr_ring_cleanup(&fsk_rfd_cpus[cpu].ring, NULL);
	}
	kfree(fsk_rfd_cpus);
	fsk_rfd_cpus = NULL;
}

/* At load, before any netns's hooks (fsk_rfd_steer_net_init()). */
int fsk_rfd_steer_start(void)
{
	struct fsk_rfd_cpu *t;
	unsigned int cpu;

	BUILD_BUG_ON(__alignof__(struct sk_buff) <= FSK_RFD_SLOT);
	fsk_rfd_cpus = kcalloc(nr_cpu_ids, sizeof(*fsk_rfd_cpus), GFP_KERNEL);
	if (!fsk_rfd_cpus)
		return -ENOMEM;
	init_dummy_netdev(&fsk_rfd_dev);
	for_each_possible_cpu(cpu) {
		t = &fsk_rfd_cpus[cpu];
		if (ptr_ring_init(&t->ring, FSK_RFD_RING, GFP_KERNEL)) {
			fsk_rfd_free(cpu);
			return -ENOMEM;
		}
		fsk_rfd_kick_init(t);
		/* Not a busy-poll target: no socket is bound to it. */
		set_bit(NAPI_STATE_NO_BUSY_POLL, &t->napi.state);
		netif_napi_add(&fsk_rfd_dev, &t->napi, fsk_rfd_poll);
		napi_enable(&t->napi);
	}
	return 0;
}

/*
 * At unload, after every netns's hooks are gone and its queue flushed:
 * napi_disable() waits for a poll still scheduled, which empties its ring.
 */
void fsk_rfd_steer_stop(void)
{
	if (fsk_rfd_cpus)
		fsk_rfd_free(nr_cpu_ids);
}
