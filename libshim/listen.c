// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * listen.c - local listeners: spawned on a worker's first wait, accepted
 * from first, and kept right across close, dup, shutdown, fork, thread
 * exit and exec.
 *
 * Data path, userspace fallback (the module path differs only in who
 * makes the local listener):
 *   bind()      on a configured TCP port: SO_REUSEPORT before the real bind
 *   listen()    the listener is managed; the shared load table exists
 *   first wait  (epoll_ctl ADD, accept, poll, select on it) by a thread:
 *               pin it to a CPU c, make its local listener for c
 *               (SO_INCOMING_CPU c, same address, same group), mirror it
 *               into the epoll sets the thread registered the fd in
 *   SYN on c    the kernel picks the group member whose SO_INCOMING_CPU
 *               is c: the connection waits on the local listener
 *   event       epoll reports it with the listening fd's epoll_data
 *   accept(fd)  served from the local listener first, then the original
 */
#include "listen.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "cpu.h"
#include "dev.h"
#include "mirror.h"
#include "real.h"
#include "sibling.h"

struct fs_listener fs_listeners[FS_MAX_LISTENERS];
struct fs_local fs_locals[FS_MAX_LOCALS];
_Atomic int fs_nlisteners;

static _Atomic int listeners_hw;	/* slots ever used */
static _Atomic int locals_hw;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic pid_t lock_owner;
static _Atomic bool doomed_any;

static pid_t state_pid;			/* the process the state is of */
static void reap_doomed(void);
static _Atomic int resolved_mode = -1;
static bool kmod_ok;
static struct fs_load *_Atomic load_map;
/* Once-only message bits per listener, MAP_SHARED so that the workers
 * forked after listen() say each thing once between them. */
static _Atomic unsigned int *_Atomic said_map;
static pthread_key_t exit_key;
static bool exit_key_ok;

/* Once-only messages, per listener. */
enum {
	SAY_NOCPU = 1u << 0,
	SAY_KMOD = 1u << 1,
	SAY_USER = 1u << 2,
	SAY_APPRP = 1u << 3,
	SAY_SLOTS = 1u << 4,
	SAY_PIN = 1u << 5,
	SAY_REG = 1u << 6,
};

/* Per thread. Copied into a forked child, which fixes it up. */
struct fs_thread {
	pid_t tid;
	int cpu;		/* CPU the shim placed this worker on, or -1 */
	bool shim_pinned;	/* affinity set by the shim (here or in a parent) */
	bool exit_armed;	/* exit_key destructor will run */
	int load_slot;		/* reservation in the load table, or -1 */
	uint16_t ncache;
	uint16_t cache[FS_TLS_CACHE];	/* indexes of this thread's locals */
	cpu_set_t base;		/* affinity before the shim pinned it */
};

static __thread struct fs_thread T __attribute__((tls_model("initial-exec"))) = {
	.cpu = -1,
	.load_slot = -1,
};

pid_t fs_tid(void)
{
	if (!T.tid)
		T.tid = (pid_t)syscall(SYS_gettid);
	return T.tid;
}

/*
 * False in a vfork() child (it shares our memory but not our fds): there
 * the shim must not touch its tables, whatever the child closes or dups.
 */
static bool same_process(void)
{
	return state_pid == 0 || getpid() == state_pid;
}

bool fs_lock(void)
{
	pid_t me = fs_tid();

	if (atomic_load(&lock_owner) == me)
		return false;
	pthread_mutex_lock(&lock);
	atomic_store(&lock_owner, me);
	if (atomic_exchange(&doomed_any, false))
		reap_doomed();
	return true;
}

void fs_unlock(void)
{
	atomic_store(&lock_owner, 0);
	pthread_mutex_unlock(&lock);
}

static void say_once(struct fs_listener *l, unsigned int bit, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

static void say_once(struct fs_listener *l, unsigned int bit, const char *fmt,
		     ...)
{
	char buf[400];
	va_list ap;

	_Atomic unsigned int *shared = atomic_load(&said_map);
	_Atomic unsigned int *said = shared ? &shared[l - fs_listeners] : &l->said;

	if (atomic_fetch_or(said, bit) & bit)
		return;
	if (fs_cfg.log < FS_LOG_INFO)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fs_log(FS_LOG_INFO, "%s", buf);
}

/* ---- mode ---------------------------------------------------------- */

static void resolve_mode_locked(void)
{
	struct fastsocket_info info;
	int mode;

	if (atomic_load(&resolved_mode) >= 0)
		return;
	if (fs_cfg.mode == 0) {
		atomic_store(&resolved_mode, 0);
		return;
	}
	kmod_ok = fs_dev_probe(&info);
	if (fs_cfg.mode != FS_MODE_UNSET)
		mode = fs_cfg.mode;
	else if (kmod_ok && info.enable_listen_spawn <= 2)
		mode = (int)info.enable_listen_spawn;
	else
		mode = 2;
	atomic_store(&resolved_mode, mode);
	fs_info("mode %d (%s), local listeners by %s", mode,
		fs_cfg.mode != FS_MODE_UNSET ? "FASTSOCKET_MODE" :
		kmod_ok ? "the module's enable_listen_spawn" : "default",
		kmod_ok ? "the module" : "the userspace fallback");
}

int fs_mode(void)
{
	int m;

	if (!fs_cfg.valid)
		return 0;
	m = atomic_load(&resolved_mode);
	if (m >= 0)
		return m;
	return fs_cfg.mode != FS_MODE_UNSET ? fs_cfg.mode : 2;
}

/* ---- listeners ----------------------------------------------------- */

struct fs_listener *fs_listener_known(fs_ent e)
{
	struct fs_listener *l;
	uint32_t lid;

	if (fs_ent_kind(e) != FS_K_LISTEN)
		return NULL;
	lid = fs_ent_idx(e);
	if (lid >= FS_MAX_LISTENERS)
		return NULL;
	l = &fs_listeners[lid];
	if (atomic_load_explicit(&l->gen, memory_order_acquire) != fs_ent_gen(e) ||
	    atomic_load_explicit(&l->state, memory_order_acquire) == FS_LST_FREE)
		return NULL;
	return l;
}

struct fs_listener *fs_listener_live(fs_ent e)
{
	struct fs_listener *l = fs_listener_known(e);

	if (!l || atomic_load_explicit(&l->state, memory_order_acquire) !=
			  FS_LST_LISTENING)
		return NULL;
	return l;
}

static int listener_alloc(void)
{
	int hw = atomic_load(&listeners_hw);

	for (int i = 0; i < hw; i++) {
		if (atomic_load(&fs_listeners[i].state) == FS_LST_FREE &&
		    !atomic_load(&fs_listeners[i].doomed))
			return i;
	}
	if (hw >= FS_MAX_LISTENERS)
		return -1;
	atomic_store(&listeners_hw, hw + 1);
	return hw;
}

static void format_addr(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	snprintf(buf, len, "fd %d", fd);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	}
}

