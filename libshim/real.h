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
};

extern struct fs_real fs_real;

#endif /* FASTSOCKET_REAL_H */
