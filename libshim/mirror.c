// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mirror.c - the epoll mirror records.
 */
#include "mirror.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "fdmap.h"
#include "log.h"
#include "real.h"
#include "shim.h"
#include "testing.h"

static struct fs_mirror recs[FS_MAX_MIRRORS];
/* How many of recs[] were ever used. Grows under the lock, and is read
 * without it after every epoll wait (fs_mirror_fix_events): atomic. */
static _Atomic int recs_hw;
static uint32_t next_epid = 1;

/* r's epoll fd is still the epoll instance r was made for. */
static bool rec_valid(const struct fs_mirror *r)
{
	fs_ent e = fs_fdmap_get(r->epfd);

	return fs_ent_kind(e) == FS_K_EPOLL && fs_ent_gen(e) == r->epid;
}

struct find_ctx {
	uint32_t epid;
	int fd;
};

static void find_fd(int fd, fs_ent e, void *arg)
{
	struct find_ctx *f = arg;

	if (f->fd < 0 && fs_ent_kind(e) == FS_K_EPOLL && fs_ent_gen(e) == f->epid)
		f->fd = fd;
}

/*
 * rec_valid(), or r's epoll instance has moved to another fd (dup, then
 * close of the old number): follow it there. The search walks the fd
 * table, so only where a record is about to be used, not in scans.
 */
static bool rec_valid_follow(struct fs_mirror *r)
{
	struct find_ctx f = { r->epid, -1 };

	if (rec_valid(r))
		return true;
	fs_fdmap_foreach(0, -1, find_fd, &f);
	if (f.fd < 0)
		return false;
	r->epfd = f.fd;
	return true;
}

void fs_mirror_restore(uint32_t epid, int local, int lfd,
		       const struct fs_mirror *except)
{
	fs_assert_locked();
	for (int i = 0; i < recs_hw; i++) {
		struct fs_mirror *r = &recs[i];

		if (r == except || !r->used || r->epid != epid ||
		    r->local != local || !rec_valid(r))
			continue;
		r->local = -1;
		fs_mirror_add_local(r, local, lfd);
		return;
	}
}

static uint32_t epoll_id_new(int epfd, uint32_t where)
{
	uint32_t id = next_epid++;

	if (!id)
		id = next_epid++;
	if (fs_fdmap_set(epfd, fs_ent_make(FS_K_EPOLL, where, id)) < 0)
		return 0;
	return id;
}

uint32_t fs_epoll_id(int epfd, bool create)
{
	fs_ent e = fs_fdmap_get(epfd);

	if (fs_ent_kind(e) == FS_K_EPOLL)
		return fs_ent_gen(e);
	if (e || !create)
		return 0;
	/* Made before the shim saw it (inherited, or a raw system call):
	 * another process may share it. */
	return epoll_id_new(epfd, FS_EPOLL_SHARED);
}

void fs_epoll_created(int epfd)
{
	fs_assert_locked();
	epoll_id_new(epfd, FS_EPOLL_PRIVATE);
}

bool fs_epoll_private(int epfd)
{
	fs_ent e = fs_fdmap_get(epfd);

	return fs_ent_kind(e) == FS_K_EPOLL && fs_ent_idx(e) == FS_EPOLL_PRIVATE;
}

static void mark_shared(int fd, fs_ent e, void *arg)
{
	(void)arg;
	if (fs_ent_kind(e) == FS_K_EPOLL && fs_ent_idx(e) == FS_EPOLL_PRIVATE)
		fs_fdmap_set(fd, fs_ent_make(FS_K_EPOLL, FS_EPOLL_SHARED,
					     fs_ent_gen(e)));
}

void fs_epoll_forking(void)
{
	fs_assert_locked();
	fs_fdmap_foreach(0, -1, mark_shared, NULL);
}

int fs_mirror_sharers(int local)
{
	int n = 0;

	fs_assert_locked();
	for (int i = 0; i < recs_hw; i++) {
		const struct fs_mirror *r = &recs[i];

		n += r->used && r->local == local && rec_valid(r);
	}
	return n;
}

struct fs_mirror *fs_mirror_find(uint32_t epid, int fd)
{
	for (int i = 0; i < recs_hw; i++) {
		if (recs[i].used && recs[i].epid == epid && recs[i].fd == fd)
			return &recs[i];
	}
	return NULL;
}

