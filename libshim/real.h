/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * real.h - the libc functions the shim intercepts, as the shim calls them.
 *
 * interpose.c fills fs_real once with dlsym(RTLD_NEXT, ...). Everything
 * else in the shim calls these pointers, never the names, so the shim
 * never re-enters itself. The unit tests link the shim's other files
 * without interpose.c and point fs_real at libc directly (or at fakes).
 */
#ifndef FASTSOCKET_REAL_H
#define FASTSOCKET_REAL_H

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

struct fs_real {
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*close)(int);
	int (*shutdown)(int, int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_create)(int);
	int (*epoll_create1)(int);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int,
			    const struct timespec *, const sigset_t *);	/* may be NULL */
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *,
		       const struct timespec *, const sigset_t *);
	int (*close_range)(unsigned int, unsigned int, int);	/* may be NULL */
	void (*closefrom)(int);					/* may be NULL */
	/* Preset to libc's (the unit tests); interpose.c sets them again. */
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*ioctl)(int, unsigned long, ...);
	int (*socket)(int, int, int);
};

extern struct fs_real fs_real;

/*
 * One signature per family, so that a caller passes the real function it
 * stands for (as interpose.c's do_fcntl() does) instead of a flag.
 */
typedef int (*fs_accept_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*fs_dup_fn)(int, int, int);
typedef int (*fs_poll_fn)(struct pollfd *, nfds_t, int,
			  const struct timespec *, const sigset_t *);
typedef int (*fs_select_fn)(int, fd_set *, fd_set *, fd_set *,
			    struct timeval *, const struct timespec *,
			    const sigset_t *);

static inline int fs_real_accept(int fd, struct sockaddr *addr,
				 socklen_t *len, int flags)
{
	(void)flags;
	return fs_real.accept(fd, addr, len);
}

static inline int fs_real_accept4(int fd, struct sockaddr *addr,
				  socklen_t *len, int flags)
{
	return fs_real.accept4(fd, addr, len, flags);
}

static inline int fs_real_dup2(int oldfd, int newfd, int flags)
{
	(void)flags;
	return fs_real.dup2(oldfd, newfd);
}

static inline int fs_real_dup3(int oldfd, int newfd, int flags)
{
	return fs_real.dup3(oldfd, newfd, flags);
}

static inline int fs_real_poll(struct pollfd *fds, nfds_t n, int timeout_ms,
			       const struct timespec *ts, const sigset_t *mask)
{
	(void)ts;
	(void)mask;
	return fs_real.poll(fds, n, timeout_ms);
}

static inline int fs_real_ppoll(struct pollfd *fds, nfds_t n, int timeout_ms,
				const struct timespec *ts, const sigset_t *mask)
{
	(void)timeout_ms;
	return fs_real.ppoll(fds, n, ts, mask);
}

static inline int fs_real_select(int nfds, fd_set *r, fd_set *w, fd_set *x,
				 struct timeval *tv, const struct timespec *ts,
				 const sigset_t *mask)
{
	(void)ts;
	(void)mask;
	return fs_real.select(nfds, r, w, x, tv);
}

static inline int fs_real_pselect(int nfds, fd_set *r, fd_set *w, fd_set *x,
				  struct timeval *tv, const struct timespec *ts,
				  const sigset_t *mask)
{
	(void)tv;
	return fs_real.pselect(nfds, r, w, x, ts, mask);
}

#endif /* FASTSOCKET_REAL_H */
