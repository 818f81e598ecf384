// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/fastsocket: the edge of the ioctl ABI in
 * include/uapi/linux/fastsocket.h. Copying in and out, argument checks and
 * turning fds into sockets happen here; the commands (spawn.c,
 * register.c, park.c) get checked kernel types. Every path returns a
 * clean errno, and no lock is held while user memory is touched.
 *
 * The device holds no per-open state. An open fd of it pins the module
 * (the shim keeps one open for the life of the process, so rmmod waits
 * for shim-run servers to exit); sockets made through it do not.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/file.h>
#include <linux/miscdevice.h>
#include <linux/nsproxy.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/cpumask.h>
#include <net/sock.h>
#include <net/tcp_states.h>
#include <linux/fastsocket.h>

#include "fsk.h"
#include "compat.h"

/* Reserved fields must be zero: later ABI versions may give them meaning. */
#define fsk_reserved_set(arg) \
	(!!memchr_inv((arg)->reserved, 0, sizeof((arg)->reserved)))

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
static int fsk_fdget_listener(int fd, struct fd *f, struct socket **sock)
{
	int err;

	*f = fdget(fd);
	if (!fd_file(*f))
		return -EBADF;
	*sock = sock_from_file(fd_file(*f));
	err = *sock ? fsk_check_listener(*sock) : -ENOTSOCK;
	if (err)
		fdput(*f);
	return err;
}

/*
 * net.fastsocket.listen_spawn of the caller's netns, the only netns whose
 * listeners it may act on (fsk_check_listener()).
 */
static int fsk_caller_listen_spawn(void)
{
	return READ_ONCE(fsk_net(current->nsproxy->net_ns)->listen_spawn);
}

static long fsk_ioctl_info(void __user *uarg)
{
	struct fsk_rfd_layout rfd;
	struct fastsocket_info info = {
		.abi_version = FASTSOCKET_ABI_VERSION,
		.features = FASTSOCKET_FEAT_SPAWN | FASTSOCKET_FEAT_REGISTER |
			    FASTSOCKET_FEAT_PARK |
			    FASTSOCKET_FEAT_STEER_IPV4 |
			    (IS_ENABLED(CONFIG_IPV6) ?
			     FASTSOCKET_FEAT_STEER_IPV6 : 0),
		.enable_listen_spawn = fsk_caller_listen_spawn(),
		.enable_fast_epoll = READ_ONCE(fsk_fast_epoll),
		.enable_receive_flow_deliver =
			READ_ONCE(fsk_receive_flow_deliver),
		.nr_cpu_ids = nr_cpu_ids,
	};

	if (fsk_rfd_layout(current->nsproxy->net_ns, &rfd)) {
		info.features |= FASTSOCKET_FEAT_RFD_PORTS;
		info.rfd_port_lo = rfd.lo;
		info.rfd_block = rfd.block;
		info.rfd_ncpus = rfd.ncpus;
		if (info.enable_receive_flow_deliver == FASTSOCKET_RFD_STEER &&
		    fsk_rfd_steer_available())
			info.features |= FASTSOCKET_FEAT_RFD_STEER;
	}
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long fsk_ioctl_spawn(struct fastsocket_spawn __user *uarg)
{
	int mode = fsk_caller_listen_spawn();
	struct fastsocket_spawn arg;
	struct socket *sock;
	struct file *local;
	int req, cpu, fd;
	struct fd f;
	long err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || fsk_reserved_set(&arg))
		return -EINVAL;
	if (mode == FASTSOCKET_SPAWN_OFF)
		return -EOPNOTSUPP;
	err = fsk_fdget_listener(arg.fd, &f, &sock);
	if (err)
		return err;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	req = arg.cpu;
	err = fsk_spawn(fd_file(f), sock, req, mode, &cpu, &local);
	if (err) {
		put_unused_fd(fd);
		goto out;
	}
	/* Report before installing, so a fault leaves nothing behind. */
	arg.cpu = cpu;
	arg.local_fd = fd;
	if (copy_to_user(uarg, &arg, sizeof(arg))) {
		put_unused_fd(fd);
		fput(local);
		err = -EFAULT;
		goto out;
	}
	fd_install(fd, local);
	/* A cpuset can refuse the pin; the listener works all the same. */
	if (req == FASTSOCKET_CPU_AUTO && fsk_pin_current(cpu))
		pr_debug("pid %d: could not pin to CPU %d\n",
			 task_pid_nr(current), cpu);
out:
	fdput(f);
	return err;
}

static long fsk_ioctl_register(struct fastsocket_register __user *uarg)
{
	int mode = fsk_caller_listen_spawn();
	struct fastsocket_register arg;
	struct socket *sock;
	struct fd f;
	long err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	/* The caller places itself: the module's AUTO pick would pin it. */
	if (arg.flags || arg.cpu == FASTSOCKET_CPU_AUTO ||
	    fsk_reserved_set(&arg))
		return -EINVAL;
	if (mode == FASTSOCKET_SPAWN_OFF)
		return -EOPNOTSUPP;
	err = fsk_fdget_listener(arg.fd, &f, &sock);
	if (err)
		return err;
	err = fsk_register(sock, arg.cpu, mode);
	fdput(f);
	return err;
}

static long fsk_ioctl_park(struct fastsocket_park __user *uarg)
{
	struct fastsocket_park arg;
	struct socket *sock;
	struct fd f;
	long err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~FASTSOCKET_PARK_ON) || fsk_reserved_set(&arg))
		return -EINVAL;
	f = fdget(arg.fd);
	if (!fd_file(f))
		return -EBADF;
	sock = sock_from_file(fd_file(f));
	err = sock ? fsk_park(sock, arg.flags & FASTSOCKET_PARK_ON) :
		     -ENOTSOCK;
	fdput(f);
	return err;
}

static long fsk_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case FASTSOCKET_IOC_INFO:
		return fsk_ioctl_info(uarg);
	case FASTSOCKET_IOC_SPAWN:
		return fsk_ioctl_spawn(uarg);
	case FASTSOCKET_IOC_REGISTER:
		return fsk_ioctl_register(uarg);
	case FASTSOCKET_IOC_PARK:
		return fsk_ioctl_park(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations fsk_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= fsk_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

/* World-usable: a caller can only act on sockets it already holds. */
static struct miscdevice fsk_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= FASTSOCKET_DEVICE_NAME,
	.fops	= &fsk_fops,
	.mode	= 0666,
};

int fsk_dev_register(void)
{
	return misc_register(&fsk_misc);
}

void fsk_dev_unregister(void)
{
	misc_deregister(&fsk_misc);
}