struct fs_mirror *fs_mirror_alloc(void)
{
	for (int i = 0; i < recs_hw; i++) {
		if (recs[i].used && !rec_valid(&recs[i]))
			recs[i].used = false;	/* its epoll fd was closed */
		if (!recs[i].used)
			return &recs[i];
	}
	if (recs_hw >= FS_MAX_MIRRORS)
		return NULL;
	return &recs[atomic_fetch_add(&recs_hw, 1)];
}

uint64_t fs_mirror_tag(const struct fs_mirror *r)
{
	return FS_MIRROR_TAG_BASE | (uint64_t)(r - recs + 1);
}

static _Atomic bool any_oneshot;	/* some record ever had EPOLLONESHOT */

/*
 * Which application data some record may carry, as bits of a hash: an
 * event whose bit is clear names no listening fd, so most events (the
 * connections') cost one test, not a scan of the records. Bits are never
 * cleared: a stale one costs a scan, never a wrong answer.
 */
#define DATA_BITS	1024u
static _Atomic uint64_t data_seen[DATA_BITS / 64];

static unsigned int data_bit(uint64_t data)
{
	return (unsigned int)((data * 0x9e3779b97f4a7c15ull) >> 54);
}

void fs_mirror_note_data(uint64_t data)
{
	unsigned int b = data_bit(data);

	atomic_fetch_or_explicit(&data_seen[b / 64], 1ull << (b % 64),
				 memory_order_relaxed);
}

static bool data_maybe(uint64_t data)
{
	unsigned int b = data_bit(data);

	return atomic_load_explicit(&data_seen[b / 64], memory_order_relaxed) &
	       (1ull << (b % 64));
}

/* The record whose application data is data, in epoll fd epfd. */
static struct fs_mirror *by_data(int epfd, uint64_t data)
{
	for (int i = 0; i < recs_hw; i++) {
		struct fs_mirror *r = &recs[i];

		if (r->used && r->epfd == epfd && r->ev.data.u64 == data &&
		    r->local >= 0)
			return r;
	}
	return NULL;
}

/* Registrations whose absence from a short result means "empty": level-
 * triggered, and watched by no other epoll set in its place. */
static bool absence_means_empty(const struct fs_mirror *r)
{
	return r->local >= 0 &&
	       !(r->ev.events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE));
}

#define FIX_TRACK	8	/* listening fds per wait followed for seen() */

int fs_mirror_fix_events(int epfd, struct epoll_event *ev, int n, int max,
			 void (*seen)(int local, enum fs_saw what))
{
	bool oneshot = atomic_load_explicit(&any_oneshot, memory_order_relaxed);
	const struct fs_mirror *alone[FIX_TRACK], *both[FIX_TRACK];
	int out = 0, nalone = 0, nboth = 0;
	bool short_wait = n < max, lost = false;

	for (int i = 0; i < n; i++) {
		uint64_t u = ev[i].data.u64;
		struct fs_mirror *r = NULL;
		struct epoll_event off = { 0 };
		int j;

		if ((u & FS_MIRROR_TAG_MASK) != FS_MIRROR_TAG_BASE) {
			if ((oneshot || short_wait) && data_maybe(u))
				r = by_data(epfd, u);
			/* The listening fd's own event: with ONESHOT its
			 * local listener's registration must not fire next. */
			if (r && oneshot && (r->ev.events & EPOLLONESHOT))
				fs_real.epoll_ctl(epfd, EPOLL_CTL_MOD, r->local_fd,
						  &off);
			/* Whether its local listener came too is known
			 * after the loop. */
			if (r && short_wait && absence_means_empty(r)) {
				if (nalone < FIX_TRACK)
					alone[nalone++] = r;
			}
			ev[out++] = ev[i];
			continue;
		}
		u &= ~FS_MIRROR_TAG_MASK;
		if (u == 0 ||
		    u > (uint64_t)atomic_load_explicit(&recs_hw, memory_order_relaxed))
			continue;
		if (!recs[u - 1].used) {
			/* Its record is gone but the registration is not (it
			 * should not happen): take the local listener out of
			 * the set rather than report it again and again. */
			r = &recs[u - 1];
			if (r->local_fd >= 0 &&
			    fs_ent_kind(fs_fdmap_get(r->local_fd)) == FS_K_LOCAL)
				fs_real.epoll_ctl(epfd, EPOLL_CTL_DEL, r->local_fd,
						  NULL);
			continue;
		}
		r = &recs[u - 1];
		/* Reported with the listening fd's own event (already given
		 * out, or still to come): one event. */
		for (j = 0; j < out; j++) {
			if (ev[j].data.u64 == r->ev.data.u64)
				break;
		}
		if (j == out) {
			for (j = i + 1; j < n; j++) {
				if (ev[j].data.u64 == r->ev.data.u64)
					break;
			}
		}
		if (j < n) {
			ev[j].events |= ev[i].events;
			if (r->local >= 0)
				seen(r->local, FS_SAW_BOTH);
			if (nboth < FIX_TRACK)
				both[nboth++] = r;
			else
				lost = true;
			continue;
		}
		if (r->ev.events & EPOLLONESHOT)
			fs_real.epoll_ctl(epfd, EPOLL_CTL_MOD, r->fd, &off);
		/* Fewer events than it could return, level-triggered: the
		 * kernel looked at the listening fd too and it was empty. */
		if (short_wait && r->local >= 0 &&
		    !(r->ev.events & (EPOLLET | EPOLLONESHOT)))
			seen(r->local, FS_SAW_LOCAL);
		ev[out] = ev[i];
		ev[out].data = r->ev.data;
		out++;
	}
	/* A listening fd reported without its local listener, by a wait
	 * that looked at both: the local listener was empty. */
	for (int a = 0; a < nalone && !lost; a++) {
		int b = 0;

		while (b < nboth && both[b] != alone[a])
			b++;
		if (b == nboth)
			seen(alone[a]->local, FS_SAW_ORIGINAL);
	}
	return out;
}

