// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * park.c - the unwatched -> park -> drain -> close policy.
 *
 * Not when the worker stops reading (fs_park_unwatched()), but at the
 * process's next wait: nginx deletes and re-adds its listening fd back
 * to back every 16 accepts, and that must cost nothing.
 */
#include "park.h"

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "dev.h"
#include "local.h"
#include "log.h"
#include "mirror.h"
#include "real.h"
#include "shim.h"
#include "sibling.h"
#include "testing.h"

_Atomic int fs_unwatched_n;
static int unwatched_grace_ms = FS_UNWATCHED_GRACE_MS;
static int park_drain_ms = FS_PARK_DRAIN_MS;
static _Atomic int64_t unwatched_due;	/* earliest action, ms */

void fs_unwatched_set_grace(int ms)
{
	unwatched_grace_ms = ms;
	atomic_store(&unwatched_due, 0);	/* look again at the next wait */
}

void fs_park_set_drain(int ms)
{
	park_drain_ms = ms;
	atomic_store(&unwatched_due, 0);
}

void fs_park_unwatched(int idx)
{
	struct fs_local *loc;
	int64_t now = fs_now_ms(), zero = 0;

	fs_assert_locked();
	if (idx < 0 || idx >= FS_MAX_LOCALS)
		return;
	loc = fs_local_at(idx);
	if (!atomic_load(&loc->key) || atomic_load(&loc->fd) < 0 ||
	    !atomic_compare_exchange_strong(&loc->unwatched, &zero, now))
		return;
	if (atomic_fetch_add(&fs_unwatched_n, 1) == 0 ||
	    now + unwatched_grace_ms < atomic_load(&unwatched_due))
		atomic_store(&unwatched_due, now + unwatched_grace_ms);
}

void fs_park_watched(int idx)
{
	if (idx >= 0 && idx < FS_MAX_LOCALS &&
	    atomic_load(&fs_local_at(idx)->unwatched))
		atomic_store(&unwatched_due, 0);
}

void fs_park_forget_all(void)
{
	atomic_store(&fs_unwatched_n, 0);
}

/* Does a connection wait in listening socket fd's accept queue? */
static bool has_queued(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return fs_real.poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/*
 * One marked local listener at time now: 0 when done with it (resumed,
 * closed, gone), else the time it is next due.
 */
static int64_t reap_one(int i, int64_t now)
{
	struct fs_local *loc = fs_local_at(i);
	int64_t since = atomic_load(&loc->unwatched);
	int lfd = atomic_load(&loc->fd);

	if (!atomic_load(&loc->key) || lfd < 0)
		return 0;			/* gone */
	if (fs_mirror_local_watched(i)) {	/* read again */
		if (loc->parked && fs_dev_park(lfd, false) == 0)
			fs_debug("local listener fd %d (CPU %d): read again; resumed",
				 lfd, loc->cpu);
		loc->parked = false;
		return 0;
	}
	if (!loc->parked) {
		if (now - since < unwatched_grace_ms)
			return since + unwatched_grace_ms;
		if (loc->kmod && fs_dev_park(lfd, true) == 0) {
			loc->parked = true;
			atomic_store(&loc->unwatched, now);
			fs_debug("local listener fd %d (CPU %d): no epoll set reads it; parked",
				 lfd, loc->cpu);
			return now + park_drain_ms;
		}
		/* Cannot park: closing would reset what waits on it (unless
		 * the kernel migrates it). Hold it while connections wait,
		 * for a while: the worker may read the listener again (a
		 * listener taken out of epoll for a moment), and another
		 * thread's accept takes from it meanwhile (accept.c). */
		if (now - since < FS_UNWATCHED_HOLD_MS && has_queued(lfd) &&
		    !fs_sibling_migrate_req())
			return now + 50;
	} else if (now - since < park_drain_ms) {
		return since + park_drain_ms;
	} else if (!has_queued(lfd)) {
		atomic_store(&loc->unwatched, now);	/* look again later */
		return now + park_drain_ms;
	} else if (now - since < FS_UNWATCHED_HOLD_MS &&
		   !fs_sibling_migrate_req()) {
		/* Closing would reset them: held as in the fallback. */
		return now + 50;
	}
	fs_debug("local listener fd %d (CPU %d): nobody accepts from it (%s); closed until the next wait on its listening socket",
		 lfd, loc->cpu, loc->parked ? "parked, connections queued" :
		 "not read by any epoll set");
	loc->parked = false;
	fs_local_close(i, false);
	return 0;
}

void fs_reap_unwatched(void)
{
	int hw = fs_locals_hw(), pending = 0;
	int64_t now = fs_now_ms(), due = INT64_MAX, next;

	if (now < atomic_load(&unwatched_due) || !fs_same_process() ||
	    !fs_lock_and_reap())
		return;
	for (int i = 0; i < hw; i++) {
		struct fs_local *loc = fs_local_at(i);

		if (!atomic_load(&loc->unwatched))
			continue;
		next = reap_one(i, now);
		if (!next) {
			atomic_store(&loc->unwatched, 0);
			continue;
		}
		pending++;
		if (next < due)
			due = next;
	}
	atomic_store(&unwatched_due, due);
	atomic_store(&fs_unwatched_n, pending);
	fs_unlock();
}
