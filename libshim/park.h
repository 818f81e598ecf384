/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * park.h - what happens to a local listener no epoll set reads any more
 * (its worker stopped accepting there, e.g. nginx's accept_mutex): at the
 * process's next wait, after a grace (0 by default), it is parked
 * (module) or closed (userspace); a parked one is resumed when read
 * again, and closed if connections still wait on it FS_PARK_DRAIN_MS
 * after parking (FS_UNWATCHED_HOLD_MS unless net.ipv4.tcp_migrate_req is
 * 1: closing would reset them). Why: Documentation/shim.md, "A worker
 * that stops waiting".
 *
 * epoll.c tells this file when a local listener stops or starts being
 * read; this file never calls back up.
 */
#ifndef FASTSOCKET_PARK_H
#define FASTSOCKET_PARK_H

#include <stdatomic.h>

#define FS_UNWATCHED_GRACE_MS	0	/* ms */
#define FS_PARK_DRAIN_MS	200	/* ms */
/* An unwatched local listener with connections queued (parked, or in the
 * userspace fallback) is kept open this long when closing it would reset
 * them (net.ipv4.tcp_migrate_req 0), waiting to be read again. */
#define FS_UNWATCHED_HOLD_MS	1000	/* ms */

/* Local listener idx is mirrored into no epoll set that reads it any
 * more. Caller holds the lock. */
void fs_park_unwatched(int idx);

/* ... and is read again: resume it at the next wait if it is parked. */
void fs_park_watched(int idx);

/* Locals marked by fs_park_unwatched(), or 0: the wait hook's test. */
extern _Atomic int fs_unwatched_n;

/* Act on the marked locals that are due (takes the lock). */
void fs_reap_unwatched(void);

/* Called on entry to every wait (epoll_wait, poll, select and kin). */
static inline void fs_wait_hook(void)
{
	if (atomic_load_explicit(&fs_unwatched_n, memory_order_relaxed))
		fs_reap_unwatched();
}

/* Nothing is marked any more (fork child, reset). */
void fs_park_forget_all(void);

#endif /* FASTSOCKET_PARK_H */
