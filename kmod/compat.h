/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between kernel versions, in one place. The module needs
 * Linux 6.1 or later (Debian 12). Everything the module uses that later
 * kernels changed is wrapped here; Documentation/design.md lists which
 * kernels it has been built against.
 */
#ifndef _FASTSOCKET_COMPAT_H
#define _FASTSOCKET_COMPAT_H

#include <linux/version.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <net/inet_hashtables.h>
#include <net/inet_sock.h>
#include <net/tcp.h>

/* Since 6.1 a netns may have its own TCP hash tables (tcp_child_ehash_entries). */
static inline struct inet_hashinfo *fsk_tcp_hashinfo(const struct net *net)
{
	return net->ipv4.tcp_death_row.hashinfo;
}

/* 6.11 made struct fd opaque; fd_file() reads it since then. */
#ifndef fd_file
#define fd_file(f) ((f).file)
#endif

/* 6.6 turned the inet_sock bit-fields into atomic flag bits. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define fsk_inet_freebind(sk)		inet_test_bit(FREEBIND, sk)
#define fsk_inet_transparent(sk)	inet_test_bit(TRANSPARENT, sk)
#else
#define fsk_inet_freebind(sk)		(inet_sk(sk)->freebind)
#define fsk_inet_transparent(sk)	(inet_sk(sk)->transparent)
#endif

/*
 * A new reference to @file unless its count already dropped to zero (it
 * is being released). Callers guarantee the memory stays valid (they hold
 * the lock that keeps the file's socket linked). 6.7 changed
 * get_file_rcu() to take a struct file __rcu ** and 6.13 made f_count a
 * file_ref_t.
 */
static inline bool fsk_get_file_not_zero(struct file *file)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	return file_ref_get(&file->f_ref);
#else
	return atomic_long_inc_not_zero(&file->f_count);
#endif
}

/* Does @sk carry TCP authentication keys (MD5, and TCP-AO since 6.7)? */
static inline bool fsk_tcp_has_auth_keys(const struct sock *sk)
{
	bool keys = false;

#ifdef CONFIG_TCP_MD5SIG
	keys |= !!rcu_access_pointer(tcp_sk(sk)->md5sig_info);
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0) && defined(CONFIG_TCP_AO)
	keys |= !!rcu_access_pointer(tcp_sk(sk)->ao_info);
#endif
	return keys;
}

#endif /* _FASTSOCKET_COMPAT_H */
