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
 * nginx deletes its listening fd from its epoll set and adds it back, the
 * same, every 16th accept (rotating EPOLLEXCLUSIVE wake-ups among its
 * workers). Repeating both for the local listener would cost two system
 * calls and rotate nothing: it has one waiter. So the mirror's DEL is
 * held back, for as long as nobody can tell: the application's next
 * interposed call, from any thread, is either that ADD (then the mirror
 * makes neither call) or flushes the DEL first (fs_epoll_flush()). It is
 * not held where a new ADD would differ from the old registration
 * (EPOLLET and EPOLLONESHOT re-arm), where another record shares the
 * local listener, or where another process may share the epoll instance
 * (its waits are not interposed here).
 */
static struct {
	struct fs_mirror *r;	/* NULL: nothing held */
	int epfd;
} held;
_Atomic bool fs_epoll_held;

static bool can_hold(const struct fs_mirror *r, int epfd)
{
	return !(r->ev.events & (EPOLLET | EPOLLONESHOT)) &&
	       fs_epoll_private(epfd) && fs_mirror_sharers(r->local) == 1;
}

/* Take r's local listener out of r's epoll set, drop r, and tell park.c
 * if it is now in no set that reads it. */
static void mirror_del(struct fs_mirror *r, int epfd)
{
	int unread = r->local;

	fs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, r->local_fd, NULL);
	r->local = -1;
	fs_mirror_restore(r->epid, unread, r->local_fd, r);
	r->used = false;
	if (!fs_mirror_local_watched(unread))
		fs_park_unwatched(unread);
}

void fs_epoll_flush_locked(void)
{
	struct fs_mirror *r = held.r;

	fs_assert_locked();
	if (!r)
		return;
	held.r = NULL;
	atomic_store_explicit(&fs_epoll_held, false, memory_order_relaxed);
	if (r->used && r->local >= 0)
		mirror_del(r, held.epfd);
}

void fs_epoll_flush(void)
{
	if (!fs_lock_and_reap())
		return;
	fs_epoll_flush_locked();
	fs_unlock();
}

/* The held DEL's ADD: same thread, epoll fd, listening socket, local
 * listener, events and data. Caller holds the lock. */
static bool held_readd(int epfd, int op, int fd, const struct epoll_event *ev,
		       fs_ent e, const struct fs_local *loc)
{
	const struct fs_mirror *r = held.r;

	return r && op == EPOLL_CTL_ADD && ev && loc && held.epfd == epfd &&
	       r->fd == fd && r->used && r->owner == fs_tid() &&
	       r->lid == fs_ent_idx(e) && r->lgen == fs_ent_gen(e) &&
	       r->local == fs_local_index(loc) && r->ev.events == ev->events &&
	       r->ev.data.u64 == ev->data.u64;
}

