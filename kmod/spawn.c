// SPDX-License-Identifier: GPL-2.0
/*
 * FASTSOCKET_IOC_SPAWN: give the caller a CPU-local listener for one of
 * its listening sockets.
 *
 * The caller passes its own fd; that is the whole authority check. The
 * local listener is a copy of that socket (clone.c) registered in the
 * netns's table (listen_table.c) for one CPU; the caller gets a new
 * close-on-exec fd and, like any fd, owns it. A second caller on the
 * same CPU gets a new fd of the same socket, so workers sharing a CPU
 * share one accept queue. A slot held by anything else (a server's
 * registered socket, another reuseport group's copy) is never handed
 * out: EBUSY.
 *
 * Spawns are rare (once per worker and listening socket), so the netns's
 * mutex serialises them: choosing a CPU, finding or creating its listener
 * and registering it happen as one step, and FASTSOCKET_CPU_AUTO sees
 * the load left by the previous spawn. The mutex is never held across
 * user memory (ioctl.c copies out after this returns).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/file.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <net/sock.h>

#include "fsk.h"

/* The local listener's file for @cpu: the existing one or a new copy. */
static struct file *fsk_get_local(struct fsk_net *fn, struct file *orig_file,
				  struct socket *orig, unsigned int cpu)
{
	struct file *file;
	int err;

	file = fsk_table_get_file(fn, orig->sk, cpu);
	if (file)
		return file;
	err = fsk_clone_listener(orig_file, orig, cpu, &file);
	if (err)
		return ERR_PTR(err);
	/* Still private to us, so it stays listening until linked. */
	err = fsk_table_insert(fn, sock_from_file(file)->sk, cpu, false);
	if (err) {
		fput(file);
		return ERR_PTR(err);
	}
	return file;
}

/*
 * A reference to the local listener on the CPU @req resolves to for the
 * listening socket @sock (opened as @file): 0 with *@cpu and *@local set,
 * or a negative errno with nothing held.
 */
int fsk_spawn(struct file *file, struct socket *sock, int req, int mode,
	      int *cpu, struct file **local)
{
	struct fsk_net *fn = fsk_net(sock_net(sock->sk));
	int err;

	err = fsk_clone_check(sock->sk);
	if (err)
		return err;
	err = mutex_lock_killable(&fn->mutex);
	if (err)
		return err;
	*cpu = fsk_resolve_cpu(fn, sock->sk, req, mode);
	if (*cpu < 0) {
		err = *cpu;
		goto out;
	}
	*local = fsk_get_local(fn, file, sock, *cpu);
	if (IS_ERR(*local))
		err = PTR_ERR(*local);
out:
	mutex_unlock(&fn->mutex);
	return err;
}
