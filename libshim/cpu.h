/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cpu.h - choosing and pinning the CPU a worker serves.
 *
 * fs_cpu_plan() and fs_cpu_least_loaded() are pure. The load table is a
 * small MAP_SHARED anonymous mapping made when the first managed socket
 * starts listening, so every worker forked after that sees the same
 * per-CPU counts. Each reservation also records the thread that holds it,
 * so a worker that died (killed, crashed) gives its CPU back the next time
 * a worker is placed.
 */
#ifndef FASTSOCKET_CPU_H
#define FASTSOCKET_CPU_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

enum fs_cpu_how {
	FS_CPU_NONE,	/* no local listener for this worker (see why) */
	FS_CPU_KEEP,	/* the worker already runs on exactly one CPU: cpu */
	FS_CPU_PICK,	/* pick the least-loaded CPU of from, then pin */
};

struct fs_cpu_plan {
	int how;
	int cpu;		/* FS_CPU_KEEP */
	cpu_set_t from;		/* FS_CPU_PICK */
	const char *why;	/* FS_CPU_NONE: for the one info line */
};

/* The one CPU in set, or -1 when it has none or several. */
int fs_cpu_only(const cpu_set_t *set);

/*
 * Decide how a worker that waits on a listening socket for the first time
 * is placed.
 * mode:	0, 1 or 2 (FASTSOCKET_MODE)
 * aff:		the thread's CPU affinity now
 * shim_base:	NULL, or the affinity the thread had before the shim pinned
 *		it (the shim pinned it, or the process it was forked from)
 * allowed:	FASTSOCKET_CPUS (default: the process's affinity at start)
 * Mode 1 keeps a single-CPU affinity. Mode 2 keeps one the application
 * chose itself and otherwise picks from (shim_base or aff) & allowed.
 */
void fs_cpu_plan(int mode, const cpu_set_t *aff, const cpu_set_t *shim_base,
		 const cpu_set_t *allowed, struct fs_cpu_plan *plan);

/*
 * The CPU of from with the smallest count (counts indexed by CPU number,
 * ncounts long); ties go to the lowest CPU number. -1 if from is empty.
 */
int fs_cpu_least_loaded(const cpu_set_t *from, const uint32_t *counts,
			int ncounts);

/* Pin the calling thread to cpu. 0 or -1 with errno. */
int fs_cpu_pin(int cpu);

/*
 * The shim's own sched_setaffinity(0, ...): the system call itself (libc's
 * name is the shim's interposer, a layer above), counted in
 * fs_cpu_affinity_gen. 0 or -1 with errno.
 */
int fs_cpu_setaffinity(const cpu_set_t *set);

/*
 * Bumped on every affinity change the shim sees (its own, and the
 * application's sched_setaffinity and pthread_setaffinity_np): a thread
 * that cached its CPU (rfd.c) reads its affinity again.
 */
extern _Atomic unsigned int fs_cpu_affinity_gen;

static inline void fs_cpu_affinity_changed(void)
{
	atomic_fetch_add_explicit(&fs_cpu_affinity_gen, 1, memory_order_relaxed);
}

#define FS_LOAD_SLOTS	4096

enum fs_slot_state {
	FS_SLOT_FREE = 0,
	FS_SLOT_WRITING = 1,	/* being filled by fs_load_reserve() */
	FS_SLOT_HELD = 2,	/* a live reservation */
	FS_SLOT_REAPING = 3,	/* being given back */
};

struct fs_load_slot {
	_Atomic int32_t state;	/* enum fs_slot_state */
	_Atomic int32_t pid;
	_Atomic int32_t tid;
	_Atomic int32_t cpu;
};

struct fs_load {
	uint32_t magic;
	_Atomic uint32_t count[FS_MAX_CPUS];	/* workers placed per CPU */
	struct fs_load_slot slot[FS_LOAD_SLOTS];
};

/* A new zeroed MAP_SHARED anonymous table, or NULL. */
struct fs_load *fs_load_new(void);
void fs_load_free(struct fs_load *load);

/*
 * Place the thread (pid, tid): give back the CPUs of holders that no
 * longer exist, take the least-loaded CPU of from and count it. Safe
 * against other processes doing the same at the same time (the count is
 * taken with a compare-and-swap). Returns the CPU, or -1 if from is empty;
 * *slot is the reservation to pass to fs_load_release(), or -1.
 */
int fs_load_reserve(struct fs_load *load, const cpu_set_t *from, pid_t pid,
		    pid_t tid, int *slot);

/* Give a reservation back (thread exit). */
void fs_load_release(struct fs_load *load, int slot);

/* Give back the reservations of threads that no longer exist. */
void fs_load_reap(struct fs_load *load);

#endif /* FASTSOCKET_CPU_H */
