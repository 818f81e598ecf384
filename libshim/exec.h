/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exec.h - running another program, and sharing the fd table with a
 * process that has a copy of the shim's memory (clone(CLONE_FILES)).
 */
#ifndef FS_EXEC_H
#define FS_EXEC_H

#include <sched.h>
#include <stdbool.h>

/* What fs_exec_unpin() changed, for fs_exec_repin(). */
struct fs_exec_pin {
	bool unpinned;
	cpu_set_t pinned;
};

/*
 * Before exec or posix_spawn: give the calling thread back the affinity
 * it had before the shim pinned it, so the program it starts does not
 * inherit the pin. fs_exec_repin() undoes it (exec failed; posix_spawn's
 * parent goes on). Async-signal-safe (a vfork child may call it).
 */
void fs_exec_unpin(struct fs_exec_pin *p);
void fs_exec_repin(const struct fs_exec_pin *p);

/*
 * clone() with CLONE_FILES but not CLONE_THREAD is about to run: from
 * now on another process closes and dups in this fd table without this
 * process's shim seeing it. Every managed listener stops its local
 * listeners and passes through, and no new ones are made.
 */
void fs_sharing_fd_table(void);

#endif
