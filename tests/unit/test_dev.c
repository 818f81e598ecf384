// SPDX-License-Identifier: GPL-2.0
/*
 * The module path, against a fake /dev/fastsocket that keeps the
 * contract of include/uapi/linux/fastsocket.h: the default mode comes
 * from FASTSOCKET_IOC_INFO, local listeners from FASTSOCKET_IOC_SPAWN
 * with the CPU request each mode calls for, and every way the module can
 * fail ends in the userspace fallback.
 */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "config.h"
#include "cpu.h"
#include "fdmap.h"
#include "dev.h"
#include "accept.h"
#include "bind.h"
#include "fdops.h"
#include "init.h"
#include "listener.h"
#include "local.h"
#include "mode.h"
#include "park.h"
#include "shim.h"
#include "testing.h"
#include "epoll.h"
#include "mirror.h"
#include "pollsel.h"
#include "real.h"
#include "sibling.h"

static struct {
	int opens, spawns, infos, registers;
	int register_errno;	/* fail REGISTER with this, if set */
	int reg_fd, reg_cpu;	/* the last REGISTER */
	int parks, resumes;	/* PARK calls with and without PARK_ON */
	bool own_port;		/* SPAWN: a listener on a port of its own */
	int fd;			/* the fake device's fd */
	struct fastsocket_info info;
	int spawn_errno;	/* fail SPAWN with this, if set */
	int last_cpu;		/* the cpu field of the last SPAWN */
	int open_errno;		/* fail open with this, if set */
} fake;

static int fake_open(const char *path, int flags)
{
	assert_string_equal(path, FASTSOCKET_DEVICE_PATH);
	assert_true(flags & O_CLOEXEC);
	if (fake.open_errno) {
		errno = fake.open_errno;
		return -1;
	}
	fake.opens++;
	fake.fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return fake.fd;
}