static unsigned long fd_ino(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return 0;
	return (unsigned long)st.st_ino;
}

/* ---- local listeners ----------------------------------------------- */

static inline uint32_t key_lid(uint64_t key)
{
	return (uint32_t)(key >> 52) & 0xfff;
}

static inline uint32_t key_lgen(uint64_t key)
{
	return (uint32_t)(key >> 32) & 0xfffff;
}

static int local_find(uint64_t key)
{
	int hw = atomic_load(&locals_hw);

	for (int i = 0; i < hw; i++) {
		if (atomic_load_explicit(&fs_locals[i].key,
					 memory_order_acquire) == key)
			return i;
	}
	return -1;
}

static int local_alloc(void)
{
	int hw = atomic_load(&locals_hw);

	for (int i = 0; i < hw; i++) {
		if (atomic_load(&fs_locals[i].key) == 0)
			return i;
	}
	if (hw >= FS_MAX_LOCALS)
		return -1;
	atomic_store(&locals_hw, hw + 1);
	return hw;
}

static void cache_add(int idx)
{
	uint16_t keep = 0;

	for (uint16_t i = 0; i < T.ncache; i++) {
		if (T.cache[i] == idx)
			return;
	}
	if (T.ncache < FS_TLS_CACHE) {
		T.cache[T.ncache++] = (uint16_t)idx;
		return;
	}
	/* Full: drop entries that are no longer this thread's. */
	for (uint16_t i = 0; i < T.ncache; i++) {
		uint64_t key = atomic_load(&fs_locals[T.cache[i]].key);

		if (key && fs_local_key_tid(key) == T.tid)
			T.cache[keep++] = T.cache[i];
	}
	T.ncache = keep;
	if (T.ncache < FS_TLS_CACHE)
		T.cache[T.ncache++] = (uint16_t)idx;
}

static struct fs_local *cached_local(uint64_t key)
{
	for (uint16_t i = 0; i < T.ncache; i++) {
		struct fs_local *loc = &fs_locals[T.cache[i]];

		if (atomic_load_explicit(&loc->key, memory_order_acquire) == key)
			return loc;
	}
	return NULL;
}

/*
 * Close a local listener the shim still owns: take it out of the epoll
 * sets it was mirrored into, then close it. free: the slot is released
 * (else it stays as FS_LOCAL_DEAD, to be made again on the next wait).
 * Caller holds the lock.
 */
static void local_close(int idx, bool free_slot)
{
	struct fs_local *loc = &fs_locals[idx];
	int lfd = atomic_exchange(&loc->fd, FS_LOCAL_DEAD);

	if (lfd >= 0) {
		fs_mirror_on_local_gone(idx, lfd);
		fs_fdmap_cas(lfd, fs_ent_make(FS_K_LOCAL, (uint32_t)idx,
					      atomic_load(&loc->gen)), 0);
		fs_real.close(lfd);
	}
	if (free_slot)
		atomic_store(&loc->key, 0);
}

static void kill_locals(uint32_t lid, uint32_t lgen, bool free_slots)
{
	int hw = atomic_load(&locals_hw);

	for (int i = 0; i < hw; i++) {
		uint64_t key = atomic_load(&fs_locals[i].key);

		if (!key || key_lid(key) != lid || key_lgen(key) != (lgen & 0xfffff))
			continue;
		local_close(i, free_slots);
	}
}

/*
 * Nobody reads local listener idx in an epoll set any more: its worker
 * took the listening fd out of its (last) epoll set, or stopped reading
 * it there. nginx does that with accept_mutex on whenever another worker
 * holds the mutex, and may then sleep for long (the holder sleeps in
 * epoll_wait with the mutex held); haproxy does it to a listener at its
 * maxconn. Left as it is, the local listener would keep getting every
 * connection whose SYN its CPU takes, with nobody to accept them.
 *
 * So at the first wait of the process (epoll_wait, poll, select:
 * fs_wait_hook()) once it has stayed unread for fs_unwatched_grace_ms
 * (FS_UNWATCHED_GRACE_MS, 0) -- not here: nginx also deletes and re-adds
 * the listening fd back to back (every 16 accepts with EPOLLEXCLUSIVE, to
 * rotate the workers it wakes), and that must cost nothing -- it is
 *  - parked, if the module made it (FASTSOCKET_IOC_PARK): the module
 *    steers no SYN to it; it stays open, and is resumed as soon as its
 *    worker reads it again. Closing instead would reset, now and then, a
 *    handshake completing just as it closes (6.1 drops a child whose
 *    listener left LISTEN meanwhile, tcp_migrate_req or not): nginx's
 *    mutex moves thousands of times in 10 s under load.
 *    Handshakes under way when it was parked still complete on it, and a
 *    SYN that meets a TIME_WAIT socket is the kernel's to place; if any
 *    connection waits on it FS_PARK_DRAIN_MS after parking (handshakes
 *    take far less), it is closed: its queue then moves to the rest of
 *    the group with net.ipv4.tcp_migrate_req=1.
 *  - closed otherwise (userspace siblings, or a module without PARK),
 *    under the same reset risk.
 * The worker keeps its CPU; a closed local listener is made again on its
 * next wait on the listening fd (epoll_ctl ADD, accept, poll).
 */
_Atomic int fs_unwatched_n;
static int fs_unwatched_grace_ms = FS_UNWATCHED_GRACE_MS;
static int fs_park_drain_ms = FS_PARK_DRAIN_MS;
static _Atomic int64_t unwatched_due;	/* earliest action, ms */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fs_unwatched_set_grace(int ms)
{
	fs_unwatched_grace_ms = ms;
	atomic_store(&unwatched_due, 0);	/* look again at the next wait */
}

void fs_park_set_drain(int ms)
{
	fs_park_drain_ms = ms;
	atomic_store(&unwatched_due, 0);
}

void fs_local_unwatched(int idx)
{
	struct fs_local *loc;
	int64_t now = mono_ms(), zero = 0;

	if (idx < 0 || idx >= FS_MAX_LOCALS)
		return;
	loc = &fs_locals[idx];
	if (!atomic_load(&loc->key) || atomic_load(&loc->fd) < 0 ||
	    !atomic_compare_exchange_strong(&loc->unwatched, &zero, now))
		return;
	if (atomic_fetch_add(&fs_unwatched_n, 1) == 0 ||
	    now + fs_unwatched_grace_ms < atomic_load(&unwatched_due))
		atomic_store(&unwatched_due, now + fs_unwatched_grace_ms);
}

