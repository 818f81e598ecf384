// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * exec.c - the CPU pin is the shim's, not the next program's; an fd
 * table shared with another process is not the shim's to manage.
 *
 * A worker pinned by the shim (mode 2) that runs another program would
 * hand the pin on through exec. The new image cannot tell it from an
 * affinity the application chose, so a server started that way (a binary
 * upgrade that re-execs, a worker that execs a server) would put every
 * one of its workers on that CPU. The thread's affinity from before the
 * pin is put back for the exec, unless the application has changed the
 * affinity since (then it is the application's, and left alone).
 *
 * clone(CLONE_FILES) without CLONE_THREAD makes a process that shares the
 * fd table but whose shim state is a copy (or, with CLONE_VM, whose pid
 * differs, so fs_same_process() keeps it off the tables): its closes and
 * dups never reach this process's tables, which would name fds the child
 * closed or reused. Nothing per-fd can stay true, so the shim stops being
 * involved: local listeners closed, every listener passes through.
 */
#include <errno.h>
#include <stdatomic.h>

#include "cpu.h"
#include "exec.h"
#include "listener.h"
#include "local.h"
#include "log.h"
#include "shim.h"

void fs_exec_unpin(struct fs_exec_pin *p)
{
	const struct fs_thread *me = &fs_self;
	int err = errno;

	p->unpinned = false;
	if (!me->shim_pinned ||
	    sched_getaffinity(0, sizeof(p->pinned), &p->pinned) < 0)
		goto out;
	/* Still the shim's one-CPU pin, not an affinity the app set since. */
	if (CPU_COUNT(&p->pinned) != 1 || CPU_EQUAL(&p->pinned, &me->base) ||
	    (me->cpu >= 0 && !CPU_ISSET(me->cpu, &p->pinned)))
		goto out;
	p->unpinned = fs_cpu_setaffinity(&me->base) == 0;
out:
	errno = err;
}

void fs_exec_repin(const struct fs_exec_pin *p)
{
	int err = errno;

	if (p->unpinned)
		fs_cpu_setaffinity(&p->pinned);
	errno = err;
}

void fs_sharing_fd_table(void)
{
	int hw;

	if (!fs_same_process())
		return;
	atomic_store(&fs_fd_table_shared, true);
	if (!fs_lock_and_reap())
		return;	/* a handler inside the shim: no new locals at least */
	hw = fs_listeners_hw();
	for (int i = 0; i < hw; i++) {
		struct fs_listener *l = &fs_listeners[i];

		if (atomic_load(&l->state) == FS_LST_FREE)
			continue;
		fs_locals_stop(l, fs_ent_make(FS_K_LISTEN, (uint32_t)i,
					      atomic_load(&l->gen)),
			       "the fd table is shared with a clone(CLONE_FILES) child");
	}
	fs_unlock();
}