static int first_allowed(void)
{
	cpu_set_t now;

	sched_getaffinity(0, sizeof(now), &now);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &now))
			return c;
	return -1;
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd != fake.fd) {
		errno = EBADF;
		return -1;
	}
	if (req == FASTSOCKET_IOC_INFO) {
		fake.infos++;
		memcpy(arg, &fake.info, sizeof(fake.info));
		return 0;
	}
	if (req == FASTSOCKET_IOC_SPAWN) {
		struct fastsocket_spawn *s = arg;
		int rp = 0, cpu, lfd;
		socklen_t len = sizeof(rp);
		char why[256];

		fake.spawns++;
		fake.last_cpu = s->cpu;
		if (s->cpu == FASTSOCKET_CPU_AUTO &&
		    fake.info.enable_listen_spawn != FASTSOCKET_SPAWN_AUTO) {
			errno = EINVAL;	/* the module picks only in mode 2 */
			return -1;
		}
		if (fake.spawn_errno) {
			errno = fake.spawn_errno;
			return -1;
		}
		/* What the module checks. */
		if (s->flags || s->reserved[0] || s->reserved[1] ||
		    s->reserved[2] || s->reserved[3]) {
			errno = EINVAL;
			return -1;
		}
		if (getsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &rp, &len) < 0 || !rp) {
			errno = ENOPROTOOPT;
			return -1;
		}
		cpu = s->cpu;
		if (cpu == FASTSOCKET_CPU_AUTO &&
		    fake.info.enable_listen_spawn != FASTSOCKET_SPAWN_AUTO) {
			errno = EINVAL;	/* the module picks only in mode 2 */
			return -1;
		}
		if (cpu == FASTSOCKET_CPU_AUTO) {
			cpu = first_allowed();
			fs_cpu_pin(cpu);	/* "pin caller" */
		} else if (cpu == FASTSOCKET_CPU_CURRENT) {
			cpu_set_t now;

			sched_getaffinity(0, sizeof(now), &now);
			cpu = fs_cpu_only(&now);
			if (cpu < 0) {
				errno = EINVAL;
				return -1;
			}
		}
		if (fake.own_port) {
			int port;

			/* Not in the group: a client reaches it for sure. */
			lfd = t_listener(AF_INET, false, &port);
			s->local_fd = lfd;
			s->cpu = cpu;
			return 0;
		}
		if (fs_sibling_spawn(s->fd, cpu, 16, &lfd, why, sizeof(why)) < 0) {
			errno = EADDRINUSE;
			return -1;
		}
		/* The module's fd blocks; the shim must make it not. */
		fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) & ~O_NONBLOCK);
		s->local_fd = lfd;
		s->cpu = cpu;
		return 0;
	}
	if (req == FASTSOCKET_IOC_PARK &&
	    (fake.info.features & FASTSOCKET_FEAT_PARK)) {
		struct fastsocket_park *p = arg;

		if ((p->flags & ~FASTSOCKET_PARK_ON) || p->reserved[0] ||
		    p->reserved[1]) {
			errno = EINVAL;
			return -1;
		}
		if (p->flags & FASTSOCKET_PARK_ON)
			fake.parks++;
		else
			fake.resumes++;
		return 0;
	}
	if (req == FASTSOCKET_IOC_REGISTER &&
	    (fake.info.features & FASTSOCKET_FEAT_REGISTER)) {
		struct fastsocket_register *r = arg;

		fake.registers++;
		fake.reg_fd = r->fd;
		fake.reg_cpu = r->cpu;
		if (r->flags || r->reserved[0] || r->cpu == FASTSOCKET_CPU_AUTO) {
			errno = EINVAL;
			return -1;
		}
		if (fake.register_errno) {
			errno = fake.register_errno;
			return -1;
		}
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

static int setup(void **state)
{
	t_reset(state);
	memset(&fake, 0, sizeof(fake));
	fake.fd = -1;
	fake.info.abi_version = FASTSOCKET_ABI_VERSION;
	fake.info.features = FASTSOCKET_FEAT_SPAWN | FASTSOCKET_FEAT_STEER_IPV4 |
			     FASTSOCKET_FEAT_STEER_IPV6 | FASTSOCKET_FEAT_REGISTER;
	fake.info.enable_listen_spawn = FASTSOCKET_SPAWN_AUTO;
	fake.info.nr_cpu_ids = 2;
	fs_dev_ops.open = fake_open;
	fs_dev_ops.ioctl = fake_ioctl;
	/* FASTSOCKET_MODE unset: the module's parameter decides. */
	char err[FS_ERR_MAX];

	fs_config_parse(&fs_cfg, NULL, NULL, NULL, getenv("T_LOG"), &t_affinity,
			err, sizeof(err));
	return 0;
}

static int teardown(void **state)
{
	t_reset(state);
	return 0;
}

static struct fs_local *local_of(int fd)
{
	return fs_wait_local(fs_fdmap_get(fd), fd);
}

static void mode_from_info(void **state)
{
	int port, l;

	(void)state;
	fake.info.enable_listen_spawn = FASTSOCKET_SPAWN_APP_PINS;
	l = t_listener(AF_INET, true, &port);
	assert_int_equal(fake.infos, 1);
	assert_int_equal(fs_mode(), 1);
	/* The device fd is kept (for workers that drop privileges). */
	assert_int_equal(fs_ent_kind(fs_fdmap_get(fake.fd)), FS_K_DEV);
	assert_true(fcntl(fake.fd, F_GETFD) & FD_CLOEXEC);
	fs_close(l);
}

static void mode_off_from_info(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0), rp = -1;
	socklen_t len = sizeof(rp);

	(void)state;
	fake.info.enable_listen_spawn = FASTSOCKET_SPAWN_OFF;
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	assert_int_equal(fs_bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fs_mode(), 0);
	assert_int_equal(fs_fdmap_get(s), 0);
	getsockopt(s, SOL_SOCKET, SO_REUSEPORT, &rp, &len);
	assert_int_equal(rp, 0);
	fs_close(s);
}

static void spawn_auto(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), l2, p2;
	struct fs_local *loc;
	cpu_set_t now;

	(void)state;
	loc = local_of(l);
	assert_non_null(loc);
	assert_true(loc->kmod);
	assert_int_equal(fake.spawns, 1);
	assert_int_equal(fake.last_cpu, FASTSOCKET_CPU_AUTO);
	sched_getaffinity(0, sizeof(now), &now);
	assert_int_equal(fs_cpu_only(&now), loc->cpu);	/* the module pinned it */
	assert_true(fcntl(atomic_load(&loc->fd), F_GETFL) & O_NONBLOCK);

	/* A second listener: the worker already has its CPU. */
	l2 = t_listener(AF_INET, true, &p2);
	loc = local_of(l2);
	assert_non_null(loc);
	assert_int_equal(fake.last_cpu, fs_cpu_only(&now));
	assert_int_equal(fake.opens, 1);
	fs_close(l);
	fs_close(l2);
}