void fs_local_watched(int idx)
{
	if (idx >= 0 && idx < FS_MAX_LOCALS &&
	    atomic_load(&fs_locals[idx].unwatched))
		atomic_store(&unwatched_due, 0);
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
	struct fs_local *loc = &fs_locals[i];
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
		if (now - since < fs_unwatched_grace_ms)
			return since + fs_unwatched_grace_ms;
		if (loc->kmod && fs_dev_park(lfd, true) == 0) {
			loc->parked = true;
			atomic_store(&loc->unwatched, now);
			fs_debug("local listener fd %d (CPU %d): no epoll set reads it; parked",
				 lfd, loc->cpu);
			return now + fs_park_drain_ms;
		}
	} else if (now - since < fs_park_drain_ms) {
		return since + fs_park_drain_ms;
	} else if (!has_queued(lfd)) {
		atomic_store(&loc->unwatched, now);	/* look again later */
		return now + fs_park_drain_ms;
	}
	fs_debug("local listener fd %d (CPU %d): nobody accepts from it (%s); closed until the next wait on its listening socket",
		 lfd, loc->cpu, loc->parked ? "parked, connections queued" :
		 "not read by any epoll set");
	loc->parked = false;
	local_close(i, false);
	return 0;
}

void fs_reap_unwatched(void)
{
	int hw = atomic_load(&locals_hw), pending = 0;
	int64_t now = mono_ms(), due = INT64_MAX, next;

	if (now < atomic_load(&unwatched_due) || !same_process() || !fs_lock())
		return;
	for (int i = 0; i < hw; i++) {
		if (!atomic_load(&fs_locals[i].unwatched))
			continue;
		next = reap_one(i, now);
		if (!next) {
			atomic_store(&fs_locals[i].unwatched, 0);
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

/*
 * The application closed (still_open: is about to close, or replace with
 * dup2) fd, one of the shim's local listeners: e.g. a loop closing every
 * fd before exec. The worker makes a new one on its next wait.
 */
static void local_taken(int fd, fs_ent e, bool still_open)
{
	uint32_t idx = fs_ent_idx(e);
	struct fs_local *loc;
	int expect = fd;
	bool locked;

	if (idx >= FS_MAX_LOCALS) {
		fs_fdmap_cas(fd, e, 0);
		return;
	}
	loc = &fs_locals[idx];
	locked = fs_lock();
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

static void listener_release(uint32_t lid, uint32_t gen)
{
	struct fs_listener *l = &fs_listeners[lid];

	if (atomic_load(&l->gen) != gen || atomic_load(&l->state) == FS_LST_FREE)
		return;
	kill_locals(lid, gen, true);
	fs_mirror_drop_listener(lid);
	if (atomic_load(&l->state) == FS_LST_LISTENING)
		atomic_fetch_sub(&fs_nlisteners, 1);
	fs_debug("%s: last fd closed", l->name);
	atomic_store(&l->state, FS_LST_FREE);
	atomic_fetch_add(&l->gen, 1);
	atomic_store(&l->doomed, false);
}

static void reap_doomed(void)
{
	int hw = atomic_load(&listeners_hw);

	for (int i = 0; i < hw; i++) {
		struct fs_listener *l = &fs_listeners[i];

		if (atomic_load(&l->doomed) && atomic_load(&l->nfds) <= 0)
			listener_release((uint32_t)i, atomic_load(&l->gen));
	}
}

/* One fd naming listener e is gone. */
static void listener_put(fs_ent e)
{
	struct fs_listener *l = fs_listener_known(e);

	if (!l || atomic_fetch_sub(&l->nfds, 1) != 1)
		return;
	if (fs_lock()) {
		listener_release(fs_ent_idx(e), fs_ent_gen(e));
		fs_unlock();
	} else {
		/* In a signal handler that interrupted the shim: later. */
		atomic_store(&l->doomed, true);
		atomic_store(&doomed_any, true);
	}
}

/* fd, which carried entry e, no longer refers to what e names. */
static void entry_gone(int fd, fs_ent e)
{
	switch (fs_ent_kind(e)) {
	case FS_K_LISTEN:
		listener_put(e);
		break;
	case FS_K_LOCAL:
		local_taken(fd, e, false);
		break;
	case FS_K_DEV:
		fs_dev_fd_gone(fd);
		break;
	default:
		break;
	}
}

/*
 * A new fd (from accept, dup) cannot carry state: if the table has some,
 * the fd it was about was closed behind the shim's back (fclose of an
 * fdopen()ed socket, a raw syscall). Forget it.
 */
static void forget_stale(int fd)
{
	fs_ent e;

	if (!fs_fdmap_get(fd))
		return;
	e = fs_fdmap_xchg(fd, 0);
	if (e && same_process())
		entry_gone(fd, e);
}

/* fd is being reused for something new (bind, listen): is e about it? */
static void forget_if_stale(int fd, fs_ent e)
{
	struct fs_listener *l;

	if (fs_ent_kind(e) == FS_K_LISTEN) {
		l = fs_listener_known(e);
		if (l && l->ino && fd_ino(fd) == l->ino)
			return;
	}
	if (fs_ent_kind(e) == FS_K_EPOLL)
		return;
	forget_stale(fd);
}

/* ---- placing a worker ---------------------------------------------- */

static void arm_thread_exit(void)
{
	if (T.exit_armed || !exit_key_ok)
		return;
	if (pthread_setspecific(exit_key, (void *)1) == 0)
		T.exit_armed = true;
}

static int place_thread(struct fs_listener *l, const struct fs_cpu_plan *plan,
			const cpu_set_t *aff)
{
	struct fs_load *load;
	char set[128];
	int cpu = -1;

	if (plan->how == FS_CPU_KEEP) {
		T.cpu = plan->cpu;
		fs_info("pid %d tid %d: worker on CPU %d (its own affinity)",
			getpid(), T.tid, T.cpu);
		return 0;
	}
	load = atomic_load(&load_map);
	if (!load) {
		load = fs_load_new();
		atomic_store(&load_map, load);
	}
	if (load) {
		cpu = fs_load_reserve(load, &plan->from, getpid(), T.tid,
				      &T.load_slot);
	} else {
		for (int c = 0; c < FS_MAX_CPUS && cpu < 0; c++)
			if (CPU_ISSET(c, &plan->from))
				cpu = c;
	}
	if (cpu < 0)
		return -1;
	if (fs_cpu_pin(cpu) < 0) {
		say_once(l, SAY_PIN, "pid %d tid %d: cannot pin to CPU %d: %s; passing through",
			 getpid(), T.tid, cpu, strerror(errno));
		if (load)
			fs_load_release(load, T.load_slot);
		T.load_slot = -1;
		return -1;
	}
	if (!T.shim_pinned)
		T.base = *aff;
	T.shim_pinned = true;
	T.cpu = cpu;
	fs_cpuset_format(&plan->from, set, sizeof(set));
	fs_info("pid %d tid %d: pinned to CPU %d (least loaded of %s)",
		getpid(), T.tid, cpu, set);
	return 0;
}

/*
 * The CPUs of from that have the fewest of this server's placed workers
 * (the shared load table: workers forked after listen()), into out; all
 * of from without a table. The module's own count, which FASTSOCKET_CPU_
 * AUTO uses, is of live local listeners: a worker whose local listener is
 * closed for a while (nginx's accept_mutex, see fs_local_unwatched())
 * does not count there, and workers placed meanwhile would crowd onto its
 * CPU. The module still chooses among these (its count also sees other
 * servers).
 */
static void fewest_workers(const cpu_set_t *from, cpu_set_t *out)
{
	struct fs_load *load = atomic_load(&load_map);
	uint32_t best = UINT32_MAX, n;

	*out = *from;
	if (!load)
		return;
	fs_load_reap(load);
	for (int c = 0; c < FS_MAX_CPUS; c++) {
		n = atomic_load(&load->count[c]);
		if (CPU_ISSET(c, from) && n < best)
			best = n;
	}
	CPU_ZERO(out);
	for (int c = 0; c < FS_MAX_CPUS; c++)
		if (CPU_ISSET(c, from) && atomic_load(&load->count[c]) == best)
			CPU_SET(c, out);
}

/* The module placed the calling worker on cpu: count it in the table. */
static void note_placed(int cpu)
{
	struct fs_load *load = atomic_load(&load_map);
	cpu_set_t one;

	if (!load || T.load_slot >= 0 || cpu < 0 || cpu >= FS_MAX_CPUS)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	fs_load_reserve(load, &one, getpid(), T.tid, &T.load_slot);
}

/*
 * The module path: FASTSOCKET_IOC_SPAWN for the calling worker. A worker
 * to be placed asks for FASTSOCKET_CPU_AUTO (the module picks and pins),
 * its affinity narrowed first to the CPUs of FASTSOCKET_CPUS with the
 * fewest of this server's workers (fewest_workers()); if the module does not
 * pick (its enable_listen_spawn is 1), the shim places the worker and
 * asks for that CPU. 0 with the local listener, or a negative errno.
 */
static int kmod_local(struct fs_listener *l, int fd,
		      const struct fs_cpu_plan *plan, const cpu_set_t *aff,
		      int *out_fd, int *out_cpu)
{
	int lfd = -1, got = -1, rc, fl;

	if (T.cpu < 0 && plan->how == FS_CPU_PICK) {
		bool narrowed = false;
		cpu_set_t cand;

		fewest_workers(&plan->from, &cand);
		if (!CPU_EQUAL(&cand, aff) &&
		    sched_setaffinity(0, sizeof(cand), &cand) == 0)
			narrowed = true;
		rc = fs_dev_spawn(fd, FASTSOCKET_CPU_AUTO, &lfd, &got);
		if (rc == 0) {
			if (!T.shim_pinned)
				T.base = *aff;
			T.shim_pinned = true;
			T.cpu = got;
			note_placed(got);
			fs_info("pid %d tid %d: pinned to CPU %d by the module",
				getpid(), T.tid, got);
			goto done;
		}
		if (narrowed)
			sched_setaffinity(0, sizeof(*aff), aff);
		if (rc != -EINVAL || place_thread(l, plan, aff) < 0)
			return rc;
	}
	rc = fs_dev_spawn(fd, T.cpu >= 0 ? T.cpu : plan->cpu, &lfd, &got);
	if (rc < 0)
		return rc;
	if (T.cpu < 0)
		T.cpu = got;
done:
	fl = fs_real.fcntl(lfd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fs_real.fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
	*out_fd = lfd;
	*out_cpu = got;
	return 0;
}

/*
 * l is one of the server's own per-worker SO_REUSEPORT sockets: place
 * the worker and, with the module, register that socket as its CPU's
 * local listener (FASTSOCKET_IOC_REGISTER). A copy would only add a
 * second queue on the same CPU. Always -1: the shim has no fd of its own
 * to mirror; the app's fd is the local listener.
 */
static int own_socket_local(struct fs_listener *l, int fd,
			    const struct fs_cpu_plan *plan, const cpu_set_t *aff)
{
	int rc;

	if (T.cpu < 0 && place_thread(l, plan, aff) < 0)
		return -1;
	if (!kmod_ok) {
		say_once(l, SAY_APPRP, "%s: one of the application's per-worker SO_REUSEPORT sockets: worker on CPU %d; the module is needed to steer to it",
			 l->name, T.cpu);
		return -1;
	}
	rc = fs_dev_register(fd, T.cpu);
	if (rc == 0) {
		fs_info("%s (fd %d): the worker's own socket is CPU %d's local listener (module)",
			l->name, fd, T.cpu);
		return -1;
	}
	say_once(l, SAY_REG, "%s: FASTSOCKET_IOC_REGISTER of fd %d for CPU %d: %s; worker on CPU %d, its socket not steered to",
		 l->name, fd, T.cpu, strerror(-rc), T.cpu);
	return -1;
}

/*
 * Place the calling worker and make its local listener for l (the app's
 * fd is fd). 0 with *out_fd, *out_cpu, *out_kmod, or -1: pass through.
 */
static int make_local(struct fs_listener *l, int fd, int *out_fd, int *out_cpu,
		      bool *out_kmod)
{
	const bool per_worker = l->flags & FS_LST_PER_WORKER;
	struct fs_cpu_plan plan;
	cpu_set_t aff;
	char why[256];
	int lfd = -1, rc;

	memset(&plan, 0, sizeof(plan));
	plan.how = FS_CPU_KEEP;
	plan.cpu = T.cpu;
	CPU_ZERO(&aff);
	if (sched_getaffinity(0, sizeof(aff), &aff) < 0)
		CPU_ZERO(&aff);
	if (T.cpu < 0) {
		fs_cpu_plan(fs_mode(), &aff, T.shim_pinned ? &T.base : NULL,
			    &fs_cfg.cpus, &plan);
		if (plan.how == FS_CPU_NONE) {
			say_once(l, SAY_NOCPU, "%s: %s; the worker passes through",
				 l->name, plan.why);
			return -1;
		}
	}

	if (per_worker)
		return own_socket_local(l, fd, &plan, &aff);
	if (!atomic_load(&l->nospawn) && kmod_ok) {
		rc = kmod_local(l, fd, &plan, &aff, out_fd, out_cpu);
		if (rc == 0) {
			*out_kmod = true;
			return 0;
		}
		say_once(l, SAY_KMOD, "%s: FASTSOCKET_IOC_SPAWN: %s; using the userspace fallback",
			 l->name, strerror(-rc));
	}

	if (T.cpu < 0 && place_thread(l, &plan, &aff) < 0)
		return -1;
	if (atomic_load(&l->nospawn))
		return -1;
	rc = fs_sibling_spawn(fd, T.cpu, l->backlog, &lfd, why, sizeof(why));
	if (rc < 0) {
		if (rc == -EACCES || rc == -EPERM || rc == -EADDRINUSE)
			atomic_store(&l->nospawn, true);
		say_once(l, SAY_USER, "%s: no local listener in userspace: %s; passing through",
			 l->name, why);
		return -1;
	}
	*out_fd = lfd;
	*out_cpu = T.cpu;
	*out_kmod = false;
	return 0;
}

static struct fs_local *spawn_locked(struct fs_listener *l, uint32_t lid,
				     uint32_t lgen, uint64_t key, int fd)
{
	struct fs_local *loc;
	int idx, lfd = -1, cpu = -1;
	bool kmod = false;

	if (atomic_load(&l->gen) != lgen ||
	    atomic_load(&l->state) != FS_LST_LISTENING)
		return NULL;
	idx = local_find(key);
	if (idx >= 0) {
		int cur = atomic_load(&fs_locals[idx].fd);

		cache_add(idx);
		if (cur >= 0)
			return &fs_locals[idx];
		if (cur == FS_LOCAL_NONE)
			return NULL;
	} else {
		if (fd_ino(fd) != l->ino)
			return NULL;	/* fd is not that socket any more */
		idx = local_alloc();
		if (idx < 0) {
			say_once(l, SAY_SLOTS, "%s: more than %d local listeners in this process; passing through",
				 l->name, FS_MAX_LOCALS);
			return NULL;
		}
		loc = &fs_locals[idx];
		atomic_store(&loc->fd, FS_LOCAL_NONE);
		loc->cpu = -1;
		loc->flip = 0;
		loc->kmod = false;
		atomic_store_explicit(&loc->key, key, memory_order_release);
		cache_add(idx);
	}
	loc = &fs_locals[idx];
	arm_thread_exit();
	if (make_local(l, fd, &lfd, &cpu, &kmod) < 0) {
		atomic_store(&loc->fd, FS_LOCAL_NONE);
		return NULL;
	}
	uint32_t g = atomic_fetch_add(&loc->gen, 1) + 1;

	forget_stale(lfd);
	if (fs_fdmap_set(lfd, fs_ent_make(FS_K_LOCAL, (uint32_t)idx, g)) < 0) {
		fs_real.close(lfd);
		atomic_store(&loc->fd, FS_LOCAL_NONE);
		return NULL;
	}
	loc->cpu = cpu;
	loc->kmod = kmod;
	atomic_store(&loc->unwatched, 0);
	loc->parked = false;
	atomic_store_explicit(&loc->fd, lfd, memory_order_release);
	/* Records still naming this slot's previous listener (closed where
	 * the lock could not be taken) are pending again, then mirrored. */
	fs_mirror_on_local_gone(idx, -1);
	fs_mirror_on_spawn(lid, lgen, idx, lfd, T.tid);
	fs_info("pid %d tid %d: %s: local listener fd %d on CPU %d (%s)",
		getpid(), T.tid, l->name, lfd, cpu,
		kmod ? "module" : "userspace, SO_INCOMING_CPU");
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
			loc = &fs_locals[i];
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
	if (!same_process() || !fs_lock())
		return NULL;
	loc = spawn_locked(l, fs_ent_idx(e), fs_ent_gen(e), key, fd);
	fs_unlock();
	return loc;
}

/* ---- bind, listen -------------------------------------------------- */

static unsigned int sockaddr_port(const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

static bool is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return false;
	len = sizeof(proto);
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
	       proto == IPPROTO_TCP;
}

/*
 * Record bound socket fd as a managed listener (state BOUND), named by fd.
 * NULL if the table is full (said) or fd cannot be recorded. Caller holds
 * the lock.
 */
static struct fs_listener *listener_record(int fd, bool app_rp)
{
	struct fs_listener *l;
	int lid = listener_alloc();

	if (lid < 0) {
		fs_info("fd %d: more than %d listening sockets; passing through",
			fd, FS_MAX_LISTENERS);
		return NULL;
	}
	l = &fs_listeners[lid];
	l->flags = app_rp ? FS_LST_APP_REUSEPORT : 0;
	l->backlog = SOMAXCONN;
	l->ino = fd_ino(fd);
	atomic_store(&l->nfds, 1);
	atomic_store(&l->said, 0);
	atomic_store(&l->nospawn, false);
	atomic_store(&l->doomed, false);
	format_addr(fd, l->name, sizeof(l->name));
	atomic_store_explicit(&l->state, FS_LST_BOUND, memory_order_release);
	if (fs_fdmap_set(fd, fs_ent_make(FS_K_LISTEN, (uint32_t)lid,
					 atomic_load(&l->gen))) < 0) {
		atomic_store(&l->state, FS_LST_FREE);
		atomic_fetch_add(&l->gen, 1);
		return NULL;
	}
	return l;
}

int fs_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	fs_ent old = fs_fdmap_get(fd);
	struct fs_listener *l;
	int rp = 0, one = 1, zero = 0, rc, err;
	socklen_t rplen = sizeof(rp);
	bool set = false;

	if (old)
		forget_if_stale(fd, old);
	if (!fs_cfg.valid || fs_cfg.mode == 0 || !sa ||
	    len < sizeof(sa_family_t) ||
	    !fs_port_configured(&fs_cfg, sockaddr_port(sa, len)) ||
	    !is_tcp(fd) || fs_fdmap_get(fd) || !same_process() || !fs_lock())
		return fs_real.bind(fd, sa, len);

	resolve_mode_locked();
	if (fs_mode() == 0) {
		fs_unlock();
		return fs_real.bind(fd, sa, len);
	}
	if (getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &rp, &rplen) < 0)
		rp = 0;
	if (!rp) {
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
			fs_debug("fd %d: SO_REUSEPORT: %s; passing through", fd,
				 strerror(errno));
			fs_unlock();
			return fs_real.bind(fd, sa, len);
		}
		set = true;
	}
	rc = fs_real.bind(fd, sa, len);
	err = errno;
	if (rc < 0) {
		if (set)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &zero, sizeof(zero));
		fs_unlock();
		errno = err;
		return rc;
	}
	l = listener_record(fd, rp != 0);
	if (l)
		fs_debug("fd %d bound to %s; SO_REUSEPORT %s", fd, l->name,
			 rp ? "set by the application" : "set by the shim");
	fs_unlock();
	errno = err;
	return rc;
}

/*
 * l starts listening with SO_REUSEPORT the application set: if another
 * such listener of this process is on the same address, both are
 * per-worker sockets (FS_LST_PER_WORKER). A lone one (haproxy's) gets
 * local listeners like any other. Caller holds the lock.
 */
static bool mark_per_worker(struct fs_listener *l)
{
	int hw = atomic_load(&listeners_hw);
	bool found = false;

	if (!(l->flags & FS_LST_APP_REUSEPORT))
		return false;
	for (int i = 0; i < hw; i++) {
		struct fs_listener *o = &fs_listeners[i];

		if (o == l || atomic_load(&o->state) != FS_LST_LISTENING ||
		    !(o->flags & FS_LST_APP_REUSEPORT) ||
		    strcmp(o->name, l->name) != 0)
			continue;
		o->flags |= FS_LST_PER_WORKER;
		found = true;
	}
	if (found)
		l->flags |= FS_LST_PER_WORKER;
	return found;
}

static void on_listening(struct fs_listener *l, int fd, int backlog)
{
	int hw;

	l->backlog = backlog;
	if (atomic_load(&l->state) == FS_LST_LISTENING) {
		/* listen() again with a new backlog: the locals follow. */
		hw = atomic_load(&locals_hw);
		for (int i = 0; i < hw; i++) {
			uint64_t key = atomic_load(&fs_locals[i].key);
			int lfd = atomic_load(&fs_locals[i].fd);

			if (key && key_lid(key) == (uint32_t)(l - fs_listeners) &&
			    key_lgen(key) == (atomic_load(&l->gen) & 0xfffff) &&
			    lfd >= 0 && !fs_locals[i].kmod)
				fs_real.listen(lfd, backlog);
		}
		return;
	}
	format_addr(fd, l->name, sizeof(l->name));
	if (fs_mode() == 2 && !atomic_load(&load_map))
		atomic_store(&load_map, fs_load_new());
	if (!atomic_load(&said_map)) {
		void *m = mmap(NULL, sizeof(unsigned int) * FS_MAX_LISTENERS,
			       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);

		if (m != MAP_FAILED)
			atomic_store(&said_map, m);
	}
	if (atomic_load(&said_map))
		atomic_store(&atomic_load(&said_map)[l - fs_listeners], 0);
	atomic_store_explicit(&l->state, FS_LST_LISTENING, memory_order_release);
	atomic_fetch_add(&fs_nlisteners, 1);
	if (mark_per_worker(l))
		fs_info("%s (fd %d): one of several sockets on this address with SO_REUSEPORT set by the application (per-worker sockets): each worker is pinned and its own socket becomes its CPU's local listener (%s)",
			l->name, fd, kmod_ok ? "module" : "needs the module");
	else
		fs_info("%s (fd %d): SO_REUSEPORT set by the %s; a CPU-local listener for each worker on its first wait (mode %d, %s)",
			l->name, fd,
			l->flags & FS_LST_APP_REUSEPORT ? "application" : "shim",
			fs_mode(), kmod_ok ? "module" : "userspace");
}

int fs_listen(int fd, int backlog)
{
	fs_ent e = fs_fdmap_get(fd);
	struct fs_listener *l;
	int rc, err;

	if (fs_ent_kind(e) != FS_K_LISTEN)
		return fs_real.listen(fd, backlog);
	forget_if_stale(fd, e);
	if (fs_fdmap_get(fd) != e)
		return fs_real.listen(fd, backlog);
	rc = fs_real.listen(fd, backlog);
	if (rc < 0 || !same_process())
		return rc;
	err = errno;
	if (fs_lock()) {
		l = fs_listener_known(e);
		if (l)
			on_listening(l, fd, backlog);
		fs_unlock();
	}
	errno = err;
	return rc;
}

/* ---- accept --------------------------------------------------------- */

/* The listening socket's SO_RCVTIMEO in ms, or -1 for none. */
static int rcvtimeo_ms(int fd)
{
	struct timeval tv = { 0, 0 };
	socklen_t len = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) < 0 ||
	    (tv.tv_sec == 0 && tv.tv_usec == 0))
		return -1;
	return (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static bool again(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK;
}

/*
 * Accept on listening fd for a worker with local listener loc: the local
 * listener and the original in turn (which one goes first alternates from
 * call to call, so neither queue can starve the other), both without
 * blocking. If both are empty: EAGAIN for a non-blocking fd; for a
 * blocking one, poll both (honouring SO_RCVTIMEO) and go again.
 */
static int accept_both(int fd, struct fs_local *loc, struct sockaddr *addr,
		       socklen_t *alen, int flags)
{
	int nonblock = -1, timeout = -2;
	long deadline = 0;

	for (;;) {
		int lfd = atomic_load_explicit(&loc->fd, memory_order_acquire);
		bool local_first = (loc->flip++ & 1) == 0;

		if (lfd < 0)
			return fs_real.accept4(fd, addr, alen, flags);
		for (int step = 0; step < 2; step++) {
			int r;

			if ((step == 0) == local_first) {
				r = fs_real.accept4(lfd, addr, alen, flags);
				if (r >= 0)
					return r;
				if (again(errno))
					continue;
				if (errno == EBADF || errno == ENOTSOCK ||
				    errno == EINVAL) {
					/* Not ours any more: use the original. */
					fs_debug("local listener fd %d: %s", lfd,
						 strerror(errno));
					return fs_real.accept4(fd, addr, alen,
							       flags);
				}
				return -1;
			}
			if (nonblock < 0) {
				int fl = fs_real.fcntl(fd, F_GETFL);

				if (fl < 0)
					return -1;
				nonblock = (fl & O_NONBLOCK) != 0;
			}
			if (!nonblock)
				continue;
			r = fs_real.accept4(fd, addr, alen, flags);
			if (r >= 0 || !again(errno))
				return r;
		}
		if (nonblock) {
			errno = EAGAIN;
			return -1;
		}

		struct pollfd p[2] = {
			{ .fd = lfd, .events = POLLIN },
			{ .fd = fd, .events = POLLIN },
		};
		int wait = -1, n;

		if (timeout == -2) {
			timeout = rcvtimeo_ms(fd);
			if (timeout >= 0)
				deadline = now_ms() + timeout;
		}
		if (timeout >= 0) {
			long left = deadline - now_ms();

			wait = left > 0 ? (int)left : 0;
		}
		n = fs_real.poll(p, 2, wait);
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (p[1].revents && !(p[0].revents & POLLIN))
			return fs_real.accept4(fd, addr, alen, flags);
	}
}

int fs_accept(int fd, struct sockaddr *addr, socklen_t *alen, int flags,
	      bool four)
{
	fs_ent e = fs_fdmap_get(fd);
	struct fs_local *loc = NULL;
	int r;

	if (fs_ent_kind(e) == FS_K_LISTEN)
		loc = fs_wait_local(e, fd);
	if (loc)
		r = accept_both(fd, loc, addr, alen, flags);
	else if (four)
		r = fs_real.accept4(fd, addr, alen, flags);
	else
		r = fs_real.accept(fd, addr, alen);
	if (r >= 0)
		forget_stale(r);
	return r;
}

/* ---- close, shutdown, dup ------------------------------------------ */

int fs_close(int fd)
{
	fs_ent e = fs_fdmap_get(fd);
	int rc, err;

	if (!e)
		return fs_real.close(fd);
	if (!same_process())
		return fs_real.close(fd);
	if (fs_ent_kind(e) == FS_K_LOCAL) {
		local_taken(fd, e, true);
		return fs_real.close(fd);
	}
	e = fs_fdmap_xchg(fd, 0);
	rc = fs_real.close(fd);
	err = errno;
	if (e)
		entry_gone(fd, e);
	errno = err;
	return rc;
}

int fs_shutdown(int fd, int how)
{
	fs_ent e = fs_fdmap_get(fd);
	struct fs_listener *l;
	int rc = fs_real.shutdown(fd, how), err = errno;

	if (rc < 0 || fs_ent_kind(e) != FS_K_LISTEN || how == SHUT_WR ||
	    !same_process())
		return rc;
	/* SHUT_RD stops a listening socket: the local listeners go too, and
	 * come back after the next listen() on the next wait. */
	if (fs_lock()) {
		l = fs_listener_known(e);
		if (l && atomic_load(&l->state) == FS_LST_LISTENING) {
			atomic_store(&l->state, FS_LST_SHUT);
			atomic_fetch_sub(&fs_nlisteners, 1);
			kill_locals(fs_ent_idx(e), fs_ent_gen(e), false);
			fs_debug("%s: shut down; local listeners closed", l->name);
		}
		fs_unlock();
	}
	errno = err;
	return rc;
}

/* newfd is a new fd for oldfd's file: it carries oldfd's state. */
static void note_dup(int oldfd, int newfd)
{
	fs_ent e = fs_fdmap_get(oldfd);
	struct fs_listener *l;

	forget_stale(newfd);
	if (!e || !same_process())
		return;
	switch (fs_ent_kind(e)) {
	case FS_K_LISTEN:
		l = fs_listener_known(e);
		if (!l)
			break;
		atomic_fetch_add(&l->nfds, 1);
		if (fs_fdmap_set(newfd, e) < 0)
			atomic_fetch_sub(&l->nfds, 1);
		break;
	case FS_K_EPOLL:
		fs_fdmap_set(newfd, e);
		break;
	default:
		break;	/* a dup of the shim's own fd is the app's */
	}
}

int fs_dup(int fd)
{
	int r = fs_real.dup(fd), err = errno;

	if (r >= 0)
		note_dup(fd, r);
	errno = err;
	return r;
}

int fs_fcntl_dupfd(int fd, int cmd, int minfd)
{
	int r = fs_real.fcntl(fd, cmd, minfd), err = errno;

	if (r >= 0)
		note_dup(fd, r);
	errno = err;
	return r;
}

int fs_dup3(int oldfd, int newfd, int flags, bool three)
{
	fs_ent ne = fs_fdmap_get(newfd), cur;
	bool took_local = false;
	int r, err;

	if ((!ne && !fs_fdmap_get(oldfd)) || oldfd == newfd || !same_process())
		return three ? fs_real.dup3(oldfd, newfd, flags)
			     : fs_real.dup2(oldfd, newfd);
	if (fs_ent_kind(ne) == FS_K_LOCAL) {
		/* The app replaces one of the shim's fds: unmirror it while
		 * it is still the local listener. */
		local_taken(newfd, ne, true);
		took_local = true;
	}
	r = three ? fs_real.dup3(oldfd, newfd, flags)
		  : fs_real.dup2(oldfd, newfd);
	err = errno;
	if (r < 0) {
		if (took_local)
			fs_real.close(newfd);	/* still ours: do not leak it */
		errno = err;
		return r;
	}
	cur = fs_fdmap_xchg(newfd, 0);
	if (cur)
		entry_gone(newfd, cur);
	note_dup(oldfd, newfd);
	errno = err;
	return r;
}

/* ---- close_range, closefrom ---------------------------------------- */

struct range_ctx {
	bool any;
};

static void range_any(int fd, fs_ent e, void *ctx)
{
	(void)fd;
	(void)e;
	((struct range_ctx *)ctx)->any = true;
}

static void range_pre(int fd, fs_ent e, void *ctx)
{
	(void)ctx;
	if (fs_ent_kind(e) == FS_K_LOCAL)
		local_taken(fd, e, true);
}

static void range_post(int fd, fs_ent e, void *ctx)
{
	(void)ctx;
	e = fs_fdmap_xchg(fd, 0);
	if (e)
		entry_gone(fd, e);
}

static int clamp_fd(unsigned int v)
{
	return v >= FS_FD_MAX ? (int)FS_FD_MAX - 1 : (int)v;
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int real_close_range(unsigned int lo, unsigned int hi, int flags)
{
	if (fs_real.close_range)
		return fs_real.close_range(lo, hi, flags);
	return (int)syscall(SYS_close_range, lo, hi, flags);
}

int fs_close_range(unsigned int lo, unsigned int hi, int flags)
{
	struct range_ctx ctx = { false };
	int r, err;

	if (lo > hi || lo >= FS_FD_MAX || (flags & CLOSE_RANGE_CLOEXEC) ||
	    !same_process())
		return real_close_range(lo, hi, flags);
	fs_fdmap_foreach((int)lo, clamp_fd(hi), range_any, &ctx);
	if (!ctx.any)
		return real_close_range(lo, hi, flags);
	fs_fdmap_foreach((int)lo, clamp_fd(hi), range_pre, NULL);
	r = real_close_range(lo, hi, flags);
	err = errno;
	if (r == 0)
		fs_fdmap_foreach((int)lo, clamp_fd(hi), range_post, NULL);
	errno = err;
	return r;
}

void fs_closefrom(int lo)
{
	struct range_ctx ctx = { false };

	if (lo < 0)
		lo = 0;
	if (same_process())
		fs_fdmap_foreach(lo, -1, range_any, &ctx);
	if (!ctx.any) {
		if (fs_real.closefrom)
			fs_real.closefrom(lo);
		else
			real_close_range((unsigned int)lo, ~0U, 0);
		return;
	}
	fs_fdmap_foreach(lo, -1, range_pre, NULL);
	if (fs_real.closefrom)
		fs_real.closefrom(lo);
	else
		real_close_range((unsigned int)lo, ~0U, 0);
	fs_fdmap_foreach(lo, -1, range_post, NULL);
}

/* ---- fork, thread exit ---------------------------------------------- */

static _Thread_local bool fork_locked;

void fs_atfork_prepare(void)
{
	fork_locked = fs_lock();
}

void fs_atfork_parent(void)
{
	if (fork_locked)
		fs_unlock();
	fork_locked = false;
}

/*
 * In the child: the bookkeeping of fds stays (the child has the same
 * fds), but local listeners belong to the thread that made them, in the
 * parent: close the child's copies. The forking thread's epoll records
 * become the child's, pending, so the child's first wait mirrors its own
 * local listener into them. The child is placed anew (CPU counts are the
 * parent's).
 */
void fs_atfork_child(void)
{
	pid_t old = T.tid;
	int hw = atomic_load(&locals_hw);

	pthread_mutex_init(&lock, NULL);
	atomic_store(&lock_owner, 0);
	fork_locked = false;
	T.tid = (pid_t)syscall(SYS_gettid);
	state_pid = getpid();
	for (int i = 0; i < hw; i++) {
		struct fs_local *loc = &fs_locals[i];
		int lfd = atomic_exchange(&loc->fd, FS_LOCAL_DEAD);

		if (lfd >= 0) {
			fs_fdmap_set(lfd, 0);
			fs_real.close(lfd);
		}
		atomic_store(&loc->unwatched, 0);
		loc->parked = false;
		atomic_store(&loc->key, 0);
	}
	atomic_store(&fs_unwatched_n, 0);
	fs_mirror_fork_child(old, T.tid);
	T.ncache = 0;
	T.cpu = -1;
	T.load_slot = -1;
}

static void thread_exit(void *arg)
{
	int hw = atomic_load(&locals_hw);
	pid_t me;

	(void)arg;
	if (!same_process() || !fs_lock())
		return;
	me = T.tid;
	for (int i = 0; i < hw; i++) {
		uint64_t key = atomic_load(&fs_locals[i].key);

		if (key && fs_local_key_tid(key) == me)
			local_close(i, true);
	}
	fs_mirror_drop_owner(me);
	if (T.load_slot >= 0) {
		fs_load_release(atomic_load(&load_map), T.load_slot);
		T.load_slot = -1;
	}
	T.ncache = 0;
	fs_unlock();
}

/* ---- setup ----------------------------------------------------------- */

/* ---- listening sockets inherited across exec ------------------------ */

/*
 * fd, open when the library was loaded, is a listening TCP socket on a
 * configured port: inherited across exec (nginx's binary upgrade hands
 * its listening sockets to the new binary this way, systemd socket
 * activation too). It was bound before this process existed, so the
 * shim never saw the bind. If it has SO_REUSEPORT it can take local
 * listeners like any other: manage it as one whose SO_REUSEPORT the
 * application set (the shim cannot tell; either way a lone socket gets
 * local listeners, and several on one address are the server's per-worker
 * sockets, see mark_per_worker()). Without SO_REUSEPORT nothing can join
 * it: it passes through (said).
 */
static void adopt_one(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int on = 0, rp = 0;
	socklen_t ol = sizeof(on), rl = sizeof(rp);
	struct fs_listener *l;
	char name[64];

	if (fs_fdmap_get(fd) || !is_tcp(fd) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol) < 0 || !on ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    !fs_port_configured(&fs_cfg, sockaddr_port((struct sockaddr *)&ss, sl)))
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &rp, &rl) < 0 || !rp) {
		format_addr(fd, name, sizeof(name));
		fs_info("%s (fd %d): inherited listening socket without SO_REUSEPORT: no local listeners can join it; passing through",
			name, fd);
		return;
	}
	if (!fs_lock())
		return;
	resolve_mode_locked();
	if (fs_mode() != 0) {
		l = listener_record(fd, true);
		if (l) {
			fs_info("%s (fd %d): inherited listening socket with SO_REUSEPORT: managed",
				l->name, fd);
			on_listening(l, fd, SOMAXCONN);
		}
	}
	fs_unlock();
}

