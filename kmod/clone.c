// SPDX-License-Identifier: GPL-2.0
/*
 * Make a copy of a listening TCP socket: same address, port and device,
 * the options that shape accepted connections, the same SO_REUSEPORT
 * group.
 *
 * Authority comes from holding the original's fd, so the copy is created
 * and bound with the credentials of whoever opened the original (its
 * file's f_cred), not the caller's: a worker that dropped privileges can
 * copy the port-80 socket its root master bound, and the copy passes the
 * same-uid test of the reuseport group. The address is always the
 * original's, never one the caller chooses.
 *
 * The copy's file is created with O_NONBLOCK: one local listener may be
 * shared by several workers, and a blocking accept on a shared file
 * would let one of them set the mode for all.
 *
 * A copy must never be weaker than the original: a SYN steered to it
 * must meet the same checks. What cannot be copied makes SPAWN fail
 * (fsk_clone_check()): a socket filter, an IPsec policy, TCP-MD5/AO keys
 * and a ULP. What accepted connections inherit from their listener is
 * copied; Documentation/limits.md lists both.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/net.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <net/sock.h>
#include <net/inet_sock.h>
#include <net/inet_connection_sock.h>
#include <net/tcp.h>
#include <net/ipv6.h>

#include "fsk.h"
#include "compat.h"

/*
 * -EOPNOTSUPP if @orig carries state a copy would silently lack and that
 * decides which connections it accepts or how they are protected.
 */
int fsk_clone_check(const struct sock *orig)
{
	if (rcu_access_pointer(orig->sk_filter))
		return -EOPNOTSUPP;
#ifdef CONFIG_XFRM
	if (rcu_access_pointer(orig->sk_policy[0]) ||
	    rcu_access_pointer(orig->sk_policy[1]))
		return -EOPNOTSUPP;
#endif
	if (fsk_tcp_has_auth_keys(orig) ||
	    READ_ONCE(inet_csk(orig)->icsk_ulp_ops))
		return -EOPNOTSUPP;
	return 0;
}

static int fsk_setopt(struct socket *sock, int level, int name, int val)
{
	sockptr_t p = KERNEL_SOCKPTR(&val);

	if (level == SOL_SOCKET)
		return sock_setsockopt(sock, level, name, p, sizeof(val));
	return sock->ops->setsockopt(sock, level, name, p, sizeof(val));
}

/* Socket-level options; all must be set before bind. */
static int fsk_copy_sock_opts(struct socket *sock, const struct sock *orig,
			      unsigned int cpu)
{
	struct sock *sk = sock->sk;
	unsigned int userlocks;
	int err;

	err = fsk_setopt(sock, SOL_SOCKET, SO_REUSEPORT, 1);
	if (!err && orig->sk_reuse)
		err = fsk_setopt(sock, SOL_SOCKET, SO_REUSEADDR, 1);
	if (!err && sock_flag(orig, SOCK_KEEPOPEN))
		err = fsk_setopt(sock, SOL_SOCKET, SO_KEEPALIVE, 1);
	if (!err && READ_ONCE(orig->sk_mark))
		err = fsk_setopt(sock, SOL_SOCKET, SO_MARK,
				 READ_ONCE(orig->sk_mark));
	if (!err && READ_ONCE(orig->sk_bound_dev_if))
		err = sock_bindtoindex(sk, READ_ONCE(orig->sk_bound_dev_if),
				       true);
	if (!err && READ_ONCE(orig->sk_rcvlowat) > 1)
		err = fsk_setopt(sock, SOL_SOCKET, SO_RCVLOWAT,
				 READ_ONCE(orig->sk_rcvlowat));
	if (err)
		return err;

	/* Copy the exact sizes: SO_*BUF would double and clamp them. */
	userlocks = orig->sk_userlocks;	/* a bit-field: no READ_ONCE */
	lock_sock(sk);
	/* Exact values, which the setsockopt units would round. */
	if (sock_flag(orig, SOCK_LINGER)) {
		sk->sk_lingertime = READ_ONCE(orig->sk_lingertime);
		sock_set_flag(sk, SOCK_LINGER);
	}
	WRITE_ONCE(sk->sk_rcvtimeo, READ_ONCE(orig->sk_rcvtimeo));
	WRITE_ONCE(sk->sk_sndtimeo, READ_ONCE(orig->sk_sndtimeo));
	if (userlocks & SOCK_RCVBUF_LOCK) {
		sk->sk_userlocks |= SOCK_RCVBUF_LOCK;
		WRITE_ONCE(sk->sk_rcvbuf, READ_ONCE(orig->sk_rcvbuf));
	}
	if (userlocks & SOCK_SNDBUF_LOCK) {
		sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
		WRITE_ONCE(sk->sk_sndbuf, READ_ONCE(orig->sk_sndbuf));
	}
	/* Also makes the kernel's reuseport fallback prefer this CPU. */
	WRITE_ONCE(sk->sk_incoming_cpu, cpu);
	release_sock(sk);
	return 0;
}

