/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mirror.h - making the local listener invisible: whatever the application
 * asks of the listening fd in an epoll set, poll() or select(), the shim
 * asks of the caller's local listener too, and reports readiness of the
 * local listener as readiness of the listening fd.
 *
 * epoll: one record per (epoll instance, listening fd) the application
 * registered, holding its events and epoll_data, its owner (the thread
 * that registered it) and the local listener mirrored for it, if any. A
 * record whose owner has no local listener yet is pending: the owner's
 * first local listener is added to it when it is made. Records change
 * under fs_lock only.
 */
#ifndef FASTSOCKET_MIRROR_H
#define FASTSOCKET_MIRROR_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/types.h>

#define FS_MAX_MIRRORS	4096

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
int fs_ppoll(struct pollfd *fds, nfds_t n, int timeout_ms,
	     const struct timespec *ts, const sigset_t *mask, bool use_ts);
int fs_pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv,
	       const struct timespec *ts, const sigset_t *mask, bool use_ts);

/* Is local listener @local mirrored, for reading, into some epoll set?
 * The caller holds fs_lock. */
bool fs_mirror_local_watched(int local);

/* Hooks for listen.c; the caller holds fs_lock. */
void fs_mirror_on_spawn(uint32_t lid, uint32_t lgen, int local, int local_fd,
			pid_t tid);
void fs_mirror_on_local_gone(int local, int local_fd);
void fs_mirror_drop_listener(uint32_t lid);
void fs_mirror_drop_owner(pid_t tid);
void fs_mirror_fork_child(pid_t old_tid, pid_t new_tid);
void fs_mirror_reset(void);

/* Inspection for the unit tests: the record for (epfd, fd), if any. */
bool fs_mirror_lookup(int epfd, int fd, pid_t *owner, int *local,
		      struct epoll_event *ev);

#endif /* FASTSOCKET_MIRROR_H */
