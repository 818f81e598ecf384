// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * orphan.c - local listeners no thread owns: that of a thread that ended
 * with connections to hand on, and those a fork child keeps because they
 * are mirrored into an epoll set it shares with its parent. The other
 * threads' accept and poll take from them (local.c's fs_locals_others);
 * they close once found empty, or with their listener.
 */
#include "orphan.h"

#include <poll.h>
#include <stdatomic.h>
#include <unistd.h>

#include "dev.h"
#include "fdmap.h"
#include "listener.h"
#include "local.h"
#include "log.h"
#include "mirror.h"
#include "real.h"
#include "shim.h"
#include "sibling.h"

/*
 * Set for good before the first orphan's key is: until then an accept
 * that finds no local listener of its own, the pass-through case, need
 * not scan every slot for one.
 */
static atomic_bool orphans_made;

static bool queued(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	return fs_real.poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/*
 * Does a thread's local listener outlive the thread, as an orphan? A
 * module-made one always does, parked first so that no SYN lands on it
 * from then on: closing it would drop a handshake in flight (6.1 refuses
 * the child of a listener that left LISTEN, Documentation/design.md) and,
 * with net.ipv4.tcp_migrate_req=0, reset what is queued. A userspace one
 * (nothing can park it) only with connections queued and
 * tcp_migrate_req=0; closed, they would be reset.
 */
static bool outlives_thread(struct fs_local *loc, int lfd, int *migrate)
{
	if (loc->kmod && fs_dev_park(lfd, true) == 0) {
		loc->parked = true;
		return true;
	}
	if (!queued(lfd))
		return false;
	if (*migrate < 0)
		*migrate = fs_sibling_migrate_req();
	return !*migrate;
}

/*
 * A thread that ends leaves its local listeners' connections (queued, or
 * in a handshake for a module-made one) to the process's other threads.
 * Such a local listener becomes an orphan: no thread's, left in the epoll
 * sets it was mirrored into, and taken from by the other threads' accept
 * and poll (it counts as idle, see fs_locals_others); closed once found
 * empty, or with its listener.
 */
void fs_locals_close_thread(pid_t tid)
{
	int hw = fs_locals_hw();
	int migrate = -1;

	fs_assert_locked();
	for (int i = 0; i < hw; i++) {
		struct fs_local *loc = fs_local_at(i);
		uint64_t key = atomic_load(&loc->key);
		int lfd = atomic_load(&loc->fd);

		if (!key || fs_local_key_tid(key) != tid)
			continue;
		if (lfd >= 0 && outlives_thread(loc, lfd, &migrate)) {
			atomic_store(&loc->accepted, false);
			atomic_store(&orphans_made, true);
			atomic_store(&loc->key,
				     fs_local_key(fs_local_key_lid(key),
						  fs_local_key_lgen(key),
						  FS_ORPHAN_TID));
			fs_debug("local listener fd %d: its thread %d ended; left to the other threads",
				 lfd, tid);
			continue;
		}
		fs_local_close(i, true);
	}
}

void fs_orphan_drained(int lfd)
{
	fs_ent e = fs_fdmap_get(lfd);
	uint32_t idx = fs_ent_idx(e);

	fs_assert_locked();
	if (fs_ent_kind(e) != FS_K_LOCAL || idx >= FS_MAX_LOCALS ||
	    atomic_load(&fs_local_at((int)idx)->fd) != lfd ||
	    !fs_local_is_orphan(fs_local_at((int)idx)))
		return;
	fs_debug("local listener fd %d: orphan drained; closed", lfd);
	fs_local_close((int)idx, true);
}

struct fs_local *fs_local_orphan_of(fs_ent e)
{
	int hw = fs_locals_hw();

	if (!atomic_load(&orphans_made))
		return NULL;
	for (int i = 0; i < hw; i++) {
		struct fs_local *loc = fs_local_at(i);
		uint64_t k = atomic_load(&loc->key);

		if (k && fs_local_key_tid(k) == FS_ORPHAN_TID &&
		    fs_local_key_lid(k) == fs_ent_idx(e) &&
		    fs_local_key_lgen(k) == (fs_ent_gen(e) & FS_KEY_LGEN_MASK) &&
		    atomic_load(&loc->fd) >= 0)
			return loc;
	}
	return NULL;
}

bool fs_local_is_orphan(const struct fs_local *loc)
{
	return fs_local_key_tid(atomic_load(&loc->key)) == FS_ORPHAN_TID;
}

void fs_locals_forget_all(void)
{
	fs_locals_fork_child(0);
}

void fs_locals_fork_child(pid_t old_tid)
{
	int hw = fs_locals_hw();

	for (int i = 0; i < hw; i++) {
		struct fs_local *loc = fs_local_at(i);
		uint64_t key = atomic_load(&loc->key);
		int lfd;

		if (old_tid && key && fs_local_key_tid(key) == old_tid &&
		    atomic_load(&loc->fd) >= 0 && fs_mirror_has_local(i)) {
			/* In an epoll set the child shares with its parent:
			 * the child may wait on that set, which reports this
			 * local listener; keep it, as an orphan the child can
			 * accept from, and make the child none of its own for
			 * that listener (its own would be reported to the
			 * parent, which cannot accept from it). */
			struct fs_listener *l = &fs_listeners[fs_local_key_lid(key)];

			atomic_store(&orphans_made, true);
			atomic_store(&loc->key,
				     fs_local_key(fs_local_key_lid(key),
						  fs_local_key_lgen(key),
						  FS_ORPHAN_TID));
			atomic_store(&loc->accepted, false);
			atomic_store(&loc->unwatched, 0);
			loc->parked = false;
			atomic_store(&l->refused, true);
			continue;
		}
		lfd = atomic_exchange(&loc->fd, FS_LOCAL_DEAD);

		if (lfd >= 0) {
			fs_fdmap_set(lfd, 0);
			fs_real.close(lfd);
		}
		atomic_store(&loc->unwatched, 0);
		loc->parked = false;
		atomic_store(&loc->key, 0);
	}
}