void fs_adopt_inherited(void)
{
	int fds[256], n = 0;
	struct dirent *de;
	DIR *dir;

	if (!fs_cfg.valid || fs_cfg.mode == 0)
		return;
	dir = opendir("/proc/self/fd");
	if (!dir)
		return;	/* no /proc: inherited sockets pass through */
	while ((de = readdir(dir)) && n < (int)(sizeof(fds) / sizeof(fds[0]))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd < 0 || fd == dirfd(dir) ||
		    fd >= FS_FD_MAX)
			continue;
		fds[n++] = (int)fd;
	}
	closedir(dir);
	for (int i = 0; i < n; i++)
		adopt_one(fds[i]);
}

void fs_shim_init(void)
{
	char ports[32], cpus[128];

	state_pid = getpid();
	fs_config_init();
	exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
	pthread_atfork(fs_atfork_prepare, fs_atfork_parent, fs_atfork_child);
	if (fs_cfg.valid && fs_cfg.log >= FS_LOG_DEBUG) {
		fs_cpuset_format(&fs_cfg.cpus, cpus, sizeof(cpus));
		snprintf(ports, sizeof(ports), "%s",
			 fs_cfg.ports_all ? "all" : "FASTSOCKET_PORTS");
		fs_debug("pid %d: loaded; mode %s, ports %s, CPUs %s", getpid(),
			 fs_cfg.mode == FS_MODE_UNSET ? "default" :
			 fs_cfg.mode == 0 ? "0" : fs_cfg.mode == 1 ? "1" : "2",
			 ports, cpus);
	}
	fs_adopt_inherited();
}

