// SPDX-License-Identifier: GPL-2.0
/*
 * FASTSOCKET_IOC_REGISTER: make one of the caller's own listening sockets
 * the local listener of a CPU.
 *
 * For servers that open one SO_REUSEPORT socket per worker themselves
 * (nginx "listen ... reuseport"): a copy would only add a second queue
 * on the worker's CPU, so the worker's own socket is steered to instead.
 * Nothing about the socket changes and no fd is made; the table takes
 * one socket reference and drops it when the socket stops listening,
 * exactly as for a spawned copy (listen_table.c). Holding the fd is the
 * whole authority check, as for a spawn.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mutex.h>
#include <linux/net.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "fsk.h"

int fsk_register(struct socket *sock, int req, int mode)
{
	struct sock *sk = sock->sk;
	struct fsk_net *fn = fsk_net(sock_net(sk));
	int cpu, err;

	err = mutex_lock_killable(&fn->mutex);
	if (err)
		return err;
	cpu = fsk_resolve_cpu(fn, sk, req, mode);
	err = cpu;
	if (cpu >= 0) {
		/*
		 * Every LISTEN -> CLOSE transition (close, shutdown,
		 * connect(AF_UNSPEC)) happens under the socket lock, so
		 * holding it, a socket seen listening is linked before its
		 * close probe runs and the probe finds it.
		 */
		lock_sock(sk);
		err = sk->sk_state == TCP_LISTEN ?
		      fsk_table_insert(fn, sk, cpu, true) : -EINVAL;
		release_sock(sk);
	}
	mutex_unlock(&fn->mutex);
	return err == -EALREADY ? 0 : err;
}
