/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mirror.h - the epoll mirror records.
 *
 * One record per (epoll instance, listening fd) the application
 * registered, holding its events and epoll_data, its owner (the thread
 * that registered it) and the local listener mirrored for it, if any. A
 * record whose owner has no local listener yet is pending: the owner's
 * first local listener is added to it when it is made. epoll.c makes
 * and changes records on epoll_ctl; local.c reports the two lifecycle
 * events of a local listener. Records change under the shim's lock only.
 */
#ifndef FASTSOCKET_MIRROR_H
#define FASTSOCKET_MIRROR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>

#define FS_MAX_MIRRORS	4096

/* What reading a listening fd means in an epoll registration. */
#define FS_EPOLL_READ	((uint32_t)(EPOLLIN | EPOLLRDNORM))

struct fs_mirror {
	bool used;
	uint32_t epid;		/* the epoll instance (its fdmap identity) */
	int epfd;		/* an fd of it, as last seen */
	int fd;			/* the application's listening fd */
	uint32_t lid, lgen;	/* the listener */
	pid_t owner;		/* the thread that registered it */
	int local;		/* local listener index mirrored, or -1: pending */
	int local_fd;
	struct epoll_event ev;	/* as the application gave it */
};

/*
 * A mirrored registration carries a tag, not the application's
 * epoll_data: epoll_wait then tells the local listener's event from the
 * listening fd's own, gives the application its data, and reports the
 * two as one (fs_mirror_fix_events). User-space pointers and small
 * integers never have these top 16 bits.
 */
#define FS_MIRROR_TAG_BASE	0xfa57000000000000ull
#define FS_MIRROR_TAG_MASK	0xffff000000000000ull

/* The tag of record r. */
uint64_t fs_mirror_tag(const struct fs_mirror *r);
/*
 * n events from an epoll_wait on epfd, an epoll fd with records: tags
 * become the application's data; a local listener's event reported with
 * its listening fd's is merged into it; with EPOLLONESHOT, the one of the
 * two registrations that did not fire is disarmed (one event, as for one
 * socket). What the wait saw of a local listener and its listening fd
 * is passed to seen(): both ready (FS_SAW_BOTH), or, for a
 * level-triggered registration reported alone by a wait that returned
 * fewer than max events (so the kernel looked at both), the other one
 * empty: the local listener alone (FS_SAW_LOCAL) or the listening fd
 * alone (FS_SAW_ORIGINAL; not where EPOLLEXCLUSIVE may have woken
 * another epoll set in this one's place).
 * Returns the new count. Lock-free (reads records only).
 */
enum fs_saw { FS_SAW_BOTH, FS_SAW_LOCAL, FS_SAW_ORIGINAL };

int fs_mirror_fix_events(int epfd, struct epoll_event *ev, int n, int max,
			 void (*seen)(int local, enum fs_saw what));

/* Data an application gave a mirrored listening fd (fix_events looks up
 * only events whose data was ever noted). */
void fs_mirror_note_data(uint64_t data);

/*
 * The identity of epoll fd epfd; made on first use if create. 0: none.
 * Its fdmap entry's index says whether another process may share the
 * epoll instance: FS_EPOLL_PRIVATE only for one this process made (the
 * interposed epoll_create) since it last forked, or was forked.
 */
#define FS_EPOLL_SHARED		0u
#define FS_EPOLL_PRIVATE	1u
uint32_t fs_epoll_id(int epfd, bool create);

/* epoll_create made epfd: it is this process's alone. Caller holds the
 * lock. */
void fs_epoll_created(int epfd);

/* epfd is an epoll instance no other process shares. */
bool fs_epoll_private(int epfd);

/* About to fork: every epoll instance is shared from now on. Caller
 * holds the lock. */
void fs_epoll_forking(void);

/* How many live records have local listener local mirrored. Caller holds
 * the lock. */
int fs_mirror_sharers(int local);

/* The record for (epoll identity, fd), or NULL. */
struct fs_mirror *fs_mirror_find(uint32_t epid, int fd);

/* A free record (left for the caller to fill), or NULL when full. */
struct fs_mirror *fs_mirror_alloc(void);

/* Put local listener lfd (index local) into r's epoll set. */
void fs_mirror_add_local(struct fs_mirror *r, int local, int lfd);

/* Is local listener local mirrored, for reading, into some epoll set?
 * Caller holds the lock. */
bool fs_mirror_local_watched(int local);

/*
 * The two lifecycle events of a local listener (from local.c; caller
 * holds the lock): thread tid's local listener local_fd (index local) for
 * listener (lid, lgen) was made: mirror it into the records pending for
 * it. Local listener local is gone: take local_fd (if >= 0) out of the
 * epoll sets, and the records wait again.
 */
void fs_mirror_on_spawn(uint32_t lid, uint32_t lgen, int local, int local_fd,
			pid_t tid);
void fs_mirror_on_local_gone(int local, int local_fd);

/*
 * Local listener lfd (index local) was just taken out of epoll instance
 * epid for record except; another record there (the application's dup of
 * the listening fd) still mirrors it: put it back for that one.
 */
void fs_mirror_restore(uint32_t epid, int local, int lfd,
		       const struct fs_mirror *except);
/* Drop the records of a released listener, of an ended thread. */
void fs_mirror_drop_listener(uint32_t lid);
void fs_mirror_drop_owner(pid_t tid);

/* Is local listener local mirrored into some epoll set (any events)? */
bool fs_mirror_has_local(int local);
/* In a fork child: the forking thread's records become the child's,
 * pending unless their local listener was kept. */
void fs_mirror_fork_child(pid_t old_tid, pid_t new_tid);

/* No records (fs_shim_reset). */
void fs_mirror_reset(void);

#endif /* FASTSOCKET_MIRROR_H */