void fs_listen_reset(void)
{
	int hw = atomic_load(&locals_hw);

	for (int i = 0; i < hw; i++) {
		int lfd = atomic_exchange(&fs_locals[i].fd, FS_LOCAL_DEAD);

		if (lfd >= 0)
			fs_real.close(lfd);
		atomic_store(&fs_locals[i].unwatched, 0);
		fs_locals[i].parked = false;
		atomic_store(&fs_locals[i].key, 0);
	}
	atomic_store(&fs_unwatched_n, 0);
	hw = atomic_load(&listeners_hw);
	for (int i = 0; i < hw; i++) {
		atomic_store(&fs_listeners[i].state, FS_LST_FREE);
		atomic_fetch_add(&fs_listeners[i].gen, 1);
		atomic_store(&fs_listeners[i].doomed, false);
		atomic_store(&fs_listeners[i].nfds, 0);
	}
	atomic_store(&fs_nlisteners, 0);
	fs_mirror_reset();
	fs_fdmap_reset();
	fs_dev_reset();
	atomic_store(&resolved_mode, -1);
	kmod_ok = false;
	if (T.load_slot >= 0)
		fs_load_release(atomic_load(&load_map), T.load_slot);
	fs_load_free(atomic_exchange(&load_map, NULL));
	T.ncache = 0;
	T.cpu = -1;
	T.load_slot = -1;
	T.shim_pinned = false;
	state_pid = getpid();
}
