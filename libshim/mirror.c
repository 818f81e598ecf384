// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mirror.c - epoll, poll and select see the local listener as the
 * listening fd.
 *
 * epoll: epoll_ctl ADD/MOD/DEL of a listening fd is repeated for the local
 * listener with the same events (EPOLLEXCLUSIVE, EPOLLET, EPOLLONESHOT
 * included) and the same epoll_data, so an event on the local listener
 * reaches the application as an event on its listening fd; epoll_wait is
 * not intercepted. poll and select: the local listener is added to the
 * set for the call, and its readiness is folded into the listening fd's.
 */
#include "mirror.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "fdmap.h"
#include "listen.h"
#include "real.h"

struct fs_mirror {
	bool used;
	uint32_t epid;		/* the epoll instance (its fdmap identity) */
	int epfd;		/* an fd of it, as last seen */
	int fd;			/* the application's listening fd */
	uint32_t lid, lgen;	/* the listener */
	pid_t owner;		/* the thread that registered it */
	int local;		/* fs_locals index mirrored, or -1: pending */
	int local_fd;
	struct epoll_event ev;	/* as the application gave it */
};

/* What reading a listening fd means in an epoll registration. */
#define READ_EVENTS_EP	((uint32_t)(EPOLLIN | EPOLLRDNORM))

static struct fs_mirror recs[FS_MAX_MIRRORS];
static int recs_hw;
static uint32_t next_epid = 1;

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

static bool rec_valid(const struct fs_mirror *r)
{
	return fs_fdmap_get(r->epfd) == fs_ent_make(FS_K_EPOLL, 0, r->epid);
}

/* The identity of epoll fd epfd; made on first use if create. 0: none. */
static uint32_t epoll_id(int epfd, bool create)
{
	fs_ent e = fs_fdmap_get(epfd);
	uint32_t id;

	if (fs_ent_kind(e) == FS_K_EPOLL)
		return fs_ent_gen(e);
	if (e || !create)
		return 0;
	id = next_epid++;
	if (!id)
		id = next_epid++;
	if (fs_fdmap_set(epfd, fs_ent_make(FS_K_EPOLL, 0, id)) < 0)
		return 0;
	return id;
}

static struct fs_mirror *rec_find(uint32_t epid, int fd)
{
	for (int i = 0; i < recs_hw; i++) {
		if (recs[i].used && recs[i].epid == epid && recs[i].fd == fd)
			return &recs[i];
	}
	return NULL;
}

static struct fs_mirror *rec_alloc(void)
{
	for (int i = 0; i < recs_hw; i++) {
		if (recs[i].used && !rec_valid(&recs[i]))
			recs[i].used = false;	/* its epoll fd was closed */
		if (!recs[i].used)
			return &recs[i];
	}
	if (recs_hw >= FS_MAX_MIRRORS)
		return NULL;
	return &recs[recs_hw++];
}

/* Put local listener lfd (index local) into r's epoll set. */
static void rec_add_local(struct fs_mirror *r, int local, int lfd)
{
	struct epoll_event ev = r->ev;

	if (fs_real.epoll_ctl(r->epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		if (errno != EEXIST) {
			fs_debug("epoll fd %d: mirroring fd %d onto local listener fd %d: %s",
				 r->epfd, r->fd, lfd, strerror(errno));
			return;
		}
		ev = r->ev;
		ev.events &= ~(uint32_t)EPOLLEXCLUSIVE;
		if (fs_real.epoll_ctl(r->epfd, EPOLL_CTL_MOD, lfd, &ev) < 0)
			return;
	}
	r->local = local;
	r->local_fd = lfd;
	fs_debug("epoll fd %d: fd %d mirrored onto local listener fd %d (events %#x)",
		 r->epfd, r->fd, lfd, r->ev.events);
}

bool fs_mirror_local_watched(int local)
{
	for (int i = 0; i < recs_hw; i++) {
		const struct fs_mirror *r = &recs[i];

		if (r->used && r->local == local &&
		    (r->ev.events & READ_EVENTS_EP) && rec_valid(r))
			return true;
	}
	return false;
}

static void apply(int epfd, int op, int fd, const struct epoll_event *ev,
		  fs_ent e, struct fs_local *loc)
{
	struct fs_mirror_step step;
	struct fs_mirror *r;
	pid_t me = fs_tid();
	int lfd = loc ? atomic_load(&loc->fd) : -1;
	int unread = -1;	/* local listener this call stopped reading */
	uint32_t epid = epoll_id(epfd, op != EPOLL_CTL_DEL);

	if (!epid)
		return;
	r = rec_find(epid, fd);
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
			r = rec_alloc();
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
		rec_add_local(r, (int)(loc - fs_locals), lfd);
		break;
	case FS_MIRROR_MOD: {
		struct epoll_event mod = *ev;

		if (fs_real.epoll_ctl(epfd, EPOLL_CTL_MOD, r->local_fd, &mod) < 0 &&
		    errno == ENOENT) {
			int local = r->local, fd2 = r->local_fd;

			r->local = -1;
			rec_add_local(r, local, fd2);
		}
		if (!(ev->events & READ_EVENTS_EP))
			unread = r->local;
		break;
	}
	case FS_MIRROR_DEL:
		fs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, r->local_fd, NULL);
		unread = r->local;
		r->local = -1;
		break;
	default:
		break;
	}
	if (step.rec == FS_REC_DROP && r)
		r->used = false;
	/* The worker stopped waiting on the listening socket in its last
	 * epoll set: its local listener must not keep taking connections. */
	if (unread >= 0 && !fs_mirror_local_watched(unread))
		fs_local_unwatched(unread);
	else if (r && r->used && r->local >= 0 && (r->ev.events & READ_EVENTS_EP))
		fs_local_watched(r->local);
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
	    (ev->events & READ_EVENTS_EP))
		loc = fs_wait_local(e, fd);
	if (!fs_lock())
		return fs_real.epoll_ctl(epfd, op, fd, ev);
	rc = fs_real.epoll_ctl(epfd, op, fd, ev);
	err = errno;
	if (rc == 0 && (op == EPOLL_CTL_DEL || ev))
		apply(epfd, op, fd, ev, e, loc);
	fs_unlock();
	errno = err;
	return rc;
}

