/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * local.h - local listeners: each worker thread that waits on a managed
 * listener gets one, its own CPU-local listening socket, made on its first
 * wait, accepted from first, closed when the thread exits, the listener
 * is closed or shut down, or the process forks (the child makes its own).
 *
 * The table is a static array. Readers on the accept path are lock-free;
 * everything that creates or destroys a slot holds the shim's lock.
 * A slot is named by a key packing (listener index, listener generation,
 * thread id).
 */
#ifndef FASTSOCKET_LOCAL_H
#define FASTSOCKET_LOCAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <sys/socket.h>

#include "fdmap.h"

struct fs_listener;

#define FS_MAX_LOCALS		4096

#define FS_LOCAL_DEAD		(-1)	/* closed: make a new one on the next wait */
#define FS_LOCAL_NONE		(-2)	/* this worker passes through */
/* The original listener waits at most this many accepts (accept.c). */
#define FS_ORIGINAL_EVERY	64

#define FS_ORPHAN_TID		0x7fffffff	/* no thread's (above any tid) */

struct fs_local {
	_Atomic uint64_t key;	/* 0: free; else fs_local_key() */
	_Atomic int fd;		/* >= 0, FS_LOCAL_DEAD or FS_LOCAL_NONE */
	_Atomic uint32_t gen;	/* generation in the fd's fdmap entry */
	int cpu;
	/* accepts since the original listener was last tried (accept.c) */
	_Atomic unsigned int since_original;
	/* the wait (fs_wait_token()) that last saw the original empty, the
	 * one that last saw it ready with the local listener, and the one
	 * that last saw this local listener empty (epoll.c, wait_saw) */
	_Atomic uint64_t original_empty_at;
	_Atomic uint64_t original_ready_at;
	_Atomic uint64_t local_empty_at;
	unsigned int flip;	/* owner thread: turns when both are ready */
	bool kmod;		/* made by the module */
	_Atomic bool accepted;	/* its owner has called accept on it */
	bool parked;		/* FASTSOCKET_IOC_PARK'ed (park.c, under the lock) */
	/* ms: since when no epoll set reads it, or since it was parked; 0
	 * (park.c) */
	_Atomic int64_t unwatched;
};

/* Key layout: bits 52-63 listener index, 32-51 its generation, 0-31 tid. */
#define FS_KEY_LID_BITS		12
#define FS_KEY_LGEN_BITS	20
#define FS_KEY_LID_MASK		((1u << FS_KEY_LID_BITS) - 1)
#define FS_KEY_LGEN_MASK	((1u << FS_KEY_LGEN_BITS) - 1)
#define FS_KEY_LGEN_SHIFT	32
#define FS_KEY_LID_SHIFT	(FS_KEY_LGEN_SHIFT + FS_KEY_LGEN_BITS)

static inline uint64_t fs_local_key(uint32_t lid, uint32_t lgen, pid_t tid)
{
	return ((uint64_t)(lid & FS_KEY_LID_MASK) << FS_KEY_LID_SHIFT) |
	       ((uint64_t)(lgen & FS_KEY_LGEN_MASK) << FS_KEY_LGEN_SHIFT) |
	       (uint32_t)tid;
}

static inline uint32_t fs_local_key_lid(uint64_t key)
{
	return (uint32_t)(key >> FS_KEY_LID_SHIFT) & FS_KEY_LID_MASK;
}

static inline uint32_t fs_local_key_lgen(uint64_t key)
{
	return (uint32_t)(key >> FS_KEY_LGEN_SHIFT) & FS_KEY_LGEN_MASK;
}

static inline pid_t fs_local_key_tid(uint64_t key)
{
	return (pid_t)(uint32_t)key;
}

/* Slot idx (0 <= idx < FS_MAX_LOCALS), and the index of a slot. */
struct fs_local *fs_local_at(int idx);
int fs_local_index(const struct fs_local *loc);

/* Slots ever used: 0 .. fs_locals_hw() - 1. */
int fs_locals_hw(void);

/*
 * The calling thread's live local listener for the listener of entry e
 * (the app's fd is fd), made on this first wait if need be: this is where
 * the worker is pinned. NULL when the worker passes through.
 */
struct fs_local *fs_wait_local(fs_ent e, int fd);

/*
 * Close a local listener the shim still owns: take it out of the epoll
 * sets it was mirrored into, then close it. free_slot: the slot is
 * released (else it stays FS_LOCAL_DEAD, made again on the next wait).
 * Caller holds the lock.
 */
void fs_local_close(int idx, bool free_slot);

/* Close listener (lid, lgen)'s local listeners. Caller holds the lock. */
void fs_locals_close_of(uint32_t lid, uint32_t lgen, bool free_slots);

/* listen() again on (lid, lgen): the userspace local listeners follow. */
void fs_locals_relisten(uint32_t lid, uint32_t lgen, int backlog);

/*
 * The application set an option on listener (lid, lgen): give it to the
 * local listeners of this process too. False when one refuses it (the
 * caller then stops using them). Caller holds the lock.
 */
bool fs_locals_setsockopt(uint32_t lid, uint32_t lgen, int level, int name,
			  const void *val, socklen_t len);
/*
 * Listener l (named by entry e) must have no local listener from now on
 * (why: said once): this process's are closed, no worker makes one again
 * and each passes through. Caller holds the lock.
 */
void fs_locals_stop(struct fs_listener *l, fs_ent e, const char *why);
/*
 * The calling worker cannot use its local listener loc (why: debug
 * line): close it; the worker passes through for that listener.
 */
void fs_local_refuse(struct fs_local *loc, const char *why);
/*
 * Other threads' live local listeners of the listener loc belongs to, in
 * this process: up to max of their fds into fds (idle_only: only those
 * whose owner never called accept, a thread that only waits, or that no
 * epoll set reads, or an orphan). Lock-free; without the lock an fd read
 * may be closed meanwhile (poll: a spurious wake-up at worst), so accept
 * on them only with the lock held.
 */
int fs_locals_others(const struct fs_local *loc, bool idle_only, int *fds,
		     int max);

/*
 * The application closed (still_open: is about to close, or replace with
 * dup2) fd, one of the shim's local listeners.
 */
void fs_local_taken(int fd, fs_ent e, bool still_open);

/*
 * Listeners whose last fd was closed where the lock was taken (a signal
 * handler) are released at the next fs_lock_and_reap().
 */
bool fs_lock_and_reap(void);

/* fd, which carried entry e, no longer refers to what e names. */
void fs_entry_gone(int fd, fs_ent e);

/*
 * A new fd (from accept, dup) cannot carry state: if the table has some,
 * the fd it was about was closed behind the shim's back. Forget it.
 */
void fs_forget_stale(int fd);

/* fd is being reused for something new (bind, listen): is e about it? */
void fs_forget_if_stale(int fd, fs_ent e);

#endif /* FASTSOCKET_LOCAL_H */