void fs_mirror_add_local(struct fs_mirror *r, int local, int lfd)
{
	struct epoll_event ev = r->ev;

	ev.data.u64 = fs_mirror_tag(r);
	if (r->ev.events & EPOLLONESHOT)
		atomic_store(&any_oneshot, true);

	if (fs_real.epoll_ctl(r->epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		if (errno != EEXIST) {
			fs_debug("epoll fd %d: mirroring fd %d onto local listener fd %d: %s",
				 r->epfd, r->fd, lfd, strerror(errno));
			return;
		}
		ev = r->ev;
		ev.data.u64 = fs_mirror_tag(r);
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
	fs_assert_locked();
	for (int i = 0; i < recs_hw; i++) {
		const struct fs_mirror *r = &recs[i];

		if (r->used && r->local == local &&
		    (r->ev.events & FS_EPOLL_READ) && rec_valid(r))
			return true;
	}
	return false;
}

void fs_mirror_on_spawn(uint32_t lid, uint32_t lgen, int local, int local_fd,
			pid_t tid)
{
	fs_assert_locked();
	for (int i = 0; i < recs_hw; i++) {
		struct fs_mirror *r = &recs[i];

		if (!r->used || r->lid != lid || r->lgen != lgen ||
		    r->owner != tid || r->local >= 0)
			continue;
		if (!rec_valid_follow(r)) {
			r->used = false;
			continue;
		}
		fs_mirror_add_local(r, local, local_fd);
	}
}

void fs_mirror_on_local_gone(int local, int local_fd)
{
	fs_assert_locked();
	for (int i = 0; i < recs_hw; i++) {
		struct fs_mirror *r = &recs[i];

		if (!r->used || r->local != local)
			continue;
		if (local_fd >= 0 && rec_valid(r))
			fs_real.epoll_ctl(r->epfd, EPOLL_CTL_DEL, local_fd, NULL);
		r->local = -1;
		r->local_fd = -1;
		if (r->owner == 0)
			r->used = false;	/* an orphan's: no thread's */
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
		if (!recs[i].used || recs[i].owner != tid)
			continue;
		/* Still mirrored: an orphan (local.c) the other threads take
		 * from; the record stays, no thread's, until it is closed. */
		if (recs[i].local >= 0)
			recs[i].owner = 0;
		else
			recs[i].used = false;
	}
}

bool fs_mirror_has_local(int local)
{
	for (int i = 0; i < recs_hw; i++) {
		if (recs[i].used && recs[i].local == local && rec_valid(&recs[i]))
			return true;
	}
	return false;
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
		/* A local listener kept in the child (fs_locals_fork_child)
		 * stays mirrored; the others are gone: pending again. */
		if (r->local >= 0 && r->local_fd >= 0 &&
		    fs_fdmap_get(r->local_fd) ==
		    fs_ent_make(FS_K_LOCAL, (uint32_t)r->local,
				fs_ent_gen(fs_fdmap_get(r->local_fd))))
			continue;
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
	uint32_t epid = fs_epoll_id(epfd, false);
	struct fs_mirror *r = epid ? fs_mirror_find(epid, fd) : NULL;

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