struct placed {
	int fd, cpu;
};

static void *second_worker(void *arg)
{
	struct placed *p = arg;
	struct fs_local *loc;

	/* Another worker, not pinned (a thread would inherit the pin). */
	sched_setaffinity(0, sizeof(t_affinity), &t_affinity);
	loc = local_of(p->fd);
	p->cpu = loc ? loc->cpu : -1;
	return NULL;
}

/*
 * The module counts live local listeners; the shim counts its server's
 * workers. A second worker placed while the first one's local listener
 * is closed (nginx's accept_mutex) must not land on the first one's CPU:
 * the shim narrows the candidates before asking for FASTSOCKET_CPU_AUTO
 * (the fake module, like a real one with no local listener alive, picks
 * the first CPU it is allowed).
 */
static void spawn_auto_spreads_workers(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), first;
	struct placed p = { .cpu = -2 };
	struct fs_local *loc;
	pthread_t t;

	(void)state;
	if (CPU_COUNT(&t_affinity) < 2)
		skip();
	loc = local_of(l);
	assert_non_null(loc);
	first = loc->cpu;
	fs_unwatched_set_grace(0);
	assert_true(fs_lock());
	fs_park_unwatched(fs_local_index(loc));
	fs_unlock();
	fs_reap_unwatched();	/* closed: the module no longer counts it */
	assert_true(atomic_load(&loc->fd) < 0);
	p.fd = l;
	assert_int_equal(pthread_create(&t, NULL, second_worker, &p), 0);
	pthread_join(t, NULL);
	assert_true(p.cpu >= 0);
	assert_int_not_equal(p.cpu, first);
	assert_int_equal(fake.last_cpu, FASTSOCKET_CPU_AUTO);
	fs_close(l);
}

static void spawn_current(void **state)
{
	int port, l, cpu = fs_cpu_only(&t_affinity) >= 0 ? fs_cpu_only(&t_affinity) : 0;
	struct fs_local *loc;

	(void)state;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &t_affinity)) {
			cpu = c;
			break;
		}
	fake.info.enable_listen_spawn = FASTSOCKET_SPAWN_APP_PINS;
	l = t_listener(AF_INET, true, &port);
	assert_null(local_of(l));	/* mode 1, not pinned: pass through */
	assert_int_equal(fake.spawns, 0);
	fs_close(l);

	fs_cpu_pin(cpu);		/* the application pins its worker */
	l = t_listener(AF_INET, true, &port);
	loc = local_of(l);
	assert_non_null(loc);
	assert_true(loc->kmod);
	assert_int_equal(fake.last_cpu, cpu);
	assert_int_equal(loc->cpu, cpu);
	fs_close(l);
}

/* FASTSOCKET_MODE=2 over a module set to 1: the shim picks the CPU. */
static void spawn_explicit_when_module_does_not_pick(void **state)
{
	char err[FS_ERR_MAX];
	struct fs_local *loc;
	cpu_set_t now;
	int port, l;

	(void)state;
	fake.info.enable_listen_spawn = FASTSOCKET_SPAWN_APP_PINS;
	fs_config_parse(&fs_cfg, "2", NULL, NULL, getenv("T_LOG"), &t_affinity,
			err, sizeof(err));
	l = t_listener(AF_INET, true, &port);
	loc = local_of(l);
	assert_non_null(loc);
	assert_true(loc->kmod);
	assert_int_equal(fake.spawns, 2);	/* AUTO refused, then the CPU */
	sched_getaffinity(0, sizeof(now), &now);
	assert_int_equal(fs_cpu_only(&now), loc->cpu);
	assert_int_equal(fake.last_cpu, loc->cpu);
	fs_close(l);
}

