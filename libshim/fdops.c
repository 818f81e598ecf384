// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fdops.c - close, dup, dup2, dup3, F_DUPFD, close_range and closefrom:
 * the shim's per-fd state follows the fds.
 */
#include "fdops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdmap.h"
#include "listener.h"
#include "local.h"
#include "real.h"
#include "shim.h"

static __attribute__((noinline)) int close_managed(int fd, fs_ent e)
{
	int rc, err;

	if (!fs_same_process())
		return fs_real.close(fd);
	if (fs_ent_kind(e) == FS_K_LOCAL) {
		fs_local_taken(fd, e, true);
		return fs_real.close(fd);
	}
	e = fs_fdmap_xchg(fd, 0);
	rc = fs_real.close(fd);
	err = errno;
	if (e)
		fs_entry_gone(fd, e);
	errno = err;
	return rc;
}

/* Most closes are of connections the shim knows nothing of: no frame. */
int fs_close(int fd)
{
	fs_ent e = fs_fdmap_get(fd);

	if (!e)
		return fs_real.close(fd);
	return close_managed(fd, e);
}

void fs_closed_elsewhere(int fd)
{
	fs_ent e = fs_fdmap_get(fd);

	if (!e || !fs_same_process())
		return;
	if (fs_ent_kind(e) == FS_K_LOCAL) {
		fs_local_taken(fd, e, false);
		return;
	}
	e = fs_fdmap_xchg(fd, 0);
	if (e)
		fs_entry_gone(fd, e);
}

/* newfd is a new fd for oldfd's file: it carries oldfd's state. */
static void note_dup(int oldfd, int newfd)
{
	fs_ent e = fs_fdmap_get(oldfd);
	struct fs_listener *l;

	fs_forget_stale(newfd);
	if (!e || !fs_same_process())
		return;
	switch (fs_ent_kind(e)) {
	case FS_K_LISTEN:
		l = fs_listener_known(e);
		if (!l)
			break;
		atomic_fetch_add(&l->nfds, 1);
		if (fs_fdmap_set(newfd, e) < 0)
			atomic_fetch_sub(&l->nfds, 1);
		break;
	case FS_K_EPOLL:
		fs_fdmap_set(newfd, e);
		break;
	default:
		break;	/* a dup of the shim's own fd is the app's */
	}
}

int fs_dup(int fd)
{
	int r = fs_real.dup(fd), err = errno;

	if (r >= 0)
		note_dup(fd, r);
	errno = err;
	return r;
}

int fs_fcntl_dupfd(int fd, int cmd, int minfd)
{
	int r = fs_real.fcntl(fd, cmd, minfd), err = errno;

	if (r >= 0)
		note_dup(fd, r);
	errno = err;
	return r;
}

int fs_fcntl_setfl(int fd, int (*real)(int, int, ...), int flags)
{
	fs_ent e = fs_fdmap_get(fd);
	struct fs_listener *l;
	int r = real(fd, F_SETFL, flags), err = errno;

	if (r < 0 || fs_ent_kind(e) != FS_K_LISTEN)
		return r;
	fs_listener_note_nonblock(fd, flags & O_NONBLOCK);
	/* A signal-driven (O_ASYNC) listener: its local listeners raise no
	 * SIGIO, so they stop. */
	if (!(flags & O_ASYNC) || !fs_same_process() || !fs_lock_and_reap())
		return r;
	l = fs_listener_known(e);
	if (l)
		fs_locals_stop(l, e, "the application made it signal-driven (O_ASYNC)");
	fs_unlock();
	errno = err;
	return r;
}

int fs_ioctl(int fd, unsigned long request, void *arg)
{
	int r = fs_real.ioctl(fd, request, arg);

	if (r == 0 && request == FIONBIO)
		fs_listener_note_nonblock(fd, *(const int *)arg != 0);
	return r;
}

/*
 * A managed listener sent to another process (SCM_RIGHTS): that process
 * accepts from the original socket only, while connections of this
 * process's workers' CPUs would keep landing on local listeners here,
 * where nobody may accept any more (the sender may stop waiting, or
 * close). Its local listeners stop before it leaves.
 */
