/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dev.h - the module path: /dev/fastsocket, FASTSOCKET_IOC_INFO,
 * FASTSOCKET_IOC_SPAWN, _REGISTER and _PARK
 * (include/uapi/linux/fastsocket.h is the contract).
 *
 * The device is opened once, by the first process that starts a managed
 * listener (usually the still-privileged master), and the close-on-exec
 * fd is kept so that workers forked later use it after dropping
 * privileges. Callers hold the shim's lock.
 */
#ifndef FASTSOCKET_DEV_H
#define FASTSOCKET_DEV_H

#include <stdbool.h>
#include <linux/fastsocket.h>

/*
 * Open the device and read FASTSOCKET_IOC_INFO, once per process. True
 * when the module is there, speaks this ABI and can SPAWN; *info is then
 * filled. The outcome is cached (also across fork).
 */
bool fs_dev_probe(struct fastsocket_info *info);

/*
 * FASTSOCKET_IOC_SPAWN: a local listener for listening fd on cpu (a CPU
 * number, FASTSOCKET_CPU_CURRENT or FASTSOCKET_CPU_AUTO). Returns 0 with
 * *local_fd and *out_cpu set, or a negative errno.
 */
int fs_dev_spawn(int fd, int cpu, int *local_fd, int *out_cpu);

/* FASTSOCKET_IOC_INFO now (the module's parameters may have changed
 * since the probe). 0 or a negative errno. */
int fs_dev_info(struct fastsocket_info *info);

/*
 * FASTSOCKET_IOC_REGISTER: make the caller's own listening fd the local
 * listener of cpu (a CPU number or FASTSOCKET_CPU_CURRENT). 0 or a
 * negative errno; -EOPNOTSUPP from a module without the command.
 */
int fs_dev_register(int fd, int cpu);

/*
 * FASTSOCKET_IOC_PARK: stop (park) or resume steering SYNs to the local
 * listener local_fd, made by FASTSOCKET_IOC_SPAWN. 0 or a negative errno;
 * -EOPNOTSUPP from a module without the command.
 */
int fs_dev_park(int local_fd, bool park);

/* The application closed or replaced fd, which was the device fd. */
void fs_dev_fd_gone(int fd);


/*
 * How the device is reached: open(2) and ioctl(2) by default. The unit
 * tests put a fake module here.
 */
struct fs_dev_ops {
	int (*open)(const char *path, int flags);
	int (*ioctl)(int fd, unsigned long request, void *arg);
};

extern struct fs_dev_ops fs_dev_ops;

#endif /* FASTSOCKET_DEV_H */