/* Two app SO_REUSEPORT sockets on one port, as nginx "reuseport" makes. */
static void per_worker_pair(int *s1, int *s2)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;

	*s1 = socket(AF_INET, SOCK_STREAM, 0);
	*s2 = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	setsockopt(*s1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(*s2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	assert_int_equal(fs_bind(*s1, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fs_bind(*s2, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fs_listen(*s1, 16), 0);
	assert_int_equal(fs_listen(*s2, 16), 0);
}

/*
 * The server's own per-worker sockets: the worker is pinned by the shim
 * and its socket registered for that CPU; no copy is spawned.
 */
static void per_worker_socket_registered(void **state)
{
	int s1, s2;
	cpu_set_t now;

	(void)state;
	per_worker_pair(&s1, &s2);
	assert_null(local_of(s2));	/* the app's fd is the local listener */
	assert_int_equal(fake.spawns, 0);
	assert_int_equal(fake.registers, 1);
	assert_int_equal(fake.reg_fd, s2);
	sched_getaffinity(0, sizeof(now), &now);
	assert_int_equal(fake.reg_cpu, fs_cpu_only(&now));
	fs_close(s1);
	fs_close(s2);
}

/* A module without REGISTER, or one that refuses: pinned, passed through. */
static void per_worker_register_refused(void **state)
{
	int s1, s2;

	(void)state;
	fake.register_errno = EBUSY;	/* the CPU has another socket already */
	per_worker_pair(&s1, &s2);
	assert_null(local_of(s1));
	assert_int_equal(fake.registers, 1);
	assert_int_equal(fake.spawns, 0);
	fs_close(s1);
	fs_close(s2);

	fs_shim_reset();
	fs_dev_reset();
	fake.info.features &= ~FASTSOCKET_FEAT_REGISTER;
	fake.registers = 0;
	per_worker_pair(&s1, &s2);
	assert_null(local_of(s1));
	assert_int_equal(fake.registers, 0);
	assert_int_equal(fake.spawns, 0);
	fs_close(s1);
	fs_close(s2);
}

/*
 * A worker that stops reading the listening socket (nginx accept_mutex)
 * gets its local listener parked, not closed, with a module that can;
 * resumed when read again; closed only when connections wait on it after
 * the drain time.
 */
static void unwatched_local_parked(void **state)
{
	int port, l, ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct pollfd none = { .fd = -1 };
	struct fs_local *loc;
	int lfd, c;

	(void)state;
	fake.info.features |= FASTSOCKET_FEAT_PARK;
	fake.own_port = true;
	l = t_listener(AF_INET, true, &port);
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	loc = local_of(l);
	assert_non_null(loc);
	assert_true(loc->kmod);
	assert_int_equal(fake.resumes, 0);	/* SPAWN itself resumes */
	lfd = atomic_load(&loc->fd);
	fs_unwatched_set_grace(0);
	fs_park_set_drain(0);

	/* Out of the epoll set: parked at the next wait, still open. */
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL), 0);
	assert_int_equal(fs_ppoll(&none, 1, 0, NULL, NULL, fs_real_poll), 0);
	assert_int_equal(fake.parks, 1);
	assert_true(loc->parked);
	assert_true(t_fd_open(lfd));
	assert_true(atomic_load(&fs_unwatched_n) > 0);

	/* Nothing queued after the drain time: stays parked and open. */
	assert_int_equal(fs_ppoll(&none, 1, 0, NULL, NULL, fs_real_poll), 0);
	assert_true(loc->parked);
	assert_true(t_fd_open(lfd));

	/* Read again: resumed at the next wait. */
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	assert_int_equal(fs_ppoll(&none, 1, 0, NULL, NULL, fs_real_poll), 0);
	assert_int_equal(fake.resumes, 1);
	assert_false(loc->parked);
	assert_int_equal(atomic_load(&fs_unwatched_n), 0);
	assert_int_equal(atomic_load(&loc->fd), lfd);

	/* Parked again, and a connection waits on it: closed, at once if the
	 * kernel moves what waits on it (tcp_migrate_req 1), else after
	 * being held FS_UNWATCHED_HOLD_MS (closing resets it). */
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL), 0);
	assert_int_equal(fs_ppoll(&none, 1, 0, NULL, NULL, fs_real_poll), 0);
	assert_int_equal(fake.parks, 2);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fs_ppoll(&none, 1, 0, NULL, NULL, fs_real_poll), 0);
	if (!fs_sibling_migrate_req()) {
		assert_true(t_fd_open(lfd));
		assert_true(loc->parked);
		usleep((FS_UNWATCHED_HOLD_MS + 100) * 1000);
		assert_int_equal(fs_ppoll(&none, 1, 0, NULL, NULL, fs_real_poll), 0);
	}
	assert_false(t_fd_open(lfd));
	assert_false(loc->parked);
	assert_int_equal(atomic_load(&fs_unwatched_n), 0);
	close(c);
	close(ep);
	fs_close(l);
}

