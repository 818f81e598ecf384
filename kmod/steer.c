// SPDX-License-Identifier: GPL-2.0
/*
 * Steer a SYN to the listener local to the CPU that received it.
 *
 * A netfilter LOCAL_IN hook pre-assigns the socket to the skb the way
 * nf_tproxy_assign_sock() does; tcp_v4_rcv()/tcp_v6_rcv() then take it
 * from skb_steal_sock() instead of looking a listener up. Only locally
 * delivered packets pass LOCAL_IN (ip_forward drops skbs with ->sk set).
 *
 * What is never touched:
 *  - anything but a plain SYN (no ACK, RST or FIN), fragments, IPv6 with
 *    extension headers;
 *  - packets that early demux already matched (skb->sk set);
 *  - SYNs of an existing flow (established, TIME_WAIT or request socket);
 *  - SYNs whose listener, as chosen by the kernel's own lookup (address
 *    specificity, bound device, dual stack), is not in a group with
 *    local listeners;
 *  - SYNs whose listener was chosen by a program: a reuseport BPF
 *    program on the group, or any sk_lookup program in the netns (the
 *    hook cannot tell whether it decided), and SYNs whose listener has a
 *    socket filter a copy would not apply: counted "skipped".
 * For a served group, the CPU's local listener takes the SYN when it is
 * listening, still in the same reuseport group and not parked, and the
 * netns's net.fastsocket.listen_spawn is not 0; otherwise
 * the kernel's choice stands, which keeps the original listener as the
 * fallback, unless the kernel chose a parked local listener (its
 * SO_INCOMING_CPU preference does, for the parked listener's own CPU):
 * then another listening member of the group takes the SYN. A local
 * listener nobody waits on (no accept, poll, select, epoll set or
 * io_uring poll on it) takes no SYN while a member someone waits on, or
 * the application's own socket, can (listen_table.c says why).
 *
 * While receive flow deliver has port blocks, the hook also gives every
 * TCP segment's destination port to rfd.c, which counts on which CPU the
 * segments to each block are processed.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fastsocket.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <linux/bpf-netns.h>
#include <linux/filter.h>

#include "fsk.h"
#include "compat.h"

/* An sk_lookup BPF program may pick listeners in @net (6.1: 5.9+). */
static bool fsk_sk_lookup_attached(const struct net *net)
{
#ifdef CONFIG_BPF_SYSCALL
	return static_branch_unlikely(&bpf_sk_lookup_enabled) &&
	       rcu_access_pointer(net->bpf.run_array[NETNS_BPF_SK_LOOKUP]);
#else
	return false;
#endif
}

/*
 * Nothing to do for a segment early demux matched to a socket (never a
 * SYN for a listener) unless receive flow deliver counts every segment
 * (fsk_rfd_count()): with it off, established traffic costs one load.
 */
static bool fsk_steer_done_early(const struct sk_buff *skb)
{
	return skb->sk &&
	       READ_ONCE(fsk_receive_flow_deliver) == FASTSOCKET_RFD_OFF;
}

static bool fsk_is_plain_syn(const struct tcphdr *th)
{
	return th->syn && !th->ack && !th->rst && !th->fin;
}

/*
 * A SYN that matches a TIME_WAIT or request socket belongs to the kernel's
 * own handling of that flow (a new connection may replace a TIME_WAIT one
 * only through tcp_timewait_state_process()); count it and let it be.
 */
static void fsk_existing_flow(struct fsk_net *fn, struct sock *sk)
{
	sock_gen_put(sk);
	this_cpu_inc(fn->stats->existing);
}

/*
 * Give @skb to the local listener of @listener's group on this CPU, or,
 * if the kernel chose a parked one, to another member of the group.
 * Runs in softirq under rcu_read_lock() (nf_hook()).
 */
static void fsk_assign(struct fsk_net *fn, struct sk_buff *skb,
		       const struct sock *listener)
{
	/* raw_: after an NFQUEUE verdict the hook may run preemptible. */
	unsigned int cpu = raw_smp_processor_id();
	enum fsk_pick pick;
	bool unwatched;
	struct sock *sk;

	pick = fsk_table_pick(fn, listener, cpu, &sk, &unwatched);
	if (pick == FSK_PICK_UNSERVED)
		return;
	if (pick == FSK_PICK_SKIPPED) {
		this_cpu_inc(fn->stats->skipped);
		return;
	}
	if (pick == FSK_PICK_PARKED)
		this_cpu_inc(fn->stats->parked);
	else if (pick == FSK_PICK_NO_LOCAL)
		this_cpu_inc(fn->stats->no_local);
	if (unwatched)
		this_cpu_inc(fn->stats->unwatched);
	if (!sk || !refcount_inc_not_zero(&sk->sk_refcnt)) {
		if (pick == FSK_PICK_LOCAL)
			this_cpu_inc(fn->stats->no_local);
		return;
	}
	skb_orphan(skb);
	skb->sk = sk;
	skb->destructor = sock_edemux;
	if (pick == FSK_PICK_LOCAL)
		this_cpu_inc(fn->stats->steered);
}

