/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * place.h - placing a worker on a CPU and choosing who makes its local
 * listener: the module (FASTSOCKET_IOC_SPAWN), the userspace fallback
 * (a sibling socket), or nobody (the worker's own per-worker socket is
 * registered, or the worker passes through).
 */
#ifndef FASTSOCKET_PLACE_H
#define FASTSOCKET_PLACE_H

#include <stdbool.h>

struct fs_listener;

struct fs_placed {
	int fd;			/* the new local listener, non-blocking */
	int cpu;		/* the CPU it serves */
	bool kmod;		/* made by the module */
};

/*
 * Place the calling worker and make its local listener for l (the app's
 * fd is fd). True with *out filled, or false: the worker passes through
 * for l (its own socket may have been registered). Caller holds the lock.
 */
bool fs_place_local(struct fs_listener *l, int fd, struct fs_placed *out);

/* Map the shared load table if there is none (mode 2, first listen). */
void fs_place_share_load(void);

/* The calling thread ends: give its reservation back. */
void fs_place_release_self(void);

/* Forget the load table and the thread's placement (fs_shim_reset). */
void fs_place_reset(void);

#endif /* FASTSOCKET_PLACE_H */
