// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * rfd.c - receive flow deliver, the port half (rfd.h).
 *
 * Why IP_LOCAL_PORT_RANGE and not bind(): the kernel then picks the port
 * inside the block with all its own logic (4-tuple sharing, TIME_WAIT
 * reuse, reserved ports), and a failed pick leaves the socket unbound, so
 * a retry on the full range is possible. An explicit bind() would lock
 * the port for good (Documentation/design.md, "Receive flow deliver").
 *
 * Per fd one byte of what the application did to it. It is written on
 * socket() (TCP or not), so a stale byte of an fd closed behind the
 * shim's back can only linger on an fd made some other way (accept,
 * dup are cleared, socket overwrites it); the worst it can do is set a
 * port range on a socket that was not made by socket().
 */
#include "rfd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/fastsocket.h>

#include "config.h"
#include "cpu.h"
#include "fdmap.h"
#include "listener.h"
#include "log.h"
#include "real.h"
#include "shim.h"

#define RFD_TCP		0x01	/* made by socket(AF_INET[6], SOCK_STREAM, TCP) */
#define RFD_SKIP	0x02	/* bound, app-set range, or already tried */
#define RFD_NO_PORT	0x04	/* IP_BIND_ADDRESS_NO_PORT on: bind leaves port 0 */

_Atomic bool fs_rfd_on;
/* The layout in use: FASTSOCKET_RFD_LAYOUT's, or the module's (fs_rfd_adopt).
 * Written before fs_rfd_on is set, never while it is. */
static struct fs_rfd_layout layout;

typedef _Atomic uint8_t slot_t;
static _Atomic(void *) top[FS_FD_TOP];	/* fs_fd_chunk()'s, as fdmap.c's */
static _Atomic bool unsupported;	/* the kernel said ENOPROTOOPT */
static _Atomic unsigned long n_set, n_fallback, n_bound_zero;

/* Per thread: the one CPU it is pinned to (or -1), as of aff_gen, seen on
 * CPU last (fs_cpu_affinity_gen). A pinned thread always runs on its CPU, so a different
 * sched_getcpu() (vDSO, no system call) means its affinity changed. */
static __thread struct {
	unsigned int gen;
	int last;
	int pinned;
} self __attribute__((tls_model(FS_TLS_MODEL)));

static slot_t *slot_of(int fd, bool make)
{
	slot_t *c = fs_fd_chunk(top, fd, sizeof(slot_t), make);

	return c ? &c[(unsigned int)fd & (FS_FD_CHUNK - 1)] : NULL;
}

/* open/read, not stdio: fclose() is the shim's own interposer. */
static int read_range(const char *file, unsigned long *lo, unsigned long *hi)
{
	char buf[64];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	fs_real.close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return sscanf(buf, "%lu %lu", lo, hi) == 2 ? 0 : -1;
}

void fs_rfd_init(const char *range_file)
{
	const struct fs_rfd_layout *l = &fs_cfg.rfd_layout;
	unsigned long lo, hi, last;

	fs_rfd_on = false;
	if (!fs_cfg.valid || !fs_cfg.rfd)
		return;
	layout = *l;
	last = l->lo + (unsigned long)l->block * l->ncpus - 1;
	if (!range_file)
		range_file = "/proc/sys/net/ipv4/ip_local_port_range";
	/* The kernel ignores a per-socket bound outside the netns's range:
	 * the blocks would leak into the rest of it. */
	if (read_range(range_file, &lo, &hi) == 0 && (l->lo < lo || last > hi)) {
		fs_say("FASTSOCKET_RFD_LAYOUT: ports %u-%lu are not inside net.ipv4.ip_local_port_range (%lu-%lu); RFD off",
		       l->lo, last, lo, hi);
		return;
	}
	fs_rfd_on = true;
	fs_info("RFD: ports %u-%lu in %u blocks of %u; CPU c gets %u+c*%u .. %u+(c+1)*%u-1",
		l->lo, last, l->ncpus, l->block, l->lo, l->block, l->lo,
		l->block);
}