/* IP-level options that let the original bind where it did. */
static int fsk_copy_ip_opts(struct socket *sock, const struct sock *orig)
{
	const struct inet_sock *oinet = inet_sk(orig);
	bool v6 = orig->sk_family == AF_INET6;
	int err = 0;

	if (fsk_inet_freebind(orig))
		err = v6 ? fsk_setopt(sock, SOL_IPV6, IPV6_FREEBIND, 1) :
			   fsk_setopt(sock, SOL_IP, IP_FREEBIND, 1);
	if (!err && fsk_inet_transparent(orig))
		err = v6 ? fsk_setopt(sock, SOL_IPV6, IPV6_TRANSPARENT, 1) :
			   fsk_setopt(sock, SOL_IP, IP_TRANSPARENT, 1);
	if (!err && v6 && ipv6_only_sock(orig))
		err = fsk_setopt(sock, SOL_IPV6, IPV6_V6ONLY, 1);
	if (!err && READ_ONCE(oinet->tos))
		err = fsk_setopt(sock, SOL_IP, IP_TOS, READ_ONCE(oinet->tos));
	if (!err && READ_ONCE(oinet->uc_ttl) >= 0)
		err = fsk_setopt(sock, SOL_IP, IP_TTL, READ_ONCE(oinet->uc_ttl));
#if IS_ENABLED(CONFIG_IPV6)
	/* Bit-fields in 6.1: no READ_ONCE. */
	if (!err && v6 && inet6_sk(orig)->tclass)
		err = fsk_setopt(sock, SOL_IPV6, IPV6_TCLASS,
				 inet6_sk(orig)->tclass);
	if (!err && v6 && inet6_sk(orig)->hop_limit >= 0)
		err = fsk_setopt(sock, SOL_IPV6, IPV6_UNICAST_HOPS,
				 inet6_sk(orig)->hop_limit);
#endif
	/* Last: IP_TOS sets the priority too, as it did for the original. */
	if (!err && READ_ONCE(sock->sk->sk_priority) !=
	    READ_ONCE(orig->sk_priority))
		err = fsk_setopt(sock, SOL_SOCKET, SO_PRIORITY,
				 READ_ONCE(orig->sk_priority));
	return err;
}

/* The original's congestion control, if its owner chose one. */
static int fsk_copy_congestion(struct socket *sock, const struct sock *orig)
{
	const struct inet_connection_sock *oicsk = inet_csk(orig);
	char name[TCP_CA_NAME_MAX];

	lock_sock((struct sock *)orig);
	if (oicsk->icsk_ca_setsockopt)
		strscpy(name, oicsk->icsk_ca_ops->name, sizeof(name));
	else
		name[0] = 0;
	release_sock((struct sock *)orig);
	if (!name[0])
		return 0;
	return sock->ops->setsockopt(sock, SOL_TCP, TCP_CONGESTION,
				     KERNEL_SOCKPTR(name), strlen(name));
}

