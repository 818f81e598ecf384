// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * local.c - the local-listener table: spawn on a worker's first wait,
 * close, and what an fd that stops naming a listener or a local listener
 * takes with it (a listener's last fd releases its local listeners).
 *
 * Tells mirror.c of two lifecycle events only: a local listener made
 * (fs_mirror_on_spawn) and one gone (fs_mirror_on_local_gone).
 */
#include "local.h"

#include <poll.h>
#include <unistd.h>

#include "dev.h"
#include "listener.h"
#include "log.h"
#include "mirror.h"
#include "place.h"
#include "real.h"
#include "shim.h"
#include "sibling.h"

static struct fs_local locals[FS_MAX_LOCALS];
static _Atomic int locals_hw;		/* slots ever used */
static _Atomic bool doomed_any;		/* some listener has doomed set */

struct fs_local *fs_local_at(int idx)
{
	return &locals[idx];
}

int fs_local_index(const struct fs_local *loc)
{
	return (int)(loc - locals);
}

int fs_locals_hw(void)
{
	return atomic_load(&locals_hw);
}

static int local_find(uint64_t key)
{
	int hw = atomic_load(&locals_hw);

	for (int i = 0; i < hw; i++) {
		if (atomic_load_explicit(&locals[i].key,
					 memory_order_acquire) == key)
			return i;
	}
	return -1;
}

static int local_alloc(void)
{
	int hw = atomic_load(&locals_hw);

	for (int i = 0; i < hw; i++) {
		if (atomic_load(&locals[i].key) == 0)
			return i;
	}
	if (hw >= FS_MAX_LOCALS)
		return -1;
	atomic_store(&locals_hw, hw + 1);
	return hw;
}

/* The thread's cache of its own slots: the lock-free fast path. */
static void cache_add(int idx)
{
	struct fs_thread *me = &fs_self;
	uint16_t keep = 0;

	for (uint16_t i = 0; i < me->ncache; i++) {
		if (me->cache[i] == idx)
			return;
	}
	if (me->ncache < FS_TLS_CACHE) {
		me->cache[me->ncache++] = (uint16_t)idx;
		return;
	}
	/* Full: drop entries that are no longer this thread's. */
	for (uint16_t i = 0; i < me->ncache; i++) {
		uint64_t key = atomic_load(&locals[me->cache[i]].key);

		if (key && fs_local_key_tid(key) == me->tid)
			me->cache[keep++] = me->cache[i];
	}
	me->ncache = keep;
	if (me->ncache < FS_TLS_CACHE)
		me->cache[me->ncache++] = (uint16_t)idx;
}

static struct fs_local *cached_local(uint64_t key)
{
	for (uint16_t i = 0; i < fs_self.ncache; i++) {
		struct fs_local *loc = &locals[fs_self.cache[i]];

		if (atomic_load_explicit(&loc->key, memory_order_acquire) == key)
			return loc;
	}
	return NULL;
}

/* Call fn(idx, ctx) for each slot of listener (lid, lgen). */
static void for_each_local_of(uint32_t lid, uint32_t lgen,
			      void (*fn)(int idx, void *ctx), void *ctx)
{
	int hw = atomic_load(&locals_hw);

	for (int i = 0; i < hw; i++) {
		uint64_t key = atomic_load(&locals[i].key);

		if (key && fs_local_key_lid(key) == lid &&
		    fs_local_key_lgen(key) == (lgen & FS_KEY_LGEN_MASK))
			fn(i, ctx);
	}
}

void fs_local_close(int idx, bool free_slot)
{
	struct fs_local *loc = &locals[idx];
	int lfd;

	fs_assert_locked();
	lfd = atomic_exchange(&loc->fd, FS_LOCAL_DEAD);
	if (lfd >= 0) {
		fs_mirror_on_local_gone(idx, lfd);
		fs_fdmap_cas(lfd, fs_ent_make(FS_K_LOCAL, (uint32_t)idx,
					      atomic_load(&loc->gen)), 0);
		fs_real.close(lfd);
	}
	if (free_slot)
		atomic_store(&loc->key, 0);
}

static void close_one(int idx, void *free_slots)
{
	fs_local_close(idx, *(bool *)free_slots);
}

void fs_locals_close_of(uint32_t lid, uint32_t lgen, bool free_slots)
{
	fs_assert_locked();
	for_each_local_of(lid, lgen, close_one, &free_slots);
}

static void relisten_one(int idx, void *backlog)
{
	int lfd = atomic_load(&locals[idx].fd);

	if (lfd >= 0 && !locals[idx].kmod)
		fs_real.listen(lfd, *(int *)backlog);
}

void fs_locals_relisten(uint32_t lid, uint32_t lgen, int backlog)
{
	for_each_local_of(lid, lgen, relisten_one, &backlog);
}

struct opt_ctx {
	int level, name;
	const void *val;
	socklen_t len;
	bool ok;
};

static void setopt_one(int idx, void *arg)
{
	struct opt_ctx *o = arg;
	int lfd = atomic_load(&locals[idx].fd);

	if (lfd >= 0 && fs_real.setsockopt(lfd, o->level, o->name, o->val,
					   o->len) < 0)
		o->ok = false;
}

bool fs_locals_setsockopt(uint32_t lid, uint32_t lgen, int level, int name,
			  const void *val, socklen_t len)
{
	struct opt_ctx o = { level, name, val, len, true };

	fs_assert_locked();
	for_each_local_of(lid, lgen, setopt_one, &o);
	return o.ok;
}

void fs_locals_stop(struct fs_listener *l, fs_ent e, const char *why)
{
	fs_assert_locked();
	if (atomic_exchange(&l->refused, true))
		return;
	fs_locals_close_of(fs_ent_idx(e), fs_ent_gen(e), false);
	fs_listener_say_once(l, SAY_STOPPED,
			     "%s: %s; no local listeners for it from now on, passing through",
			     l->name, why);
}

void fs_local_refuse(struct fs_local *loc, const char *why)
{
	if (!fs_lock_and_reap())
		return;
	fs_debug("local listener fd %d: %s; closed, the worker passes through",
		 atomic_load(&loc->fd), why);
	fs_local_close(fs_local_index(loc), false);
	atomic_store(&loc->fd, FS_LOCAL_NONE);
	fs_unlock();
}

int fs_locals_others(const struct fs_local *loc, bool idle_only, int *fds,
		     int max)
{
	uint64_t key = atomic_load(&loc->key);
	uint32_t lid = fs_local_key_lid(key), lgen = fs_local_key_lgen(key);
	int hw = atomic_load(&locals_hw), n = 0;

	if (!key)
		return 0;
	for (int i = 0; i < hw && n < max; i++) {
		uint64_t k = atomic_load(&locals[i].key);
		int lfd = atomic_load(&locals[i].fd);

		if (!k || &locals[i] == loc || lfd < 0 ||
		    fs_local_key_lid(k) != lid || fs_local_key_lgen(k) != lgen ||
		    (idle_only && atomic_load(&locals[i].accepted) &&
		     !atomic_load(&locals[i].unwatched)))
			continue;
		if (fds)
			fds[n] = lfd;
		n++;
	}
	return n;
}

/*
 * e.g. a loop closing every fd before exec: the worker makes a new one on
 * its next wait.
 */
void fs_local_taken(int fd, fs_ent e, bool still_open)
{
	uint32_t idx = fs_ent_idx(e);
	struct fs_local *loc;
	int expect = fd;
	bool locked;

	if (idx >= FS_MAX_LOCALS) {
		fs_fdmap_cas(fd, e, 0);
		return;
	}
	loc = &locals[idx];
	locked = fs_lock_and_reap();
	if (atomic_load(&loc->gen) == fs_ent_gen(e) &&
	    atomic_compare_exchange_strong(&loc->fd, &expect, FS_LOCAL_DEAD)) {
		if (locked)
			fs_mirror_on_local_gone((int)idx, still_open ? fd : -1);
		fs_debug("fd %d: the application closed a local listener", fd);
	}
	fs_fdmap_cas(fd, e, 0);
	if (locked)
		fs_unlock();
}

/* The last fd of listener (lid, gen) is gone. Caller holds the lock. */
static void listener_release(uint32_t lid, uint32_t gen)
{
	struct fs_listener *l = &fs_listeners[lid];

	fs_assert_locked();
	if (atomic_load(&l->gen) != gen || atomic_load(&l->state) == FS_LST_FREE)
		return;
	fs_locals_close_of(lid, gen, true);
	fs_mirror_drop_listener(lid);
	fs_debug("%s: last fd closed", l->name);
	fs_listener_free(lid);
}

static void reap_doomed(void)
{
	int hw = fs_listeners_hw();

	for (int i = 0; i < hw; i++) {
		struct fs_listener *l = &fs_listeners[i];

		if (atomic_load(&l->doomed) && atomic_load(&l->nfds) <= 0)
			listener_release((uint32_t)i, atomic_load(&l->gen));
	}
}

bool fs_lock_and_reap(void)
{
	if (!fs_lock())
		return false;
	if (atomic_exchange(&doomed_any, false))
		reap_doomed();
	return true;
}

/* One fd naming listener e is gone. */
static void listener_put(fs_ent e)
{
	struct fs_listener *l = fs_listener_known(e);

	if (!l || atomic_fetch_sub(&l->nfds, 1) != 1)
		return;
	if (fs_lock_and_reap()) {
		listener_release(fs_ent_idx(e), fs_ent_gen(e));
		fs_unlock();
	} else {
		/* In a signal handler that interrupted the shim: later. */
		atomic_store(&l->doomed, true);
		atomic_store(&doomed_any, true);
	}
}

void fs_entry_gone(int fd, fs_ent e)
{
	switch (fs_ent_kind(e)) {
	case FS_K_LISTEN:
		listener_put(e);
		break;
	case FS_K_LOCAL:
		fs_local_taken(fd, e, false);
		break;
	case FS_K_DEV:
		fs_dev_fd_gone(fd);
		break;
	default:
		break;
	}
}

void fs_forget_stale(int fd)
{
	fs_ent e;

	if (!fs_fdmap_get(fd))
		return;
	e = fs_fdmap_xchg(fd, 0);
	if (e && fs_same_process())
		fs_entry_gone(fd, e);
}

void fs_forget_if_stale(int fd, fs_ent e)
{
	struct fs_listener *l;

	if (fs_ent_kind(e) == FS_K_LISTEN) {
		l = fs_listener_known(e);
		if (l && l->ino && fs_fd_ino(fd) == l->ino)
			return;
	}
	if (fs_ent_kind(e) == FS_K_EPOLL)
		return;
	if (fs_ent_kind(e) == FS_K_TAINT &&
	    (uint32_t)fs_fd_ino(fd) == fs_ent_gen(e))
		return;
	fs_forget_stale(fd);
}

/*
 * The slot for key, found or made, and the worker's local listener in
 * it, made if need be. Caller holds the lock.
 */
static struct fs_local *spawn_locked(struct fs_listener *l, uint32_t lid,
				     uint32_t lgen, uint64_t key, int fd)
{
	struct fs_placed made;
	struct fs_local *loc;
	uint32_t g;
	int idx;

	fs_assert_locked();
	if (atomic_load(&l->gen) != lgen ||
	    atomic_load(&l->state) != FS_LST_LISTENING)
		return NULL;
	idx = local_find(key);
	if (idx >= 0) {
		int cur = atomic_load(&locals[idx].fd);

		cache_add(idx);
		if (cur >= 0)
			return &locals[idx];
		if (cur == FS_LOCAL_NONE)
			return NULL;
	} else {
		if (fs_fd_ino(fd) != l->ino)
			return NULL;	/* fd is not that socket any more */
		idx = local_alloc();
		if (idx < 0) {
			fs_listener_say_once(l, SAY_TOO_MANY_LOCALS,
					     "%s: more than %d local listeners in this process; passing through",
					     l->name, FS_MAX_LOCALS);
			return NULL;
		}
		loc = &locals[idx];
		atomic_store(&loc->fd, FS_LOCAL_NONE);
		loc->cpu = -1;
		atomic_store(&loc->since_original, 0);
		atomic_store(&loc->original_empty_at, 0);
		atomic_store(&loc->original_ready_at, 0);
		atomic_store(&loc->local_empty_at, 0);
		loc->flip = 0;
		loc->kmod = false;
		atomic_store_explicit(&loc->key, key, memory_order_release);
		cache_add(idx);
	}
	loc = &locals[idx];
	fs_thread_arm_exit();
	if (!fs_place_local(l, fd, &made)) {
		atomic_store(&loc->fd, FS_LOCAL_NONE);
		return NULL;
	}
	g = atomic_fetch_add(&loc->gen, 1) + 1;
	fs_forget_stale(made.fd);
	if (fs_fdmap_set(made.fd, fs_ent_make(FS_K_LOCAL, (uint32_t)idx, g)) < 0) {
		fs_real.close(made.fd);
		atomic_store(&loc->fd, FS_LOCAL_NONE);
		return NULL;
	}
	loc->cpu = made.cpu;
	loc->kmod = made.kmod;
	atomic_store(&loc->accepted, false);
	atomic_store(&loc->unwatched, 0);
	loc->parked = false;
	atomic_store_explicit(&loc->fd, made.fd, memory_order_release);
	/* Records still naming this slot's previous listener (closed where
	 * the lock could not be taken) are pending again, then mirrored. */
	fs_mirror_on_local_gone(idx, -1);
	fs_mirror_on_spawn(lid, lgen, idx, made.fd, fs_self.tid);
	fs_info("pid %d tid %d: %s: local listener fd %d on CPU %d (%s)",
		getpid(), fs_self.tid, l->name, made.fd, made.cpu,
		made.kmod ? "module" : "userspace, SO_INCOMING_CPU");
	return loc;
}

struct fs_local *fs_wait_local(fs_ent e, int fd)
{
	struct fs_listener *l = fs_listener_live(e);
	struct fs_local *loc;
	uint64_t key;

	if (!l)
		return NULL;
	key = fs_local_key(fs_ent_idx(e), fs_ent_gen(e), fs_tid());
	loc = cached_local(key);
	if (!loc) {
		int i = local_find(key);

		if (i >= 0) {
			loc = &locals[i];
			cache_add(i);
		}
	}
	if (loc) {
		int lfd = atomic_load_explicit(&loc->fd, memory_order_acquire);

		if (lfd >= 0)
			return loc;
		if (lfd == FS_LOCAL_NONE)
			return NULL;
	}
	if (!fs_same_process() || !fs_lock_and_reap())
		return NULL;
	loc = spawn_locked(l, fs_ent_idx(e), fs_ent_gen(e), key, fd);
	fs_unlock();
	return loc;
}
