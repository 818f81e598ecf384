/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.h - the table of managed listening sockets.
 *
 * A managed listener is a TCP socket (IPv4 or IPv6) bound to a configured
 * port through the shim's bind(). It is described by one struct
 * fs_listener per process, named by every fd of the process that refers
 * to it (dup and friends keep the count). Readers are lock-free; writers
 * hold the shim's lock. Releasing a listener closes its local listeners,
 * so that lives in local.c.
 */
#ifndef FASTSOCKET_LISTENER_H
#define FASTSOCKET_LISTENER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fdmap.h"

#define FS_MAX_LISTENERS	4096

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
/* Inherited across exec: its history (TCP-MD5 keys, IPsec policy) is
 * unknown, so the userspace fallback makes no sibling of it. */
#define FS_LST_INHERITED	4u

struct fs_listener {
	_Atomic uint32_t gen;	/* bumped when the slot is freed */
	_Atomic int state;
	_Atomic int nfds;	/* fds of this process naming it */
	_Atomic bool doomed;	/* last fd closed where the lock was not free */
	_Atomic bool nospawn;	/* the fallback cannot work: pass through */
	_Atomic bool refused;	/* the module refuses to copy it: pass through */
	_Atomic unsigned int said;	/* once-only messages printed */
	/* O_NONBLOCK as this process last set or read it (FS_NB_*): accept
	 * needs it on every call, and an fcntl per call would cost the
	 * application a system call per connection. */
	_Atomic int nonblock;
	unsigned int flags;
	int backlog;
	unsigned long ino;	/* socket inode: spots reuse of a stale fd */
	struct sockaddr_storage addr;	/* its address (getsockname) */
	socklen_t addrlen;		/* 0: unknown */
	char name[64];		/* "0.0.0.0:8080", for messages */
};

extern struct fs_listener fs_listeners[FS_MAX_LISTENERS];
extern _Atomic int fs_nlisteners;	/* listeners in FS_LST_LISTENING */

/* Slots ever used: fs_listeners[0 .. fs_listeners_hw()). */
int fs_listeners_hw(void);

static inline uint32_t fs_listener_index(const struct fs_listener *l)
{
	return (uint32_t)(l - fs_listeners);
}

#define FS_NB_UNKNOWN	(-1)

/*
 * Whether l's socket (fd names it) is non-blocking: the cached value,
 * read with fcntl when unknown or when fresh is set (before blocking: a
 * change another process or a raw system call made is not seen by the
 * cache). -1 with errno if fcntl fails.
 */
int fs_listener_nonblock(struct fs_listener *l, int fd, bool fresh);

/* The application set fd's O_NONBLOCK to on (fcntl F_SETFL, FIONBIO). */
void fs_listener_note_nonblock(int fd, bool on);

/* The listener an fdmap entry names, if it still is that listener. */
struct fs_listener *fs_listener_known(fs_ent e);

/* The same, and only if it is listening. */
struct fs_listener *fs_listener_live(fs_ent e);

/*
 * Record bound socket fd as a managed listener (state BOUND), named by fd.
 * NULL if the table is full (said) or fd cannot be recorded. Caller holds
 * the lock.
 */
struct fs_listener *fs_listener_record(int fd, bool app_reuseport);

/* Free slot lid (its locals and records are gone). Caller holds the lock. */
void fs_listener_free(uint32_t lid);

/* l starts listening on fd: read its address again. */
void fs_listener_set_addr(struct fs_listener *l, int fd);

/*
 * l starts listening with SO_REUSEPORT the application set: if another
 * such listener of this process is on the same address, both are
 * per-worker sockets (FS_LST_PER_WORKER). Caller holds the lock.
 */
bool fs_listener_mark_per_worker(struct fs_listener *l);

/* Once-only messages, per listener (bits of fs_listener_say_once()). */
enum {
	SAY_NO_CPU = 1u << 0,			/* placement says no */
	SAY_SPAWN_FAILED = 1u << 1,		/* module SPAWN: fallback */
	SAY_NO_SIBLING = 1u << 2,		/* fallback failed */
	SAY_PER_WORKER_NEEDS_MODULE = 1u << 3,
	SAY_TOO_MANY_LOCALS = 1u << 4,
	SAY_PIN_FAILED = 1u << 5,
	SAY_REGISTER_FAILED = 1u << 6,
	SAY_SPAWN_REFUSED = 1u << 7,		/* module refuses: pass through */
	SAY_STOPPED = 1u << 8,			/* fs_locals_stop() */
};

/*
 * Say fmt once per listener and bit, across the workers forked after
 * listen() (the bits are shared with them, see fs_listener_share_once()).
 */
void fs_listener_say_once(struct fs_listener *l, unsigned int bit,
			  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Map the shared once-only bits if need be; clear l's. */
void fs_listener_share_once(struct fs_listener *l);

/* Every slot free (fs_shim_reset). */
void fs_listeners_reset(void);

/* Helpers about sockets. */
unsigned long fs_fd_ino(int fd);
unsigned int fs_sockaddr_port(const struct sockaddr *sa, socklen_t len);
bool fs_is_tcp(int fd);
void fs_format_addr(int fd, char *buf, size_t len);

#endif /* FASTSOCKET_LISTENER_H */