void fs_rfd_adopt(const struct fastsocket_info *info)
{
	fs_assert_locked();
	if (!fs_cfg.valid || !(info->features & FASTSOCKET_FEAT_RFD_PORTS))
		return;
	if (fs_rfd_on) {
		fs_info("RFD: FASTSOCKET_RFD_LAYOUT wins over the module's port blocks (%u+c*%u, %u CPUs)",
			info->rfd_port_lo, info->rfd_block, info->rfd_ncpus);
		return;
	}
	if (!info->rfd_block || !info->rfd_ncpus || info->rfd_ncpus > FS_MAX_CPUS ||
	    info->rfd_port_lo + (unsigned long)info->rfd_block * info->rfd_ncpus - 1 > 65535) {
		fs_info("RFD: the module's port blocks (%u+c*%u, %u CPUs) make no sense here; RFD off",
			info->rfd_port_lo, info->rfd_block, info->rfd_ncpus);
		return;
	}
	layout.lo = info->rfd_port_lo;
	layout.block = info->rfd_block;
	layout.ncpus = info->rfd_ncpus;
	layout.hi = (uint16_t)(layout.lo + layout.block * layout.ncpus - 1);
	fs_rfd_on = true;
	fs_info("RFD: port blocks from the module (enable_receive_flow_deliver=%u): CPU c gets %u+c*%u .. %u+(c+1)*%u-1, %u CPUs",
		info->enable_receive_flow_deliver, layout.lo, layout.block,
		layout.lo, layout.block, layout.ncpus);
}

void fs_rfd_socket(int fd, int domain, int type, int protocol)
{
	slot_t *s;
	int t = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	bool tcp = (domain == AF_INET || domain == AF_INET6) &&
		   t == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP);

	s = slot_of(fd, tcp);
	if (s)
		atomic_store_explicit(s, tcp ? RFD_TCP : 0, memory_order_relaxed);
}

void fs_rfd_setsockopt(int fd, int level, int name, const void *val,
		       socklen_t len)
{
	slot_t *s = slot_of(fd, false);
	int v = 0;

	if (!s || !(atomic_load_explicit(s, memory_order_relaxed) & RFD_TCP) ||
	    level != IPPROTO_IP)
		return;
	if (name == IP_LOCAL_PORT_RANGE) {
		/* The application's own range wins, even "0" (the default). */
		atomic_fetch_or_explicit(s, RFD_SKIP, memory_order_relaxed);
	} else if (name == IP_BIND_ADDRESS_NO_PORT && val) {
		memcpy(&v, val, len < sizeof(v) ? len : sizeof(v));
		if (v)
			atomic_fetch_or_explicit(s, RFD_NO_PORT, memory_order_relaxed);
		else
			atomic_fetch_and_explicit(s, (uint8_t)~RFD_NO_PORT,
						  memory_order_relaxed);
	}
}

void fs_rfd_bound(int fd, const struct sockaddr *sa, socklen_t len)
{
	slot_t *s = slot_of(fd, false);
	uint8_t f;

	if (!s || !sa || len < sizeof(sa_family_t))
		return;
	f = atomic_load_explicit(s, memory_order_relaxed);
	if (!(f & RFD_TCP))
		return;
	if (fs_sockaddr_port(sa, len) != 0) {
		atomic_fetch_or_explicit(s, RFD_SKIP, memory_order_relaxed);
	} else if (!(f & RFD_NO_PORT)) {
		/* bind(addr, 0) picked its port already: too late. */
		atomic_fetch_or_explicit(s, RFD_SKIP, memory_order_relaxed);
		atomic_fetch_add(&n_bound_zero, 1);
		fs_debug("fd %d: bind to port 0 without IP_BIND_ADDRESS_NO_PORT: its port is the kernel's, not its CPU block's",
			 fd);
	}
}

void fs_rfd_forget(int fd)
{
	slot_t *s = slot_of(fd, false);

	if (s)
		atomic_store_explicit(s, 0, memory_order_relaxed);
}

void fs_rfd_forget_range(unsigned int lo, unsigned int hi)
{
	if (hi >= FS_FD_MAX)
		hi = FS_FD_MAX - 1;
	for (unsigned int fd = lo; fd <= hi;) {
		slot_t *c = fs_fd_chunk(top, (int)fd, sizeof(slot_t), false);

		if (!c) {
			fd = (fd | (FS_FD_CHUNK - 1)) + 1;
			continue;
		}
		atomic_store_explicit(&c[fd & (FS_FD_CHUNK - 1)], 0,
				      memory_order_relaxed);
		fd++;
	}
}

