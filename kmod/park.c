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

#include <linux/file.h>
#include <linux/net.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <net/sock.h>
#include <linux/fastsocket.h>

#include "fastsocket.h"

static bool fsk_park_args_ok(const struct fastsocket_park *arg)
{
	return !(arg->flags & ~FASTSOCKET_PARK_ON) &&
	       !memchr_inv(arg->reserved, 0, sizeof(arg->reserved));
}

long fsk_ioctl_park(void __user *uarg)
{
	struct fastsocket_park arg;
	struct socket *sock;
	struct fd f;
	long err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!fsk_park_args_ok(&arg))
		return -EINVAL;
	f = fdget(arg.fd);
	if (!f.file)
		return -EBADF;
	sock = sock_from_file(f.file);
	if (!sock)
		err = -ENOTSOCK;
	else if (!fsk_sk_is_tcp(sock->sk))
		err = -ENOENT;
	else
		err = fsk_table_park(fsk_net(sock_net(sock->sk)), sock->sk,
				     arg.flags & FASTSOCKET_PARK_ON);
	fdput(f);
	return err;
}