void fs_sending_fds(const struct msghdr *msg)
{
	struct cmsghdr *cm;

	if (!fs_same_process())
		return;
	for (cm = CMSG_FIRSTHDR((struct msghdr *)msg); cm;
	     cm = CMSG_NXTHDR((struct msghdr *)msg, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			fs_ent e;
			struct fs_listener *l;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			e = fs_fdmap_get(fd);
			if (fs_ent_kind(e) != FS_K_LISTEN || !fs_lock_and_reap())
				continue;
			l = fs_listener_known(e);
			if (l)
				fs_locals_stop(l, e, "sent to another process (SCM_RIGHTS)");
			fs_unlock();
		}
	}
}

int fs_dup3(int oldfd, int newfd, int flags, fs_dup_fn real)
{
	fs_ent ne = fs_fdmap_get(newfd), cur;
	bool took_local = false;
	int r, err;

	if ((!ne && !fs_fdmap_get(oldfd)) || oldfd == newfd ||
	    !fs_same_process())
		return real(oldfd, newfd, flags);
	if (fs_ent_kind(ne) == FS_K_LOCAL) {
		/* The app replaces one of the shim's fds: unmirror it while
		 * it is still the local listener. */
		fs_local_taken(newfd, ne, true);
		took_local = true;
	}
	r = real(oldfd, newfd, flags);
	err = errno;
	if (r < 0) {
		if (took_local)
			fs_real.close(newfd);	/* still ours: do not leak it */
		errno = err;
		return r;
	}
	cur = fs_fdmap_xchg(newfd, 0);
	if (cur)
		fs_entry_gone(newfd, cur);
	note_dup(oldfd, newfd);
	errno = err;
	return r;
}

/* ---- close_range, closefrom ---------------------------------------- */

struct range_ctx {
	bool any;
};

static void range_any(int fd, fs_ent e, void *ctx)
{
	(void)fd;
	(void)e;
	((struct range_ctx *)ctx)->any = true;
}

static void range_pre(int fd, fs_ent e, void *ctx)
{
	(void)ctx;
	if (fs_ent_kind(e) == FS_K_LOCAL)
		fs_local_taken(fd, e, true);
}

static void range_post(int fd, fs_ent e, void *ctx)
{
	(void)ctx;
	e = fs_fdmap_xchg(fd, 0);
	if (e)
		fs_entry_gone(fd, e);
}

static int clamp_fd(unsigned int v)
{
	return v >= FS_FD_MAX ? (int)FS_FD_MAX - 1 : (int)v;
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int real_close_range(unsigned int lo, unsigned int hi, int flags)
{
	if (fs_real.close_range)
		return fs_real.close_range(lo, hi, flags);
	return (int)syscall(SYS_close_range, lo, hi, flags);
}

static void real_closefrom(int lo)
{
	if (fs_real.closefrom)
		fs_real.closefrom(lo);
	else
		real_close_range((unsigned int)lo, ~0U, 0);
}

int fs_close_range(unsigned int lo, unsigned int hi, int flags)
{
	struct range_ctx ctx = { false };
	int r, err;

	if (lo > hi || lo >= FS_FD_MAX || (flags & CLOSE_RANGE_CLOEXEC) ||
	    !fs_same_process())
		return real_close_range(lo, hi, flags);
	fs_fdmap_foreach((int)lo, clamp_fd(hi), range_any, &ctx);
	if (!ctx.any)
		return real_close_range(lo, hi, flags);
	fs_fdmap_foreach((int)lo, clamp_fd(hi), range_pre, NULL);
	r = real_close_range(lo, hi, flags);
	err = errno;
	if (r == 0)
		fs_fdmap_foreach((int)lo, clamp_fd(hi), range_post, NULL);
	errno = err;
	return r;
}

void fs_closefrom(int lo)
{
	struct range_ctx ctx = { false };

	if (lo < 0)
		lo = 0;
	if (fs_same_process())
		fs_fdmap_foreach(lo, -1, range_any, &ctx);
	if (!ctx.any) {
		real_closefrom(lo);
		return;
	}
	fs_fdmap_foreach(lo, -1, range_pre, NULL);
	real_closefrom(lo);
	fs_fdmap_foreach(lo, -1, range_post, NULL);
}
