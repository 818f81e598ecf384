/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * epoll.h - epoll_ctl of a listening fd is repeated for the caller's
 * local listener with the same events (EPOLLEXCLUSIVE, EPOLLET,
 * EPOLLONESHOT included) and the same epoll_data, so an event on the
 * local listener reaches the application as an event on its listening
 * fd; epoll_wait itself is not changed. The records are mirror.h's.
 */
#ifndef FASTSOCKET_EPOLL_H
#define FASTSOCKET_EPOLL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>

enum fs_mirror_act {
	FS_MIRROR_NONE,
	FS_MIRROR_ADD,		/* add the caller's local listener */
	FS_MIRROR_MOD,		/* modify the record's local listener */
	FS_MIRROR_DEL,		/* remove the record's local listener */
};

enum fs_mirror_rec {
	FS_REC_KEEP,
	FS_REC_SET,		/* (re)create: owner = caller, events = new */
	FS_REC_UPDATE,		/* events = new */
	FS_REC_DROP,
};

struct fs_mirror_step {
	bool undo;		/* first remove the old record's local listener */
	int act;		/* enum fs_mirror_act */
	int rec;		/* enum fs_mirror_rec */
};

/*
 * The pure decision: the application's epoll_ctl(op) on a listening fd
 * succeeded; what happens to the local listener and to the record?
 * have_rec:		a record for this (epoll, fd) exists
 * rec_mirrored:	it has a local listener in the epoll set
 * rec_is_caller:	the caller owns it
 * caller_local:	the caller has a live local listener
 */
void fs_mirror_decide(int op, bool have_rec, bool rec_mirrored,
		      bool rec_is_caller, bool caller_local,
		      struct fs_mirror_step *step);

/* Intercepted entry points. */
int fs_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
/* After epoll_create/epoll_create1 returned epfd (passed through). */
int fs_epoll_create(int epfd);

/*
 * A mirror DEL is held back (see epoll.c): every interposed call but
 * epoll_ctl calls fs_epoll_flush() first when this is set. The _locked
 * variant for callers that hold the lock (thread exit).
 */
extern _Atomic bool fs_epoll_held;
void fs_epoll_flush(void);
void fs_epoll_flush_locked(void);
/* The calling thread's latest epoll wait (a thread id and a count). */
uint64_t fs_wait_token(void);

/* Before fork, lock held: flush, and every epoll instance becomes shared. */
void fs_epoll_fork_prepare(void);

/*
 * After an epoll_wait on epfd returned n events: the shim's mirrored
 * registrations reported as the application's (fs_mirror_fix_events).
 * Returns the count to give the application. One fd-table lookup for an
 * epoll fd without mirrored registrations.
 */
int fs_epoll_after_wait(int epfd, struct epoll_event *ev, int n, int max);

#endif /* FASTSOCKET_EPOLL_H */
