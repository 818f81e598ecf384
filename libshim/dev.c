// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dev.c - the module path: the /dev/fastsocket client.
 */
#include "dev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "fdmap.h"
#include "real.h"
#include "shim.h"
#include "testing.h"

static int dev_open(const char *path, int flags)
{
	return open(path, flags);
}

static int dev_ioctl(int fd, unsigned long request, void *arg)
{
	return fs_real.ioctl(fd, request, arg);
}

struct fs_dev_ops fs_dev_ops = { dev_open, dev_ioctl };

static int probed;		/* 0 not yet, 1 usable, -1 not usable */
static struct fastsocket_info cached;
static _Atomic int dev_fd = -1;

static int open_dev(void)
{
	int fd = fs_dev_ops.open(FASTSOCKET_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fs_fdmap_set(fd, fs_ent_make(FS_K_DEV, 0, 0)) < 0) {
		fs_real.close(fd);
		return -EMFILE;
	}
	atomic_store(&dev_fd, fd);
	return fd;
}

bool fs_dev_probe(struct fastsocket_info *info)
{
	struct fastsocket_info in;
	int fd;

	fs_assert_locked();
	if (probed) {
		if (probed > 0 && info)
			*info = cached;
		return probed > 0;
	}
	probed = -1;
	fd = open_dev();
	if (fd < 0) {
		if (fd != -ENOENT)
			fs_info("%s: %s; using the userspace fallback",
				FASTSOCKET_DEVICE_PATH, strerror(-fd));
		else
			fs_debug("%s not found (module not loaded); using the userspace fallback",
				 FASTSOCKET_DEVICE_PATH);
		return false;
	}
	memset(&in, 0, sizeof(in));
	if (fs_dev_ops.ioctl(fd, FASTSOCKET_IOC_INFO, &in) < 0) {
		fs_info("%s: FASTSOCKET_IOC_INFO: %s; using the userspace fallback",
			FASTSOCKET_DEVICE_PATH, strerror(errno));
		goto unusable;
	}
	if (in.abi_version != FASTSOCKET_ABI_VERSION) {
		fs_info("%s: module ABI %u, shim ABI %u; using the userspace fallback",
			FASTSOCKET_DEVICE_PATH, in.abi_version,
			FASTSOCKET_ABI_VERSION);
		goto unusable;
	}
	if (!(in.features & FASTSOCKET_FEAT_SPAWN)) {
		fs_info("%s: module cannot spawn local listeners; using the userspace fallback",
			FASTSOCKET_DEVICE_PATH);
		goto unusable;
	}
	cached = in;
	probed = 1;
	if (info)
		*info = in;
	fs_debug("%s: ABI %u, features %#x, enable_listen_spawn %u",
		 FASTSOCKET_DEVICE_PATH, in.abi_version, in.features,
		 in.enable_listen_spawn);
	return true;
unusable:
	fs_fdmap_set(fd, 0);
	atomic_store(&dev_fd, -1);
	fs_real.close(fd);
	return false;
}

/*
 * ioctl req on the device if the module has feature (0: any module that
 * passed the probe): 0 or a negative errno.
 */
static int module_ioctl(unsigned int feature, unsigned long req, void *arg)
{
	int dev;

	fs_assert_locked();
	if (probed <= 0)
		return -ENODEV;
	if (feature && !(cached.features & feature))
		return -EOPNOTSUPP;
	dev = atomic_load(&dev_fd);
	if (dev < 0) {
		dev = open_dev();	/* the application closed ours */
		if (dev < 0)
			return dev;
	}
	return fs_dev_ops.ioctl(dev, req, arg) < 0 ? -errno : 0;
}

int fs_dev_spawn(int fd, int cpu, int *local_fd, int *out_cpu)
{
	struct fastsocket_spawn req = { .fd = fd, .cpu = cpu };
	int rc = module_ioctl(0, FASTSOCKET_IOC_SPAWN, &req);

	if (rc == 0) {
		*local_fd = req.local_fd;
		*out_cpu = req.cpu;
	}
	return rc;
}

int fs_dev_info(struct fastsocket_info *info)
{
	struct fastsocket_info in;
	int rc;

	memset(&in, 0, sizeof(in));
	rc = module_ioctl(0, FASTSOCKET_IOC_INFO, &in);
	if (rc == 0)
		*info = in;
	return rc;
}

int fs_dev_register(int fd, int cpu)
{
	struct fastsocket_register req = { .fd = fd, .cpu = cpu };

	return module_ioctl(FASTSOCKET_FEAT_REGISTER, FASTSOCKET_IOC_REGISTER,
			    &req);
}

int fs_dev_park(int local_fd, bool park)
{
	struct fastsocket_park req = {
		.fd = local_fd,
		.flags = park ? FASTSOCKET_PARK_ON : 0,
	};

	return module_ioctl(FASTSOCKET_FEAT_PARK, FASTSOCKET_IOC_PARK, &req);
}

void fs_dev_fd_gone(int fd)
{
	int expect = fd;

	atomic_compare_exchange_strong(&dev_fd, &expect, -1);
}

void fs_dev_reset(void)
{
	int fd = atomic_exchange(&dev_fd, -1);

	if (fd >= 0) {
		fs_fdmap_set(fd, 0);
		fs_real.close(fd);
	}
	probed = 0;
}
