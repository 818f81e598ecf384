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
 * share one accept queue.
 *
 * Spawns are rare (once per worker and listening socket), so one mutex
 * serialises them: choosing a CPU, finding or creating its listener and
 * registering it happen as one step, and FASTSOCKET_CPU_AUTO sees the
 * load left by the previous spawn.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/file.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/string.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/uaccess.h>
#include <net/sock.h>
#include <net/tcp_states.h>
#include <linux/fastsocket.h>

#include "fastsocket.h"

/* Serialises spawns and registrations: CPU choice, slot check, insert. */
DEFINE_MUTEX(fsk_spawn_mutex);

static bool fsk_spawn_args_ok(const struct fastsocket_spawn *arg)
{
	return !arg->flags &&
	       !memchr_inv(arg->reserved, 0, sizeof(arg->reserved));
}

/* Is @sock a listening TCP socket that can have local listeners? */
static int fsk_check_listener(struct socket *sock)
{
	struct sock *sk = sock->sk;

	if (!fsk_sk_is_tcp(sk))
		return -EOPNOTSUPP;
	if (READ_ONCE(sk->sk_state) != TCP_LISTEN)
		return -EINVAL;
	if (!sk->sk_reuseport)
		return -ENOPROTOOPT;
	if (!net_eq(sock_net(sk), current->nsproxy->net_ns))
		return -EXDEV;
	return 0;
}

/*
 * The caller's fd @fd, if it is a listening TCP socket that can have
 * local listeners: 0 with @f held (fdput() it) and *@sock set, or an
 * errno with nothing held.
 */
int fsk_fdget_listener(int fd, struct fd *f, struct socket **sock)
{
	int err;

	*f = fdget(fd);
	if (!f->file)
		return -EBADF;
	*sock = sock_from_file(f->file);
	err = *sock ? fsk_check_listener(*sock) : -ENOTSOCK;
	if (err)
		fdput(*f);
	return err;
}

/* Least-loaded online CPU the caller may run on; ties go to the lowest. */
static int fsk_pick_cpu(void)
{
	unsigned int cpu, load, best_load = UINT_MAX;
	int best = -ENXIO;

	for_each_cpu_and(cpu, current->cpus_ptr, cpu_online_mask) {
		load = fsk_cpu_load(cpu);
		if (load < best_load) {
			best = cpu;
			best_load = load;
		}
	}
	return best;
}

/*
 * Turn the caller's cpu request into a CPU number, or a negative errno.
 * Called with fsk_spawn_mutex held (FASTSOCKET_CPU_AUTO reads the load).
 */
int fsk_resolve_cpu(int req, int mode)
{
	if (req >= 0) {
		if (req >= nr_cpu_ids)
			return -EINVAL;
		return cpu_online(req) ? req : -ENXIO;
	}
	if (req == FASTSOCKET_CPU_CURRENT) {
		if (current->nr_cpus_allowed != 1)
			return -EINVAL;
		req = cpumask_first(current->cpus_ptr);
		return cpu_online(req) ? req : -ENXIO;
	}
	if (req == FASTSOCKET_CPU_AUTO) {
		if (mode != FASTSOCKET_SPAWN_AUTO)
			return -EINVAL;
		return fsk_pick_cpu();
	}
	return -EINVAL;
}

/* The local listener's file for @cpu: the existing one or a new copy. */
static struct file *fsk_get_local(struct file *orig_file, struct socket *orig,
				  unsigned int cpu)
{
	struct fsk_net *fn = fsk_net(sock_net(orig->sk));
	struct file *file;
	int err;

	file = fsk_table_get_file(fn, orig->sk, cpu);
	if (file)
		return file;
	err = fsk_clone_listener(orig_file, orig, cpu, &file);
	if (err)
		return ERR_PTR(err);
	err = fsk_table_insert(fn, sock_from_file(file)->sk, cpu, false);
	if (err) {
		fput(file);
		return ERR_PTR(err);
	}
	return file;
}

static long fsk_spawn(struct fastsocket_spawn *arg,
		      struct fastsocket_spawn __user *uarg)
{
	int mode = READ_ONCE(fsk_listen_spawn);
	int req = arg->cpu;
	struct socket *sock;
	struct file *local;
	struct fd f;
	int cpu, fd;
	long err;

	if (mode == FASTSOCKET_SPAWN_OFF)
		return -EOPNOTSUPP;
	err = fsk_fdget_listener(arg->fd, &f, &sock);
	if (err)
		return err;

	mutex_lock(&fsk_spawn_mutex);
	cpu = fsk_resolve_cpu(req, mode);
	if (cpu < 0) {
		err = cpu;
		goto out_unlock;
	}
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto out_unlock;
	}
	/* Report before installing, so a fault leaves nothing behind. */
	arg->cpu = cpu;
	arg->local_fd = fd;
	if (copy_to_user(uarg, arg, sizeof(*arg))) {
		put_unused_fd(fd);
		err = -EFAULT;
		goto out_unlock;
	}
	local = fsk_get_local(f.file, sock, cpu);
	if (IS_ERR(local)) {
		put_unused_fd(fd);
		err = PTR_ERR(local);
		goto out_unlock;
	}
	fd_install(fd, local);
	/* A cpuset change can refuse this; the listener still works. */
	if (req == FASTSOCKET_CPU_AUTO &&
	    set_cpus_allowed_ptr(current, cpumask_of(cpu)))
		pr_debug("pid %d: could not pin to CPU %d\n",
			 task_pid_nr(current), cpu);
	err = 0;
out_unlock:
	mutex_unlock(&fsk_spawn_mutex);
	fdput(f);
	return err;
}

long fsk_ioctl_spawn(void __user *uarg)
{
	struct fastsocket_spawn arg;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!fsk_spawn_args_ok(&arg))
		return -EINVAL;
	return fsk_spawn(&arg, uarg);
}
