// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * real.c - the table of libc functions (real.h). interpose.c fills it;
 * the unit tests point it at libc themselves.
 */
#include "real.h"

#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Until interpose.c resolves libc's (and in the unit tests): the system
 * calls themselves, which is what libc's do. */
static int sys_setsockopt(int fd, int level, int name, const void *val,
			  socklen_t len)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

static int sys_getsockopt(int fd, int level, int name, void *val,
			  socklen_t *len)
{
	return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

static int sys_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	return (int)syscall(SYS_ioctl, fd, request, arg);
}

static int sys_socket(int domain, int type, int protocol)
{
	return (int)syscall(SYS_socket, domain, type, protocol);
}

struct fs_real fs_real = {
	.socket = sys_socket,
	.setsockopt = sys_setsockopt,
	.getsockopt = sys_getsockopt,
	.ioctl = sys_ioctl,
};
