/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between kernel versions, in one place. The module needs
 * Linux 6.1 or later (Debian 12); anything that moves in later kernels is
 * wrapped here.
 */
#ifndef _FASTSOCKET_COMPAT_H
#define _FASTSOCKET_COMPAT_H

#include <net/inet_hashtables.h>
#include <net/tcp.h>

/* Since 6.1 a netns may have its own TCP hash tables (tcp_child_ehash_entries). */
static inline struct inet_hashinfo *fsk_tcp_hashinfo(const struct net *net)
{
	return net->ipv4.tcp_death_row.hashinfo;
}

#endif /* _FASTSOCKET_COMPAT_H */