static void spawn_error_falls_back(void **state)
{
	int port, l;
	struct fs_local *loc;

	(void)state;
	fake.spawn_errno = ENOMEM;
	l = t_listener(AF_INET, true, &port);
	loc = local_of(l);
	assert_non_null(loc);
	assert_false(loc->kmod);		/* userspace */
	assert_int_equal(fake.spawns, 1);
	fs_close(l);
}

static void abi_mismatch_falls_back(void **state)
{
	int port, l;
	struct fs_local *loc;

	(void)state;
	fake.info.abi_version = FASTSOCKET_ABI_VERSION + 1;
	l = t_listener(AF_INET, true, &port);
	assert_int_equal(fs_mode(), 2);	/* not the module's word */
	assert_int_equal(fs_fdmap_get(fake.fd), 0);	/* closed again */
	loc = local_of(l);
	assert_non_null(loc);
	assert_false(loc->kmod);
	assert_int_equal(fake.spawns, 0);
	fs_close(l);
}

static void no_spawn_feature(void **state)
{
	int port, l;

	(void)state;
	fake.info.features = FASTSOCKET_FEAT_STEER_IPV4;
	l = t_listener(AF_INET, true, &port);
	assert_false(local_of(l)->kmod);
	assert_int_equal(fake.spawns, 0);
	fs_close(l);
}

static void no_device(void **state)
{
	int port, l;

	(void)state;
	fake.open_errno = ENOENT;
	l = t_listener(AF_INET, true, &port);
	assert_int_equal(fs_mode(), 2);
	assert_false(local_of(l)->kmod);
	fs_close(l);
}

/* The application closes every fd: the shim opens the device again. */
static void device_fd_closed_by_app(void **state)
{
	int port, l, dev;

	(void)state;
	l = t_listener(AF_INET, true, &port);
	dev = fake.fd;
	assert_int_equal(fs_close(dev), 0);
	assert_int_equal(fs_fdmap_get(dev), 0);
	assert_true(local_of(l)->kmod);
	assert_int_equal(fake.opens, 2);
	fs_close(l);
}

/* stderr into a temporary file, with FASTSOCKET_LOG=info. */
static int log_start(int *saved)
{
	char path[] = "/tmp/fs-test-log-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	*saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fs_cfg.log = FS_LOG_INFO;
	return fd;
}

/* Back to the real stderr; how many logged lines contain what. */
static int log_count(int fd, int saved, const char *what)
{
	char buf[8192];
	ssize_t n;
	int count = 0;

	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *p = buf; (p = strstr(p, what)); p += strlen(what))
		count++;
	return count;
}

static void *other_worker(void *arg)
{
	int *fd = arg;

	sched_setaffinity(0, sizeof(t_affinity), &t_affinity);
	*fd = local_of(*fd) ? 1 : 0;
	return NULL;
}

/*
 * EOPNOTSUPP while the module spawns (enable_listen_spawn != 0): the
 * listener carries something the module will not copy (a socket filter,
 * IPsec policy, TCP-MD5 keys, a ULP), and a sibling would lack it too.
 * The listener passes through: no sibling, no pin, for any worker, and
 * one line says why.
 */
static void spawn_refused_passes_through(void **state)
{
	int port, l, logfd, saved, other;
	cpu_set_t now;
	pthread_t t;

	(void)state;
	fake.spawn_errno = EOPNOTSUPP;
	l = t_listener(AF_INET, true, &port);
	logfd = log_start(&saved);
	assert_null(local_of(l));
	assert_null(local_of(l));		/* this worker: decided */
	other = l;
	assert_int_equal(pthread_create(&t, NULL, other_worker, &other), 0);
	pthread_join(t, NULL);
	assert_int_equal(other, 0);		/* another worker: too */
	assert_int_equal(log_count(logfd, saved, "no userspace fallback"), 1);
	assert_int_equal(fake.spawns, 1);	/* asked once, for the listener */
	sched_getaffinity(0, sizeof(now), &now);
	assert_true(CPU_EQUAL(&now, &t_affinity));	/* not pinned */
	assert_int_equal(fs_listener_known(fs_fdmap_get(l))->nospawn, false);
	fs_close(l);
}

