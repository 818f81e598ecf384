/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listen.h - managed listening sockets and their local listeners.
 *
 * A managed listener is a TCP socket (IPv4 or IPv6) bound to a configured
 * port through the shim's bind(). It is described by one struct
 * fs_listener per process, named by every fd of the process that refers
 * to it (dup and friends keep the count). Each worker thread that waits
 * on it gets one struct fs_local: its own CPU-local listener, created on
 * its first wait, accepted from first, closed when the thread exits, the
 * listener is closed or shut down, or the process forks (the child makes
 * its own).
 *
 * Lifetimes and locking: the tables are static arrays. Readers on the
 * accept path are lock-free; everything that creates or destroys state
 * holds fs_lock, a mutex that close() also takes, except when close()
 * runs in a signal handler that interrupted the lock's holder (see
 * fs_lock()).
 */
#ifndef FASTSOCKET_LISTEN_H
#define FASTSOCKET_LISTEN_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "fdmap.h"

#define FS_MAX_LISTENERS	4096
#define FS_MAX_LOCALS		4096
#define FS_TLS_CACHE		16

#define FS_LOCAL_DEAD		(-1)	/* closed: make a new one on the next wait */
#define FS_LOCAL_NONE		(-2)	/* this worker passes through */

enum fs_listener_state {
	FS_LST_FREE = 0,
	FS_LST_BOUND,		/* bind() done, listen() not yet */
	FS_LST_LISTENING,
	FS_LST_SHUT,		/* shutdown(SHUT_RD): not listening */
};

#define FS_LST_APP_REUSEPORT	1u	/* the app set SO_REUSEPORT itself */
/* One of several such sockets on one address: a server's per-worker
 * sockets (nginx "reuseport"). Each worker's own socket is registered as
 * its CPU's local listener; nothing is copied. */
#define FS_LST_PER_WORKER	2u

struct fs_listener {
	_Atomic uint32_t gen;	/* bumped when the slot is freed */
	_Atomic int state;
	_Atomic int nfds;	/* fds of this process naming it */
	_Atomic bool doomed;	/* last fd closed where the lock was not free */
	_Atomic bool nospawn;	/* the fallback cannot work: pass through */
	_Atomic unsigned int said;	/* once-only messages printed */
	unsigned int flags;
	int backlog;
	unsigned long ino;	/* socket inode: spots reuse of a stale fd */
	char name[64];		/* "0.0.0.0:8080", for messages */
};

struct fs_local {
	_Atomic uint64_t key;	/* 0: free; else fs_local_key() */
	_Atomic int fd;		/* >= 0, FS_LOCAL_DEAD or FS_LOCAL_NONE */
	_Atomic uint32_t gen;	/* generation in the fd's fdmap entry */
	int cpu;
	unsigned int flip;	/* owner thread only: accept order */
	bool kmod;		/* made by the module */
	bool parked;		/* FASTSOCKET_IOC_PARK'ed (under the lock) */
	/* ms: since when no epoll set reads it, or since it was parked; 0 */
	_Atomic int64_t unwatched;
};

extern struct fs_listener fs_listeners[FS_MAX_LISTENERS];
extern struct fs_local fs_locals[FS_MAX_LOCALS];
extern _Atomic int fs_nlisteners;	/* listeners in FS_LST_LISTENING */

static inline uint64_t fs_local_key(uint32_t lid, uint32_t lgen, pid_t tid)
{
	return ((uint64_t)(lid & 0xfff) << 52) |
	       ((uint64_t)(lgen & 0xfffff) << 32) | (uint32_t)tid;
}

static inline pid_t fs_local_key_tid(uint64_t key)
{
	return (pid_t)(uint32_t)key;
}

/* Library setup, from the constructor (after fs_real is filled). */
void fs_shim_init(void);

/* The calling thread's id (cached per thread). */
pid_t fs_tid(void);

/*
 * The shim's lock. fs_lock() returns false without locking when the
 * calling thread already holds it: a signal handler interrupted the shim,
 * and the caller must do without (pass through, or defer).
 */
bool fs_lock(void);
void fs_unlock(void);

/* The effective FASTSOCKET_MODE (0 when the config is invalid). */
int fs_mode(void);

/* The listener an fdmap entry names, if it still is that listener. */
struct fs_listener *fs_listener_known(fs_ent e);

/* The same, and only if it is listening. */
struct fs_listener *fs_listener_live(fs_ent e);

/*
 * The calling thread's live local listener for the listener of entry e
 * (the app's fd is fd), made on this first wait if need be: this is where
 * the worker is pinned. NULL when the worker passes through.
 */
struct fs_local *fs_wait_local(fs_ent e, int fd);

/*
 * Local listener idx is mirrored into no epoll set that reads it any more
 * (its worker deleted the listening fd from its epoll set, e.g. nginx's
 * accept_mutex): unless read again by then, it is parked (module) or
 * closed (userspace) at the process's next wait, after a grace (0 by
 * default); a parked one is resumed when read again, and closed only if
 * connections wait on it FS_PARK_DRAIN_MS after parking. A worker whose
 * local listener was closed gets a new one on its next wait on the
 * listening fd. Caller holds the lock.
 */
#define FS_UNWATCHED_GRACE_MS	0	/* ms; see listen.c */
#define FS_PARK_DRAIN_MS	200	/* ms; see listen.c */
void fs_local_unwatched(int idx);
/* ... and is read again: resume it at the next wait if it is parked. */
void fs_local_watched(int idx);
void fs_unwatched_set_grace(int ms);	/* for the unit tests */
void fs_park_set_drain(int ms);		/* for the unit tests */

/* Locals marked by fs_local_unwatched(), or 0: the wait hook's test. */
extern _Atomic int fs_unwatched_n;

/* Close the marked locals still unread after the grace (takes the lock). */
void fs_reap_unwatched(void);

/* Called on entry to every wait (epoll_wait, poll, select and kin). */
static inline void fs_wait_hook(void)
{
	if (atomic_load_explicit(&fs_unwatched_n, memory_order_relaxed))
		fs_reap_unwatched();
}

/*
 * Manage the listening TCP sockets on configured ports that are open
 * (inherited across exec) and have SO_REUSEPORT. Run by fs_shim_init();
 * also for the unit tests.
 */
void fs_adopt_inherited(void);

/* Intercepted entry points (see interpose.c). */
int fs_bind(int fd, const struct sockaddr *addr, socklen_t len);
int fs_listen(int fd, int backlog);
int fs_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags,
	      bool four);
int fs_close(int fd);
int fs_shutdown(int fd, int how);
int fs_dup(int fd);
int fs_dup3(int oldfd, int newfd, int flags, bool three);
int fs_fcntl_dupfd(int fd, int cmd, int minfd);
int fs_close_range(unsigned int lo, unsigned int hi, int flags);
void fs_closefrom(int lo);

/* Fork handlers (registered with pthread_atfork by fs_shim_init). */
void fs_atfork_prepare(void);
void fs_atfork_parent(void);
void fs_atfork_child(void);

/* Forget all state (unit tests): closes local listeners. */
void fs_listen_reset(void);

#endif /* FASTSOCKET_LISTEN_H */
