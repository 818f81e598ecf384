// SPDX-License-Identifier: GPL-2.0
/*
 * FASTSOCKET_IOC_PARK: stop, or resume, steering SYNs to a local listener
 * whose worker is not accepting for a while.
 *
 * nginx with accept_mutex on takes the listening socket out of a worker's
 * epoll set whenever another worker holds the mutex, sometimes for long.
 * The shim used to close that worker's local listener then; but a
 * handshake that completes just as its listener closes is reset by the
 * kernel, so a listener must not be closed while SYNs still reach it.
 * Parking only sets a flag the steering hook reads (listen_table.c); the
 * listener, its queue and its table entry stay as they are.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/net.h>
#include <net/sock.h>

#include "fsk.h"

int fsk_park(struct socket *sock, bool park)
{
	if (!fsk_sk_is_tcp(sock->sk))
		return -ENOENT;
	return fsk_table_park(fsk_net(sock_net(sock->sk)), sock->sk, park);
}