void fs_epoll_fork_prepare(void)
{
	fs_epoll_flush_locked();
	fs_epoll_forking();
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
		fs_mirror_note_data(ev->data.u64);
		break;
	case FS_REC_UPDATE:
		r->ev = *ev;
		fs_mirror_note_data(ev->data.u64);
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
		if (can_hold(r, epfd)) {
			held.r = r;
			held.epfd = epfd;
			atomic_store_explicit(&fs_epoll_held, true,
					      memory_order_relaxed);
			return;
		}
		mirror_del(r, epfd);
		return;
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

/* Counts this thread's epoll waits: names the latest (fs_wait_token()).
 * Initial-exec, as fs_self: the default model calls __tls_get_addr. */
static __thread uint32_t wait_gen __attribute__((tls_model(FS_TLS_MODEL)));

uint64_t fs_wait_token(void)
{
	return (uint64_t)(uint32_t)fs_tid() << 32 | wait_gen;
}

/*
 * What a wait saw of local listener idx and its listening fd (mirror.h).
 * Both ready: accept.c may take from the original without a wasted call,
 * in turn with the local listener. The local listener alone: the
 * original was empty, as good as accept.c's periodic probe of it, which
 * it makes unnecessary (a server that waits between accepts makes none);
 * and until this thread waits again, an accept that finds the local
 * listener empty need not try the original either (level-triggered: a
 * connection that came since is reported by the next wait, as it would
 * be had it come a moment later). The original alone: the same the other
 * way round, its queue is tried first and the local listener not at all
 * until the next wait (a CPU without a worker, whose connections all go
 * to the original, then costs no failed accept on the local listener).
 */
static void wait_saw(int idx, enum fs_saw what)
{
	struct fs_local *loc = fs_local_at(idx);

	switch (what) {
	case FS_SAW_BOTH:
		atomic_store_explicit(&loc->original_ready_at, fs_wait_token(),
				      memory_order_relaxed);
		break;
	case FS_SAW_LOCAL:
		atomic_store_explicit(&loc->since_original, 0,
				      memory_order_relaxed);
		atomic_store_explicit(&loc->original_empty_at, fs_wait_token(),
				      memory_order_relaxed);
		break;
	case FS_SAW_ORIGINAL:
		atomic_store_explicit(&loc->local_empty_at, fs_wait_token(),
				      memory_order_relaxed);
		break;
	}
}

int fs_epoll_after_wait(int epfd, struct epoll_event *ev, int n, int max)
{
	wait_gen++;
	if (n <= 0 || fs_ent_kind(fs_fdmap_get(epfd)) != FS_K_EPOLL)
		return n;
	return fs_mirror_fix_events(epfd, ev, n, max, wait_saw);
}

/*
 * Said once per process: from the first epoll set added to another one
 * on, every ADD into an epoll set in the kernel takes a global mutex
 * (epmutex) and checks for loops and paths, on every worker.
 */
static void nested(int epfd, int fd)
{
	static atomic_bool said;

	if (!atomic_exchange(&said, true))
		fs_info("epoll fd %d added to epoll fd %d: with nested epoll sets, every epoll_ctl(ADD) in this process takes the kernel's global epmutex",
			fd, epfd);
}

int fs_epoll_create(int epfd)
{
	int err = errno;

	if (epfd < 0)
		return epfd;
	fs_forget_stale(epfd);
	if (fs_lock_and_reap()) {
		fs_epoll_created(epfd);
		fs_unlock();
	}
	errno = err;
	return epfd;
}

static __attribute__((noinline)) int epoll_ctl_managed(int epfd, int op,
							int fd,
							struct epoll_event *ev,
							fs_ent e)
{
	struct fs_local *loc = NULL;
	int rc, err;

	if (op == EPOLL_CTL_ADD && fs_ent_kind(e) == FS_K_EPOLL)
		nested(epfd, fd);
	if (atomic_load_explicit(&fs_epoll_held, memory_order_relaxed) &&
	    (fs_ent_kind(e) != FS_K_LISTEN || op != EPOLL_CTL_ADD))
		fs_epoll_flush();
	if (fs_ent_kind(e) != FS_K_LISTEN || !fs_listener_known(e))
		return fs_real.epoll_ctl(epfd, op, fd, ev);
	/* Arming a listening fd for reading is a wait on it. */
	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && ev &&
	    (ev->events & FS_EPOLL_READ))
		loc = fs_wait_local(e, fd);
	if (!fs_lock_and_reap())
		return fs_real.epoll_ctl(epfd, op, fd, ev);
	if (held.r && held_readd(epfd, op, fd, ev, e, loc)) {
		rc = fs_real.epoll_ctl(epfd, op, fd, ev);
		err = errno;
		if (rc == 0) {
			held.r = NULL;
			atomic_store_explicit(&fs_epoll_held, false,
					      memory_order_relaxed);
		} else {
			fs_epoll_flush_locked();
		}
		fs_unlock();
		errno = err;
		return rc;
	}
	fs_epoll_flush_locked();
	rc = fs_real.epoll_ctl(epfd, op, fd, ev);
	err = errno;
	if (rc == 0 && (op == EPOLL_CTL_DEL || ev))
		mirror_after_ctl(epfd, op, fd, ev, e, loc);
	fs_unlock();
	errno = err;
	return rc;
}

/* Most calls name a connection the shim knows nothing of: those go
 * straight through, without the frame the rest needs. */
int fs_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	fs_ent e = fs_fdmap_get(fd);

	if (!e && !atomic_load_explicit(&fs_epoll_held, memory_order_relaxed))
		return fs_real.epoll_ctl(epfd, op, fd, ev);
	return epoll_ctl_managed(epfd, op, fd, ev, e);
}
