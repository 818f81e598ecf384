// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * epoll.c - epoll_ctl of a listening fd, repeated for the local listener.
 */
#include "epoll.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "fdmap.h"
#include "listener.h"
#include "local.h"
#include "log.h"
#include "mirror.h"
#include "park.h"
#include "real.h"
#include "shim.h"

/*
 * Why the table looks like this: the kernel already accepted the call, so
 * an ADD means the fd was not in the set (any record is stale), and a MOD
 * without a record means the fd was registered before it was a managed
 * listener. Only the record's owner has its local listener mirrored; a
 * record without one waits (pending) until its owner gets one.
 */
void fs_mirror_decide(int op, bool have_rec, bool rec_mirrored,
		      bool rec_is_caller, bool caller_local,
		      struct fs_mirror_step *step)
{
	memset(step, 0, sizeof(*step));
	step->act = FS_MIRROR_NONE;
	step->rec = FS_REC_KEEP;
	switch (op) {
	case EPOLL_CTL_ADD:
		/* The kernel took the ADD, so the fd was not in the set: an
		 * old record is left over from an fd number reused. */
		step->undo = have_rec && rec_mirrored;
		step->rec = FS_REC_SET;
		step->act = caller_local ? FS_MIRROR_ADD : FS_MIRROR_NONE;
		break;
	case EPOLL_CTL_MOD:
		if (!have_rec) {
			/* Registered before the shim knew (before listen()). */
			step->rec = FS_REC_SET;
			step->act = caller_local ? FS_MIRROR_ADD : FS_MIRROR_NONE;
		} else if (rec_mirrored) {
			step->rec = FS_REC_UPDATE;
			step->act = FS_MIRROR_MOD;
		} else {
			step->rec = FS_REC_UPDATE;
			step->act = rec_is_caller && caller_local ? FS_MIRROR_ADD
								  : FS_MIRROR_NONE;
		}
		break;
	case EPOLL_CTL_DEL:
		step->rec = have_rec ? FS_REC_DROP : FS_REC_KEEP;
		step->act = rec_mirrored ? FS_MIRROR_DEL : FS_MIRROR_NONE;
		break;
	default:
		break;
	}
}

/*
 * After the application's epoll_ctl(op) of listening fd (entry e) in epfd
 * succeeded: bring the record and the caller's local listener loc (NULL:
 * none) in line, as fs_mirror_decide() says. Three things make this
 * harder than repeating the call:
 *  - a record may be left over from an fd number or epoll fd reused
 *    (another listener, or the epoll fd closed): it is dropped first;
 *  - the record is the owner's, and only the owner's local listener is
 *    mirrored; another thread's MOD updates the events only;
 *  - a MOD without EPOLLIN, or a DEL, may leave the local listener in no
 *    epoll set that reads it: park.c is told (and told again when a
 *    record reads it once more).
 * Caller holds the lock.
 */
static void mirror_after_ctl(int epfd, int op, int fd,
			     const struct epoll_event *ev, fs_ent e,
			     struct fs_local *loc)
{
	struct fs_mirror_step step;
	struct fs_mirror *r;
	pid_t me = fs_tid();
	int lfd = loc ? atomic_load(&loc->fd) : -1;
	int unread = -1;	/* local listener this call stopped reading */
	uint32_t epid = fs_epoll_id(epfd, op != EPOLL_CTL_DEL);

	fs_assert_locked();
	if (!epid)
		return;
	r = fs_mirror_find(epid, fd);
	if (r) {
		r->epfd = epfd;
		if (r->lid != fs_ent_idx(e) || r->lgen != fs_ent_gen(e)) {
			r->used = false;	/* about a socket this fd was */
			r = NULL;
		}
	}
	fs_mirror_decide(op, r != NULL, r && r->local >= 0, r && r->owner == me,
			 lfd >= 0, &step);
	if (step.undo && r && r->local >= 0) {
		fs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, r->local_fd, NULL);
		r->local = -1;
	}
	switch (step.rec) {
	case FS_REC_SET:
		if (!r)
			r = fs_mirror_alloc();
		if (!r) {
			fs_info("epoll fd %d: more than %d mirrored registrations; fd %d not mirrored",
				epfd, FS_MAX_MIRRORS, fd);
			return;
		}
		memset(r, 0, sizeof(*r));
		r->used = true;
		r->epid = epid;
		r->epfd = epfd;
		r->fd = fd;
		r->lid = fs_ent_idx(e);
		r->lgen = fs_ent_gen(e);
		r->owner = me;
		r->local = -1;
		r->local_fd = -1;
		r->ev = *ev;
		break;
	case FS_REC_UPDATE:
		r->ev = *ev;
		break;
	default:
		break;
	}
	switch (step.act) {
	case FS_MIRROR_ADD:
		fs_mirror_add_local(r, fs_local_index(loc), lfd);
		break;
	case FS_MIRROR_MOD: {
		struct epoll_event mod = *ev;

		mod.data.u64 = fs_mirror_tag(r);

		if (fs_real.epoll_ctl(epfd, EPOLL_CTL_MOD, r->local_fd, &mod) < 0 &&
		    errno == ENOENT) {
			int local = r->local, fd2 = r->local_fd;

			r->local = -1;
			fs_mirror_add_local(r, local, fd2);
		}
		if (!(ev->events & FS_EPOLL_READ))
			unread = r->local;
		break;
	}
	case FS_MIRROR_DEL:
		fs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, r->local_fd, NULL);
		unread = r->local;
		r->local = -1;
		fs_mirror_restore(epid, unread, r->local_fd, r);
		break;
	default:
		break;
	}
	if (step.rec == FS_REC_DROP && r)
		r->used = false;
	/* The worker stopped waiting on the listening socket in its last
	 * epoll set: its local listener must not keep taking connections. */
	if (unread >= 0 && !fs_mirror_local_watched(unread))
		fs_park_unwatched(unread);
	else if (r && r->used && r->local >= 0 && (r->ev.events & FS_EPOLL_READ))
		fs_park_watched(r->local);
}

/*
 * A wait saw local listener idx ready and its listening fd's queue empty:
 * as good as accept.c's periodic probe of the original, which it makes
 * unnecessary (a server that waits between accepts makes none).
 */
static void original_empty(int idx)
{
	atomic_store_explicit(&fs_local_at(idx)->since_original, 0,
			      memory_order_relaxed);
}

int fs_epoll_after_wait(int epfd, struct epoll_event *ev, int n, int max)
{
	if (n <= 0 || fs_ent_kind(fs_fdmap_get(epfd)) != FS_K_EPOLL)
		return n;
	return fs_mirror_fix_events(epfd, ev, n, max, original_empty);
}

int fs_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	fs_ent e = fs_fdmap_get(fd);
	struct fs_local *loc = NULL;
	int rc, err;

	if (fs_ent_kind(e) != FS_K_LISTEN || !fs_listener_known(e))
		return fs_real.epoll_ctl(epfd, op, fd, ev);
	/* Arming a listening fd for reading is a wait on it. */
	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && ev &&
	    (ev->events & FS_EPOLL_READ))
		loc = fs_wait_local(e, fd);
	if (!fs_lock_and_reap())
		return fs_real.epoll_ctl(epfd, op, fd, ev);
	rc = fs_real.epoll_ctl(epfd, op, fd, ev);
	err = errno;
	if (rc == 0 && (op == EPOLL_CTL_DEL || ev))
		mirror_after_ctl(epfd, op, fd, ev, e, loc);
	fs_unlock();
	errno = err;
	return rc;
}