/* TCP options that accepted connections inherit from their listener. */
static int fsk_copy_tcp_opts(struct socket *sock, const struct sock *orig)
{
	const struct inet_connection_sock *oicsk = inet_csk(orig);
	const struct tcp_sock *otp = tcp_sk(orig);
	int tfo_qlen = READ_ONCE(oicsk->icsk_accept_queue.fastopenq.max_qlen);
	struct sock *sk = sock->sk;
	int err = 0;

	if (otp->nonagle & TCP_NAGLE_OFF)
		err = fsk_setopt(sock, SOL_TCP, TCP_NODELAY, 1);
	if (!err && READ_ONCE(otp->rx_opt.user_mss))
		err = fsk_setopt(sock, SOL_TCP, TCP_MAXSEG,
				 READ_ONCE(otp->rx_opt.user_mss));
	if (!err && READ_ONCE(otp->keepalive_time))
		err = fsk_setopt(sock, SOL_TCP, TCP_KEEPIDLE,
				 READ_ONCE(otp->keepalive_time) / HZ);
	if (!err && READ_ONCE(otp->keepalive_intvl))
		err = fsk_setopt(sock, SOL_TCP, TCP_KEEPINTVL,
				 READ_ONCE(otp->keepalive_intvl) / HZ);
	if (!err && READ_ONCE(otp->keepalive_probes))
		err = fsk_setopt(sock, SOL_TCP, TCP_KEEPCNT,
				 READ_ONCE(otp->keepalive_probes));
	if (!err && READ_ONCE(oicsk->icsk_user_timeout))
		err = fsk_setopt(sock, SOL_TCP, TCP_USER_TIMEOUT,
				 READ_ONCE(oicsk->icsk_user_timeout));
	if (!err && READ_ONCE(oicsk->icsk_syn_retries))
		err = fsk_setopt(sock, SOL_TCP, TCP_SYNCNT,
				 READ_ONCE(oicsk->icsk_syn_retries));
	if (!err && READ_ONCE(otp->window_clamp))
		err = fsk_setopt(sock, SOL_TCP, TCP_WINDOW_CLAMP,
				 READ_ONCE(otp->window_clamp));
	if (!err && tfo_qlen)
		err = fsk_setopt(sock, SOL_TCP, TCP_FASTOPEN, tfo_qlen);
	if (!err)
		err = fsk_copy_congestion(sock, orig);
	if (err)
		return err;

	/* Stored in retransmits and jiffies: copy them as they are. */
	lock_sock(sk);
	WRITE_ONCE(inet_csk(sk)->icsk_accept_queue.rskq_defer_accept,
		   READ_ONCE(oicsk->icsk_accept_queue.rskq_defer_accept));
	WRITE_ONCE(tcp_sk(sk)->linger2, READ_ONCE(otp->linger2));
	WRITE_ONCE(tcp_sk(sk)->notsent_lowat, READ_ONCE(otp->notsent_lowat));
	tcp_sk(sk)->save_syn = otp->save_syn;	/* a bit-field */
	release_sock(sk);
	return 0;
}

static int fsk_bind_listen(struct socket *sock, struct socket *orig)
{
	struct sockaddr_storage addr;
	int len, err;

	len = kernel_getsockname(orig, (struct sockaddr *)&addr);
	if (len < 0)
		return len;
	err = kernel_bind(sock, (struct sockaddr *)&addr, len);
	if (err)
		return err;
	err = kernel_listen(sock, READ_ONCE(orig->sk->sk_max_ack_backlog));
	if (err)
		return err;
	/*
	 * Same address, device and uid should have put us in the original's
	 * group; if the original was closed or re-bound meanwhile, it did not.
	 */
	if (!fsk_same_reuseport(sock->sk, orig->sk))
		return -EBUSY;
	return 0;
}

/*
 * Create a listening copy of @orig (opened as @orig_file) for @cpu and
 * return its new file in @clone. The caller owns the file's reference.
 */
int fsk_clone_listener(struct file *orig_file, struct socket *orig,
		       unsigned int cpu, struct file **clone)
{
	const struct cred *old_cred;
	struct socket *sock;
	struct file *file;
	int err;

	old_cred = override_creds(orig_file->f_cred);
	err = __sock_create(sock_net(orig->sk), orig->sk->sk_family,
			    SOCK_STREAM, IPPROTO_TCP, &sock, 0);
	if (err)
		goto out;
	err = fsk_copy_sock_opts(sock, orig->sk, cpu);
	if (!err)
		err = fsk_copy_ip_opts(sock, orig->sk);
	if (!err)
		err = fsk_copy_tcp_opts(sock, orig->sk);
	if (!err)
		err = fsk_bind_listen(sock, orig);
	if (err) {
		sock_release(sock);
		goto out;
	}
	/* Created under the opener's creds, so f_cred is theirs too. */
	file = sock_alloc_file(sock, O_NONBLOCK, NULL);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);	/* sock_alloc_file released sock */
		goto out;
	}
	*clone = file;
out:
	revert_creds(old_cred);
	return err;
}