/* EOPNOTSUPP from a module whose enable_listen_spawn is 0 (now: it is
 * read again on the error) still means the fallback. */
static void spawn_off_falls_back(void **state)
{
	struct fs_local *loc;
	int port, l;

	(void)state;
	fake.spawn_errno = EOPNOTSUPP;
	l = t_listener(AF_INET, true, &port);	/* mode 2 from INFO */
	fake.info.enable_listen_spawn = FASTSOCKET_SPAWN_OFF;
	loc = local_of(l);
	assert_non_null(loc);
	assert_false(loc->kmod);		/* a sibling */
	assert_int_equal(fake.spawns, 2);	/* AUTO: EINVAL; the CPU */
	fs_close(l);
}

/*
 * EBUSY: the CPU's slot belongs to another reuseport group or to a
 * registered socket. The worker passes through: no sibling, no pin, one
 * line per listener.
 */
static void spawn_busy_passes_through(void **state)
{
	int port, l, logfd, saved;
	cpu_set_t now;

	(void)state;
	fake.spawn_errno = EBUSY;
	l = t_listener(AF_INET, true, &port);
	logfd = log_start(&saved);
	assert_null(local_of(l));
	assert_null(local_of(l));
	assert_int_equal(log_count(logfd, saved, "no userspace fallback"), 1);
	assert_int_equal(fake.spawns, 1);
	assert_int_equal(fake.last_cpu, FASTSOCKET_CPU_AUTO);
	sched_getaffinity(0, sizeof(now), &now);
	assert_true(CPU_EQUAL(&now, &t_affinity));	/* narrowing undone */
	fs_close(l);
}

/*
 * EDQUOT: the netns's or the owner's limit of local listeners. The worker
 * passes through (no sibling gets round the limit), saying why once.
 */
static void spawn_quota_passes_through(void **state)
{
	int port, l, logfd, saved;

	(void)state;
	fake.spawn_errno = EDQUOT;
	l = t_listener(AF_INET, true, &port);
	logfd = log_start(&saved);
	assert_null(local_of(l));
	assert_null(local_of(l));
	assert_int_equal(log_count(logfd, saved,
				   "limit of local listeners is reached (net.fastsocket.max_local_listeners or max_local_listeners_per_user); passing through, no userspace fallback"),
			 1);
	assert_int_equal(fake.spawns, 1);
	fs_close(l);
}

/*
 * The same when the shim pinned the worker before asking (a module with
 * enable_listen_spawn 1, FASTSOCKET_MODE=2): the pin is undone.
 */
static void spawn_busy_after_pin_unpins(void **state)
{
	char err[FS_ERR_MAX];
	cpu_set_t now;
	int port, l;

	(void)state;
	fake.info.enable_listen_spawn = FASTSOCKET_SPAWN_APP_PINS;
	fs_config_parse(&fs_cfg, "2", NULL, NULL, getenv("T_LOG"), &t_affinity,
			err, sizeof(err));
	fake.spawn_errno = EBUSY;
	l = t_listener(AF_INET, true, &port);
	assert_null(local_of(l));
	assert_int_equal(fake.spawns, 2);	/* AUTO (EINVAL), then the CPU */
	assert_true(fake.last_cpu >= 0);	/* the shim had pinned it */
	sched_getaffinity(0, sizeof(now), &now);
	assert_true(CPU_EQUAL(&now, &t_affinity));
	fs_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mode_from_info, setup, teardown),
		cmocka_unit_test_setup_teardown(mode_off_from_info, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_auto_spreads_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_current, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_explicit_when_module_does_not_pick, setup, teardown),
		cmocka_unit_test_setup_teardown(per_worker_socket_registered, setup, teardown),
		cmocka_unit_test_setup_teardown(per_worker_register_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(unwatched_local_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_error_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(abi_mismatch_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(no_spawn_feature, setup, teardown),
		cmocka_unit_test_setup_teardown(no_device, setup, teardown),
		cmocka_unit_test_setup_teardown(device_fd_closed_by_app, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_refused_passes_through, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_off_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_busy_passes_through, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_quota_passes_through, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_busy_after_pin_unpins, setup, teardown),
	};

	t_init();
	return cmocka_run_group_tests_name("dev", tests, NULL, NULL);
}
