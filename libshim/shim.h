/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shim.h - the shim's core: its lock, the per-thread state, the process
 * the state belongs to, one clock. Every other file may use it.
 *
 * Layers, top to bottom. A file calls only into files below it, never
 * back up (tools/check-layers fails on a cycle; run it with
 * "make -C libshim check-layers"):
 *
 *   interpose.c    the exported entry points, the wait hook
 *   init.c         constructor, FASTSOCKET_* reading, fork, thread exit
 *   bind.c accept.c fdops.c epoll.c pollsel.c sockopt.c exec.c rfd.c
 *                  one mechanism per family of entry points (rfd.c:
 *                  connect()'s port block, fed by socket/bind/setsockopt)
 *   park.c         unwatched -> park -> drain -> close policy
 *   orphan.c       local listeners no thread owns (thread exit, fork)
 *   local.c        local-listener table, spawn on first wait, what an fd
 *                  that stops naming something takes with it
 *   place.c        placing a worker; module copy, sibling or own socket
 *   mode.c         the effective FASTSOCKET_MODE, the module probe
 *   listener.c mirror.c
 *                  listener table; epoll mirror records
 *   dev.c sibling.c cpu.c
 *                  /dev/fastsocket client; sibling sockets; CPU choice
 *   shim.c         this file's lock, thread state and process identity
 *   fdmap.c log.c config.c
 *                  per-fd words; messages; FASTSOCKET_* parsing
 *
 * Upward news travels as data, not calls: local.c tells mirror.c (below
 * it) of two lifecycle events, a local listener made and one gone;
 * epoll.c tells park.c (below it) when a local listener stops or starts
 * being read.
 */
#ifndef FASTSOCKET_SHIM_H
#define FASTSOCKET_SHIM_H

#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define FS_TLS_CACHE	16

/* Per thread. Copied into a forked child, which fixes it up. */
struct fs_thread {
	pid_t tid;
	int cpu;		/* CPU the shim placed this worker on, or -1 */
	bool shim_pinned;	/* affinity set by the shim (here or in a parent) */
	bool exit_armed;	/* the thread-exit destructor will run */
	/* Set before this thread takes the shim's lock and cleared after it
	 * let it go: a signal handler that interrupts the thread anywhere in
	 * between sees it and does not wait for the lock (it could never
	 * get it). Only this thread and its handlers touch it. */
	volatile sig_atomic_t in_lock;
	int load_slot;		/* reservation in the load table, or -1 */
	uint16_t ncache;
	uint16_t cache[FS_TLS_CACHE];	/* indexes of this thread's locals */
	cpu_set_t base;		/* affinity before the shim pinned it */
};

/*
 * The TLS model of fs_self: initial-exec in the library. The testing
 * archive (FS_TESTING) only ever goes into executables, where the linker
 * turns initial-exec into local-exec anyway, so it says local-exec at
 * once: the linker's rewrite of "add x@gottpoff(%rip), %reg" is a lea,
 * which sets no flags, and GCC 12's UBSan null check of &fs_self jumps on
 * the flags of that add: under -fsanitize=undefined every unit test
 * touching fs_self reported a null pointer that was not (make
 * check-sanitize, Documentation/sanitizers.md).
 */
#ifdef FS_TESTING
#define FS_TLS_MODEL "local-exec"
#else
#define FS_TLS_MODEL "initial-exec"
#endif

/* The calling thread's state. */
extern __thread struct fs_thread fs_self
	__attribute__((tls_model(FS_TLS_MODEL)));

pid_t fs_tid_slow(void);

/* The calling thread's id (cached per thread; inline: several per call). */
static inline pid_t fs_tid(void)
{
	return fs_self.tid ? fs_self.tid : fs_tid_slow();
}

/*
 * False in a vfork() child (it shares our memory but not our fds): there
 * the shim must not touch its tables, whatever the child closes or dups.
 */
bool fs_same_process(void);

/* The state is this process's from now on (init, fork child, reset). */
void fs_own_process(void);

/*
 * Another process shares this one's fd table (clone(CLONE_FILES), see
 * exec.c): no local listener is made from then on. Cleared only by the
 * unit tests' reset.
 */
extern _Atomic bool fs_fd_table_shared;

/*
 * The shim's lock. fs_lock() returns false without locking when the
 * calling thread holds it, is taking it or is letting it go: a signal
 * handler interrupted the shim there, and the caller must do without
 * (pass through, or defer). Async-signal-safe in that sense: a handler
 * that re-enters the shim never waits for a lock its own thread holds.
 */
bool fs_lock(void);
void fs_unlock(void);

/* In a fork child: a fresh, free lock; the thread id is read again. */
void fs_lock_fork_child(void);

/*
 * Where a function needs the lock held: checked in the unit tests'
 * build (FS_TESTING), nothing in the library.
 */
#ifdef FS_TESTING
void fs_assert_locked_in(const char *func);
#define fs_assert_locked()	fs_assert_locked_in(__func__)
#else
#define fs_assert_locked()	((void)0)
#endif

/*
 * Thread exit: fs_thread_exit_init() names what runs when a thread that
 * called fs_thread_arm_exit() ends.
 */
void fs_thread_exit_init(void (*on_exit)(void *));
void fs_thread_arm_exit(void);

/* The shim's one clock: monotonic milliseconds. */
static inline int64_t fs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* FASTSOCKET_SHIM_H */