void fs_mirror_on_spawn(uint32_t lid, uint32_t lgen, int local, int local_fd,
			pid_t tid)
{
	for (int i = 0; i < recs_hw; i++) {
		struct fs_mirror *r = &recs[i];

		if (!r->used || r->lid != lid || r->lgen != lgen ||
		    r->owner != tid || r->local >= 0)
			continue;
		if (!rec_valid(r)) {
			r->used = false;
			continue;
		}
		rec_add_local(r, local, local_fd);
	}
}

void fs_mirror_on_local_gone(int local, int local_fd)
{
	for (int i = 0; i < recs_hw; i++) {
		struct fs_mirror *r = &recs[i];

		if (!r->used || r->local != local)
			continue;
		if (local_fd >= 0 && rec_valid(r))
			fs_real.epoll_ctl(r->epfd, EPOLL_CTL_DEL, local_fd, NULL);
		r->local = -1;
		r->local_fd = -1;
	}
}

void fs_mirror_drop_listener(uint32_t lid)
{
	for (int i = 0; i < recs_hw; i++) {
		if (recs[i].used && recs[i].lid == lid)
			recs[i].used = false;
	}
}

void fs_mirror_drop_owner(pid_t tid)
{
	for (int i = 0; i < recs_hw; i++) {
		if (recs[i].used && recs[i].owner == tid)
			recs[i].used = false;
	}
}

void fs_mirror_fork_child(pid_t old_tid, pid_t new_tid)
{
	for (int i = 0; i < recs_hw; i++) {
		struct fs_mirror *r = &recs[i];

		if (!r->used)
			continue;
		if (r->owner != old_tid) {
			r->used = false;	/* that thread is not in the child */
			continue;
		}
		r->owner = new_tid;
		r->local = -1;
		r->local_fd = -1;
	}
}

void fs_mirror_reset(void)
{
	memset(recs, 0, sizeof(recs));
	recs_hw = 0;
}

bool fs_mirror_lookup(int epfd, int fd, pid_t *owner, int *local,
		      struct epoll_event *ev)
{
	uint32_t epid = epoll_id(epfd, false);
	struct fs_mirror *r = epid ? rec_find(epid, fd) : NULL;

	if (!r)
		return false;
	if (owner)
		*owner = r->owner;
	if (local)
		*local = r->local;
	if (ev)
		*ev = r->ev;
	return true;
}

/* ---- poll ---------------------------------------------------------- */

#define POLL_STACK	64
#define READ_EVENTS	(POLLIN | POLLRDNORM)

static bool wants_local(const struct pollfd *p, fs_ent *e)
{
	if (p->fd < 0 || !(p->events & READ_EVENTS))
		return false;
	*e = fs_fdmap_get(p->fd);
	return fs_ent_kind(*e) == FS_K_LISTEN;
}

static int real_ppoll(struct pollfd *fds, nfds_t n, int timeout_ms,
		      const struct timespec *ts, const sigset_t *mask,
		      bool use_ts)
{
	return use_ts ? fs_real.ppoll(fds, n, ts, mask)
		      : fs_real.poll(fds, n, timeout_ms);
}