static unsigned int fsk_steer_v4(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct inet_hashinfo *hinfo;
	const struct tcphdr *th;
	const struct iphdr *iph;
	struct sock *sk, *listener;
	struct tcphdr _th;
	struct fsk_net *fn;
	int dif, sdif;

	iph = ip_hdr(skb);
	if (iph->protocol != IPPROTO_TCP || ip_is_fragment(iph) ||
	    fsk_steer_done_early(skb))
		return NF_ACCEPT;
	th = skb_header_pointer(skb, ip_hdrlen(skb), sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	fn = fsk_net(state->net);
	fsk_rfd_count(fn, ntohs(th->dest));
	if (skb->sk || !fsk_is_plain_syn(th))
		return NF_ACCEPT;
	if (!fsk_table_serves_port(fn, ntohs(th->dest)))
		return NF_ACCEPT;
	if (fsk_sk_lookup_attached(state->net)) {
		this_cpu_inc(fn->stats->skipped);
		return NF_ACCEPT;
	}

	hinfo = fsk_tcp_hashinfo(state->net);
	dif = inet_iif(skb);
	sdif = inet_sdif(skb);
	sk = __inet_lookup_established(state->net, hinfo, iph->saddr,
				       th->source, iph->daddr,
				       ntohs(th->dest), dif, sdif);
	if (sk) {
		fsk_existing_flow(fn, sk);
		return NF_ACCEPT;
	}
	listener = __inet_lookup_listener(state->net, hinfo, skb,
					  ip_hdrlen(skb) + __tcp_hdrlen(th),
					  iph->saddr, th->source, iph->daddr,
					  ntohs(th->dest), dif, sdif);
	if (listener)
		fsk_assign(fn, skb, listener);
	return NF_ACCEPT;
}

#if IS_ENABLED(CONFIG_IPV6)
static unsigned int fsk_steer_v6(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	const struct ipv6hdr *ip6h = ipv6_hdr(skb);
	const unsigned int thoff = sizeof(*ip6h);
	struct inet_hashinfo *hinfo;
	const struct tcphdr *th;
	struct sock *sk, *listener;
	struct tcphdr _th;
	struct fsk_net *fn;
	int dif, sdif;

	if (ip6h->nexthdr != IPPROTO_TCP || fsk_steer_done_early(skb))
		return NF_ACCEPT;
	th = skb_header_pointer(skb, thoff, sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	fn = fsk_net(state->net);
	fsk_rfd_count(fn, ntohs(th->dest));
	if (skb->sk || !fsk_is_plain_syn(th))
		return NF_ACCEPT;
	if (!fsk_table_serves_port(fn, ntohs(th->dest)))
		return NF_ACCEPT;
	if (fsk_sk_lookup_attached(state->net)) {
		this_cpu_inc(fn->stats->skipped);
		return NF_ACCEPT;
	}

	hinfo = fsk_tcp_hashinfo(state->net);
	dif = inet6_iif(skb);
	sdif = inet6_sdif(skb);
	sk = __inet6_lookup_established(state->net, hinfo, &ip6h->saddr,
					th->source, &ip6h->daddr,
					ntohs(th->dest), dif, sdif);
	if (sk) {
		fsk_existing_flow(fn, sk);
		return NF_ACCEPT;
	}
	listener = inet6_lookup_listener(state->net, hinfo, skb,
					 thoff + __tcp_hdrlen(th),
					 &ip6h->saddr, th->source,
					 &ip6h->daddr, ntohs(th->dest),
					 dif, sdif);
	if (listener)
		fsk_assign(fn, skb, listener);
	return NF_ACCEPT;
}
#endif

/*
 * After the filter and security tables, so a firewall verdict is taken
 * before we commit to a socket, and after input SNAT, so the lookups see
 * the tuple the kernel's own lookup will see (IPv6 has no hook that would
 * orphan our assignment if SNAT changed the source afterwards).
 */
static const struct nf_hook_ops fsk_steer_ops[] = {
	{
		.hook		= fsk_steer_v4,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP_PRI_NAT_SRC + 1,
	},
#if IS_ENABLED(CONFIG_IPV6)
	{
		.hook		= fsk_steer_v6,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP6_PRI_NAT_SRC + 1,
	},
#endif
};

int fsk_steer_net_init(struct net *net)
{
	return nf_register_net_hooks(net, fsk_steer_ops,
				     ARRAY_SIZE(fsk_steer_ops));
}

void fsk_steer_net_exit(struct net *net)
{
	nf_unregister_net_hooks(net, fsk_steer_ops, ARRAY_SIZE(fsk_steer_ops));
}
