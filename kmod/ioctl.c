// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/fastsocket: argument checking and dispatch of the ioctl ABI in
 * include/uapi/linux/fastsocket.h. Every path returns a clean errno.
 *
 * The device holds no per-open state. An open fd of it pins the module
 * (the shim keeps one open for the life of the process, so rmmod waits
 * for shim-run servers to exit); sockets made through it do not.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/uaccess.h>
#include <linux/cpumask.h>
#include <linux/fastsocket.h>

#include "fastsocket.h"

static long fsk_ioctl_info(void __user *uarg)
{
	struct fastsocket_info info = {
		.abi_version = FASTSOCKET_ABI_VERSION,
		.features = FASTSOCKET_FEAT_SPAWN | FASTSOCKET_FEAT_REGISTER |
			    FASTSOCKET_FEAT_PARK |
			    FASTSOCKET_FEAT_STEER_IPV4 |
			    (IS_ENABLED(CONFIG_IPV6) ?
			     FASTSOCKET_FEAT_STEER_IPV6 : 0),
		.enable_listen_spawn = READ_ONCE(fsk_listen_spawn),
		.enable_fast_epoll = READ_ONCE(fsk_fast_epoll),
		.enable_receive_flow_deliver =
			READ_ONCE(fsk_receive_flow_deliver),
		.nr_cpu_ids = nr_cpu_ids,
	};

	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
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