int fs_ppoll(struct pollfd *fds, nfds_t n, int timeout_ms,
	     const struct timespec *ts, const sigset_t *mask, bool use_ts)
{
	struct pollfd pstack[POLL_STACK], *p = pstack;
	nfds_t mstack[POLL_STACK], *map = mstack, extra = 0, k = 0;
	fs_ent e;
	int rc, err;

	fs_wait_hook();
	if (atomic_load_explicit(&fs_nlisteners, memory_order_relaxed) == 0 ||
	    !fds || n == 0)
		return real_ppoll(fds, n, timeout_ms, ts, mask, use_ts);
	for (nfds_t i = 0; i < n; i++)
		if (wants_local(&fds[i], &e))
			extra++;
	if (!extra)
		return real_ppoll(fds, n, timeout_ms, ts, mask, use_ts);
	if (n + extra > POLL_STACK) {
		p = malloc((n + extra) * sizeof(*p));
		map = malloc(extra * sizeof(*map));
		if (!p || !map) {
			free(p);
			free(map);
			return real_ppoll(fds, n, timeout_ms, ts, mask, use_ts);
		}
	}
	memcpy(p, fds, n * sizeof(*p));
	for (nfds_t i = 0; i < n; i++) {
		struct fs_local *loc;
		int lfd;

		if (!wants_local(&fds[i], &e))
			continue;
		loc = fs_wait_local(e, fds[i].fd);
		lfd = loc ? atomic_load(&loc->fd) : -1;
		if (lfd < 0)
			continue;
		p[n + k].fd = lfd;
		p[n + k].events = fds[i].events & READ_EVENTS;
		p[n + k].revents = 0;
		map[k++] = i;
	}
	rc = real_ppoll(p, n + k, timeout_ms, ts, mask, use_ts);
	err = errno;
	if (rc >= 0) {
		rc = 0;
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = p[i].revents;
		for (nfds_t j = 0; j < k; j++)
			fds[map[j]].revents |= (short)(p[n + j].revents &
						       fds[map[j]].events &
						       READ_EVENTS);
		for (nfds_t i = 0; i < n; i++)
			if (fds[i].revents)
				rc++;
	}
	if (p != pstack) {
		free(p);
		free(map);
	}
	errno = err;
	return rc;
}

/* ---- select -------------------------------------------------------- */

#define SELECT_PAIRS	64

static int real_pselect(int nfds, fd_set *r, fd_set *w, fd_set *x,
			struct timeval *tv, const struct timespec *ts,
			const sigset_t *mask, bool use_ts)
{
	return use_ts ? fs_real.pselect(nfds, r, w, x, ts, mask)
		      : fs_real.select(nfds, r, w, x, tv);
}

/* Clear the bits of set from fd lo up. */
static void clear_from(fd_set *set, int lo)
{
	for (int fd = lo; fd < FD_SETSIZE; fd++)
		FD_CLR(fd, set);
}

int fs_pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv,
	       const struct timespec *ts, const sigset_t *mask, bool use_ts)
{
	struct { int fd, lfd; } pairs[SELECT_PAIRS];
	fd_set rr, wc, xc;
	int np = 0, top, rc, err;

	fs_wait_hook();
	if (atomic_load_explicit(&fs_nlisteners, memory_order_relaxed) == 0 ||
	    !r || nfds <= 0 || nfds > FD_SETSIZE)
		return real_pselect(nfds, r, w, x, tv, ts, mask, use_ts);
	for (int fd = 0; fd < nfds && np < SELECT_PAIRS; fd++) {
		struct fs_local *loc;
		fs_ent e;
		int lfd;

		if (!FD_ISSET(fd, r))
			continue;
		e = fs_fdmap_get(fd);
		if (fs_ent_kind(e) != FS_K_LISTEN)
			continue;
		loc = fs_wait_local(e, fd);
		lfd = loc ? atomic_load(&loc->fd) : -1;
		if (lfd < 0)
			continue;
		if (lfd >= FD_SETSIZE) {
			fs_debug("select: local listener fd %d is above FD_SETSIZE; fd %d not mirrored",
				 lfd, fd);
			continue;
		}
		if (lfd < nfds && FD_ISSET(lfd, r))
			continue;	/* the app names that fd: leave it be */
		pairs[np].fd = fd;
		pairs[np].lfd = lfd;
		np++;
	}
	if (!np)
		return real_pselect(nfds, r, w, x, tv, ts, mask, use_ts);
	top = nfds;
	rr = *r;
	clear_from(&rr, nfds);
	if (w) {
		wc = *w;
		clear_from(&wc, nfds);
	}
	if (x) {
		xc = *x;
		clear_from(&xc, nfds);
	}
	for (int i = 0; i < np; i++) {
		FD_SET(pairs[i].lfd, &rr);
		if (pairs[i].lfd + 1 > top)
			top = pairs[i].lfd + 1;
	}
	rc = real_pselect(top, &rr, w ? &wc : NULL, x ? &xc : NULL, tv, ts,
			  mask, use_ts);
	err = errno;
	if (rc >= 0) {
		for (int i = 0; i < np; i++) {
			if (!FD_ISSET(pairs[i].lfd, &rr))
				continue;
			FD_CLR(pairs[i].lfd, &rr);
			rc--;
			if (!FD_ISSET(pairs[i].fd, &rr)) {
				FD_SET(pairs[i].fd, &rr);
				rc++;
			}
		}
		*r = rr;
		if (w)
			*w = wc;
		if (x)
			*x = xc;
	}
	errno = err;
	return rc;
}
