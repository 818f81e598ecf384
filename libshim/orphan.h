/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * orphan.h - local listeners no thread owns (orphan.c).
 */
#ifndef FS_ORPHAN_H
#define FS_ORPHAN_H

#include <stdbool.h>
#include <sys/types.h>

#include "fdmap.h"
#include "local.h"

/* Thread tid ends: close its local listeners, or leave them to the
 * other threads as orphans (orphan.c says which). Caller holds the lock. */
void fs_locals_close_thread(pid_t tid);

/* Local listener fd lfd was found empty: closed if an orphan. Caller
 * holds the lock. */
void fs_orphan_drained(int lfd);
/* loc is an orphan: no thread's. */
bool fs_local_is_orphan(const struct fs_local *loc);
/*
 * Close every local listener and free every slot (reset); their fds
 * leave the fd map.
 */
void fs_locals_forget_all(void);
/*
 * The same in a fork child, except the forking thread's (old_tid) that
 * are mirrored into epoll sets, which the child now shares: those stay,
 * as orphans, and their listeners make no local listener in the child.
 */
void fs_locals_fork_child(pid_t old_tid);
/* A live orphan local listener of listener entry e, or NULL. Lock-free. */
struct fs_local *fs_local_orphan_of(fs_ent e);

#endif