/* The one CPU the calling thread may run on, or -1. One system call per
 * thread and affinity change, none otherwise. */
static int pinned_cpu(void)
{
	unsigned int gen = atomic_load_explicit(&fs_cpu_affinity_gen,
						memory_order_relaxed);
	int now = sched_getcpu();
	cpu_set_t set;

	if (self.gen == gen && self.last == now)
		return self.pinned;
	self.gen = gen;
	self.last = now;
	self.pinned = -1;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		self.pinned = fs_cpu_only(&set);
	return self.pinned;
}

static int set_range(int fd, uint32_t v)
{
	return fs_real.setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v,
				  sizeof(v));
}

ssize_t fs_rfd_pick(int fd, const struct sockaddr *sa, socklen_t len,
		    fs_rfd_call call, void *arg)
{
	const struct fs_rfd_layout *l = &layout;
	slot_t *s = slot_of(fd, false);
	uint32_t lo, hi;
	int cpu, err;
	ssize_t rc;

	if (!s || (atomic_load_explicit(s, memory_order_relaxed) &
		   (RFD_TCP | RFD_SKIP)) != RFD_TCP ||
	    !sa || len < sizeof(sa_family_t) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    atomic_load_explicit(&unsupported, memory_order_relaxed))
		return call(fd, arg);
	cpu = pinned_cpu();
	if (cpu < 0 || (uint32_t)cpu >= l->ncpus)
		return call(fd, arg);
	/* One try per socket: a connect() again after EINPROGRESS must
	 * not touch the range of a connection under way. */
	atomic_fetch_or_explicit(s, RFD_SKIP, memory_order_relaxed);
	lo = l->lo + (uint32_t)cpu * l->block;
	hi = lo + l->block - 1;
	if (set_range(fd, hi << 16 | lo) < 0) {
		if (errno == ENOPROTOOPT &&
		    !atomic_exchange(&unsupported, true))
			fs_info("RFD: this kernel has no IP_LOCAL_PORT_RANGE (6.3, or 6.1.32 and later): connect() passes through from now on");
		return call(fd, arg);
	}
	atomic_fetch_add_explicit(&n_set, 1, memory_order_relaxed);
	rc = call(fd, arg);
	if (rc >= 0 || errno != EADDRNOTAVAIL)
		return rc;
	/* The block has no port free for this destination: the full range.
	 * The failed pick left the socket unbound, so it can try again. */
	err = errno;
	if (set_range(fd, 0) < 0) {
		errno = err;
		return rc;
	}
	atomic_fetch_add_explicit(&n_fallback, 1, memory_order_relaxed);
	fs_debug("fd %d: CPU %d's port block %u-%u is full for this destination; connecting on the full range",
		 fd, cpu, lo, hi);
	return call(fd, arg);
}

struct connect_call {
	int (*real_connect)(int, const struct sockaddr *, socklen_t);
	const struct sockaddr *sa;
	socklen_t len;
};

static ssize_t call_connect(int fd, void *arg)
{
	const struct connect_call *c = arg;

	return c->real_connect(fd, c->sa, c->len);
}

int fs_rfd_connect(int fd, const struct sockaddr *sa, socklen_t len,
		   int (*real_connect)(int, const struct sockaddr *, socklen_t))
{
	struct connect_call c = { real_connect, sa, len };

	return (int)fs_rfd_pick(fd, sa, len, call_connect, &c);
}

void fs_rfd_stats(struct fs_rfd_stats *st)
{
	st->set = atomic_load(&n_set);
	st->fallback = atomic_load(&n_fallback);
	st->bound_zero = atomic_load(&n_bound_zero);
}

void fs_rfd_reset(void)
{
	fs_rfd_on = false;
	memset(&layout, 0, sizeof(layout));
	fs_rfd_forget_range(0, FS_FD_MAX - 1);
	atomic_store(&unsupported, false);
	atomic_store(&n_set, 0);
	atomic_store(&n_fallback, 0);
	atomic_store(&n_bound_zero, 0);
	fs_cpu_affinity_changed();
}
