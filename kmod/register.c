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

#include <linux/file.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <net/sock.h>
#include <linux/fastsocket.h>

#include "fastsocket.h"

static bool fsk_register_args_ok(const struct fastsocket_register *arg)
{
	/* The caller places itself: the module's AUTO pick would pin it. */
	return !arg->flags && arg->cpu != FASTSOCKET_CPU_AUTO &&
	       !memchr_inv(arg->reserved, 0, sizeof(arg->reserved));
}

static long fsk_register(const struct fastsocket_register *arg)
{
	int mode = READ_ONCE(fsk_listen_spawn);
	struct socket *sock;
	struct fd f;
	long err;
	int cpu;

	if (mode == FASTSOCKET_SPAWN_OFF)
		return -EOPNOTSUPP;
	err = fsk_fdget_listener(arg->fd, &f, &sock);
	if (err)
		return err;

	/* Against a spawn for the same CPU taking the slot meanwhile. */
	mutex_lock(&fsk_spawn_mutex);
	cpu = fsk_resolve_cpu(arg->cpu, mode);
	err = cpu;
	if (cpu >= 0)
		err = fsk_table_insert(fsk_net(sock_net(sock->sk)), sock->sk,
				       cpu, true);
	mutex_unlock(&fsk_spawn_mutex);
	if (err == -EALREADY)
		err = 0;
	fdput(f);
	return err;
}

long fsk_ioctl_register(void __user *uarg)
{
	struct fastsocket_register arg;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!fsk_register_args_ok(&arg))
		return -EINVAL;
	return fsk_register(&arg);
}
