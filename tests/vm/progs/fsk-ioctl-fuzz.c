// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-ioctl-fuzz: threads issue random sequences of every
 * /dev/fastsocket ioctl with random and boundary arguments on random fds,
 * racing close, dup, shutdown, fork and exit; every error must be one the
 * ABI documents for that command (include/uapi/linux/fastsocket.h,
 * fastsocket(4)).
 *
 *   fsk-ioctl-fuzz [--seed N] [--calls N] [--threads N] [--port P]
 *                  [--fail-ioctls]
 *
 * --fail-ioctls sets the calling thread's /proc/thread-self/make-it-fail
 * around each ioctl (and only there): with failslab or fail_page_alloc
 * configured for tasks that ask (task-filter), allocations in the
 * module's commands fail and their error paths run, while the fuzzer's
 * own sockets, threads and forks are left alone.
 *
 * The fds: IPv4 and IPv6 listeners (two share a port and so a
 * SO_REUSEPORT group, per family), one without SO_REUSEPORT, local
 * listeners returned by SPAWN, dups of any of them, closed fd numbers,
 * epoll fds, pipes, a UNIX socket, UDP sockets, unbound and
 * bound-but-not-listening TCP sockets, /dev/fastsocket itself, and a
 * listener of another network namespace (made by a child after
 * unshare(CLONE_NEWNET), or CLONE_NEWUSER | CLONE_NEWNET when not root,
 * and passed back over a UNIX socket). The arguments: valid, NULL,
 * small and kernel addresses, unaligned, straddling an unmapped page,
 * read-only memory (SPAWN's copy-out then fails), every flag bit, every
 * reserved word, boundary CPU numbers; unknown and mis-sized commands of
 * the fastsocket magic. Between calls the threads close and re-create
 * fds, dup them, shut listeners down and listen again, pin and unpin
 * themselves, and fork children that make a few calls and exit with what
 * they spawned still open, or that are killed while making calls; every
 * thread exits after a random share of the calls and is replaced by a
 * new one.
 *
 * The run ends after --calls calls by the threads (their children's come
 * on top). Where the argument fixes the answer (a bad pointer: EFAULT; flags or
 * reserved set: EINVAL; an unknown command: ENOTTY; INFO: success) that
 * is what must come back; otherwise any documented errno of the command.
 * Each thread's sequence of calls and actions follows from --seed
 * (printed); the interleaving, and so the fds and results the calls
 * meet, and how many calls a child makes before it is killed, are the
 * scheduler's. Local listeners are closed at the end.
 * Prints per-command counts of successes and of each errno, a TAP line
 * per command (fsk-check.h), and exits 1 if any check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fastsocket.h>

#include "fsk-check.h"

#define MAX_ERRNO	256
#define MAX_BAD		16
#define NR_LOCAL	32
#define NR_DUP		16
#define PAGE		4096
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum cmd { C_INFO, C_SPAWN, C_REGISTER, C_PARK, C_UNKNOWN, NR_CMD };

static const char *const cmd_name[NR_CMD] = {
	"INFO", "SPAWN", "REGISTER", "PARK", "unknown command",
};

/*
 * The documented errnos of each command. EFAULT for all four ("besides
 * the usual EFAULT"); REGISTER has SPAWN's but EMFILE, ENFILE and
 * ENOBUFS (it makes no socket or fd), and EEXIST; an unknown command
 * fails with ENOTTY as ioctl(2) says.
 */
static const int allowed_init[NR_CMD][16] = {
	[C_INFO] = { EFAULT },
	[C_SPAWN] = { EFAULT, EBADF, ENOTSOCK, EOPNOTSUPP, EINVAL, ENOPROTOOPT,
		      ENXIO, EXDEV, EBUSY, ENOMEM, EINTR, EMFILE, ENFILE,
		      ENOBUFS, EDQUOT },
	[C_REGISTER] = { EFAULT, EBADF, ENOTSOCK, EOPNOTSUPP, EINVAL,
			 ENOPROTOOPT, ENXIO, EXDEV, EBUSY, ENOMEM, EINTR,
			 EEXIST, EDQUOT },
	[C_PARK] = { EFAULT, EBADF, ENOTSOCK, ENOENT, EINVAL },
	[C_UNKNOWN] = { ENOTTY },
};

static bool allowed[NR_CMD][MAX_ERRNO];

/* --fail-ioctls: this thread's make-it-fail, opened on first use (a
 * forked child opens its own: the inherited fd names the parent's). */
static bool fail_ioctls;
static __thread int fail_fd = -1;
static __thread pid_t fail_pid;

static void fail_allocs(bool on)
{
	int saved = errno;

	if (!fail_ioctls)
		return;
	if (fail_fd < 0 || fail_pid != getpid()) {
		fail_fd = open("/proc/thread-self/make-it-fail", O_WRONLY | O_CLOEXEC);
		fail_pid = getpid();
	}
	if (fail_fd >= 0 && write(fail_fd, on ? "1" : "0", 1) != 1) {
		fprintf(stderr, "fsk-ioctl-fuzz: make-it-fail: %s\n", strerror(errno));
		exit(2);
	}
	errno = saved;
}

/* Counters, shared with forked children (MAP_SHARED). */
struct stats {
	atomic_long calls, thread_calls;
	atomic_long ok[NR_CMD];
	atomic_long err[NR_CMD][MAX_ERRNO];
	atomic_long undocumented[NR_CMD];
	atomic_long forks, kills, closes, dups, shutdowns, relistens, pins;
	atomic_long threads, local_kept, local_dropped, bad_children;
	atomic_int nr_bad;
	struct {
		int cmd, err;
		char what[160];
	} bad[MAX_BAD];
};

static struct stats *st;

/* The fds the threads share; -1: empty. */
enum kind {
	K_LISTEN4, K_LISTEN6, K_LISTEN_ANY, K_NOREUSE, K_TCP, K_TCP_BOUND,
	K_UDP, K_UDP6, K_UNIX, K_EPOLL, K_PIPE, K_DEV, K_CLOSED, K_FOREIGN,
	K_LOCAL, K_DUP,
};

struct slot {
	atomic_int fd;
	enum kind kind;
	int port;
};

static struct slot slots[17 + NR_LOCAL + NR_DUP];
static int nr_slots, first_local, first_dup;
static int dev, nr_cpu_ids_mod, nr_online, port_base = 39100;
static long target_calls = 100000;

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rn(struct rng *r, unsigned int n)
{
	return (unsigned int)(rnd(r) % n);
}

static int tcp_socket(int family, int reuseport, int port, int do_listen)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a4.sin_port = htons(port);
	a6.sin6_addr = in6addr_loopback;
	a6.sin6_port = htons(port);
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (port >= 0 && (family == AF_INET ?
			  bind(fd, (void *)&a4, sizeof(a4)) :
			  bind(fd, (void *)&a6, sizeof(a6)))) {
		close(fd);
		return -1;
	}
	if (do_listen && listen(fd, 16)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A listener in a new network namespace, made by a child, passed back.
 * -1 if there is none; then a child's unshare() errno is in *@err.
 */
static int foreign_listener(int *err)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, c = 0;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int sv[2], fd = -1, status;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		if (unshare(CLONE_NEWNET) &&
		    unshare(CLONE_NEWUSER | CLONE_NEWNET))
			_exit(errno < 100 ? 100 + errno : 3);
		fd = tcp_socket(AF_INET6, 1, -1, 0);
		if (fd >= 0) {
			struct sockaddr_in6 a = { .sin6_family = AF_INET6 };

			/* lo is down in the new netns: bind the wildcard. */
			if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 16))
				_exit(4);
		}
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		_exit(fd >= 0 && sendmsg(sv[1], &msg, 0) == 1 ? 0 : 5);
	}
	close(sv[1]);
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	if (pid > 0 && recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC) == 1) {
		cm = CMSG_FIRSTHDR(&msg);
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	}
	close(sv[0]);
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) >= 100)
		*err = WEXITSTATUS(status) - 100;
	return fd;
}

static int unshare_err;

static int make_fd(struct slot *s)
{
	int p[2], fd;

	switch (s->kind) {
	case K_LISTEN4:
		return tcp_socket(AF_INET, 1, s->port, 1);
	case K_LISTEN6:
		return tcp_socket(AF_INET6, 1, s->port, 1);
	case K_LISTEN_ANY:
		return tcp_socket(AF_INET, 1, 0, 1);
	case K_NOREUSE:
		return tcp_socket(AF_INET, 0, 0, 1);
	case K_TCP:
		return tcp_socket(AF_INET6, 1, -1, 0);
	case K_TCP_BOUND:
		return tcp_socket(AF_INET, 1, s->port, 0);
	case K_UDP:
		return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	case K_UDP6:
		return socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	case K_UNIX:
		return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	case K_EPOLL:
		return epoll_create1(EPOLL_CLOEXEC);
	case K_PIPE:
		if (pipe2(p, O_CLOEXEC))
			return -1;
		close(p[1]);
		return p[0];
	case K_DEV:
		return open(FASTSOCKET_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	case K_CLOSED:
		/* A number that was just closed (it may be reused). */
		fd = dup(dev);
		close(fd);
		return fd;
	case K_FOREIGN:
		return foreign_listener(&unshare_err);
	case K_LOCAL:
	case K_DUP:
		break;
	}
	return -1;
}

static void add_slot(enum kind kind, int port)
{
	struct slot *s = &slots[nr_slots++];

	if (nr_slots > (int)ARRAY_SIZE(slots))
		abort();

	s->kind = kind;
	s->port = port;
	atomic_store(&s->fd, make_fd(s));
}

static void setup_slots(void)
{
	int i;

	add_slot(K_LISTEN4, port_base);
	add_slot(K_LISTEN4, port_base);
	add_slot(K_LISTEN4, port_base + 1);
	add_slot(K_LISTEN6, port_base + 2);
	add_slot(K_LISTEN6, port_base + 2);
	add_slot(K_LISTEN_ANY, 0);
	add_slot(K_NOREUSE, 0);
	add_slot(K_TCP, 0);
	add_slot(K_TCP_BOUND, port_base + 3);
	add_slot(K_UDP, 0);
	add_slot(K_UDP6, 0);
	add_slot(K_UNIX, 0);
	add_slot(K_EPOLL, 0);
	add_slot(K_PIPE, 0);
	add_slot(K_DEV, 0);
	add_slot(K_CLOSED, 0);
	add_slot(K_FOREIGN, 0);
	if (atomic_load(&slots[nr_slots - 1].fd) < 0)
		printf("# no listener in another netns (unshare: %s)\n",
		       unshare_err ? strerror(unshare_err) : "?");
	first_local = nr_slots;
	for (i = 0; i < NR_LOCAL; i++)
		add_slot(K_LOCAL, 0);
	first_dup = nr_slots;
	for (i = 0; i < NR_DUP; i++)
		add_slot(K_DUP, 0);
}

/* Keep a new fd in the first free slot of [from, from + n), or close it. */
static bool keep_fd(int fd, int from, int n)
{
	int i, empty;

	for (i = 0; i < n; i++) {
		empty = -1;
		if (atomic_compare_exchange_strong(&slots[from + i].fd, &empty,
						   fd))
			return true;
	}
	close(fd);
	return false;
}

static int pick_fd(struct rng *r)
{
	static const int odd[] = { -1, -2, INT32_MIN, INT32_MAX, 1024, 65535,
				   1 << 20, 0, 1, 2 };
	unsigned int x = rn(r, 100), tries;
	int fd = -1;

	if (x < 3)
		return odd[rn(r, ARRAY_SIZE(odd))];
	if (x < 5)
		return (int)rn(r, 256);
	if (x < 50) {
		/* Mostly the listeners and local listeners. */
		fd = atomic_load(&slots[x < 30 ? rn(r, 6) :
					first_local + rn(r, NR_LOCAL)].fd);
		if (fd >= 0)
			return fd;
	}
	/* Most slots of local listeners and dups are empty at any time. */
	for (tries = 0; tries < 4 && fd < 0; tries++)
		fd = atomic_load(&slots[rn(r, nr_slots)].fd);
	return fd;
}

static int pick_cpu(struct rng *r)
{
	static const int odd[] = { FASTSOCKET_CPU_CURRENT, FASTSOCKET_CPU_AUTO,
				   -3, INT32_MIN, INT32_MAX, 1 << 20, 4096,
				   8192 };
	unsigned int x = rn(r, 100);

	if (x < 55)
		return (int)rn(r, nr_online);
	if (x < 70)
		return FASTSOCKET_CPU_CURRENT;
	if (x < 80)
		return FASTSOCKET_CPU_AUTO;
	if (x < 85)
		return nr_cpu_ids_mod - 1 + (int)rn(r, 3);
	if (x < 95)
		return odd[rn(r, ARRAY_SIZE(odd))];
	return (int)rnd(r);
}

static uint32_t pick_bits(struct rng *r)
{
	switch (rn(r, 4)) {
	case 0:
		return 1U << rn(r, 32);
	case 1:
		return ~0U;
	case 2:
		return 0x80000000U;
	default:
		return (uint32_t)rnd(r) | 1U << rn(r, 32);
	}
}

/* Per-thread memory: a read-only page, a writable one, an unmapped one. */
struct pages {
	char *ro, *rw, *none;
};

enum ptr_kind { P_OK, P_UNALIGNED, P_NULL, P_SMALL, P_KERNEL, P_STRADDLE,
		P_RO };

static const char *const ptr_name[] = {
	"valid", "unaligned", "NULL", "(void *)16", "kernel address",
	"straddling an unmapped page", "read-only",
};

static enum ptr_kind pick_ptr(struct rng *r)
{
	unsigned int x = rn(r, 100);

	if (x < 82)
		return P_OK;
	if (x < 87)
		return P_UNALIGNED;
	if (x < 89)
		return P_NULL;
	if (x < 91)
		return P_SMALL;
	if (x < 93)
		return P_KERNEL;
	if (x < 96)
		return P_STRADDLE;
	return P_RO;
}

static unsigned long unknown_cmd(struct rng *r)
{
	unsigned long c;

	switch (rn(r, 6)) {
	case 0:
		c = _IO(FASTSOCKET_IOC_MAGIC, 4 + rn(r, 252));
		break;
	case 1: /* the right number, the wrong size */
		c = _IOC(_IOC_READ | _IOC_WRITE, FASTSOCKET_IOC_MAGIC, rn(r, 4),
			 rn(r, 64));
		break;
	case 2: /* the right number and size, the wrong direction */
		c = _IOC(_IOC_NONE, FASTSOCKET_IOC_MAGIC, rn(r, 4),
			 sizeof(struct fastsocket_info));
		break;
	case 3:
		c = _IOW(FASTSOCKET_IOC_MAGIC, 0, struct fastsocket_info);
		break;
	case 4:
		c = _IOC(rn(r, 4), FASTSOCKET_IOC_MAGIC, rn(r, 256),
			 rn(r, 1 << 14));
		break;
	default: /* a foreign command that reaches the driver */
		c = FIONREAD;
		break;
	}
	if (c == FASTSOCKET_IOC_INFO || c == FASTSOCKET_IOC_SPAWN ||
	    c == FASTSOCKET_IOC_REGISTER || c == FASTSOCKET_IOC_PARK)
		c = _IO(FASTSOCKET_IOC_MAGIC, 0xff);
	return c;
}

static void record_bad(enum cmd c, int err, const char *what)
{
	int i = atomic_fetch_add(&st->nr_bad, 1);

	atomic_fetch_add(&st->undocumented[c], 1);
	if (i < MAX_BAD) {
		st->bad[i].cmd = c;
		st->bad[i].err = err;
		snprintf(st->bad[i].what, sizeof(st->bad[i].what), "%s", what);
	}
}

static void spawned(int fd, bool child)
{
	if (child) /* its exit closes it */
		return;
	if (keep_fd(fd, first_local, NR_LOCAL))
		atomic_fetch_add(&st->local_kept, 1);
	else
		atomic_fetch_add(&st->local_dropped, 1);
}

/* One random ioctl, checked. */
static void fuzz_call(struct rng *r, struct pages *pg, bool child)
{
	union {
		struct fastsocket_info info;
		struct fastsocket_spawn spawn;
		struct fastsocket_register reg;
		struct fastsocket_park park;
		char raw[128];
	} u;
	unsigned int x = rn(r, 100);
	enum ptr_kind pk = pick_ptr(r);
	enum cmd c = x < 8 ? C_INFO : x < 45 ? C_SPAWN : x < 65 ? C_REGISTER :
		     x < 92 ? C_PARK : C_UNKNOWN;
	static const size_t size[NR_CMD] = {
		sizeof(u.info), sizeof(u.spawn), sizeof(u.reg), sizeof(u.park),
		sizeof(u.info),
	};
	static const __u32 zero[10];
	bool bad_fields = false, must_fault = false;
	unsigned long cmd = 0;
	char what[160];
	void *arg = &u;
	int ret, err, i;

	memset(&u, 0, sizeof(u));
	if (rn(r, 20) == 0) /* garbage where output goes */
		for (i = 0; i < (int)sizeof(u.raw); i++)
			u.raw[i] = (char)rnd(r);
	switch (c) {
	case C_INFO:
		cmd = FASTSOCKET_IOC_INFO;
		break;
	case C_SPAWN:
		cmd = FASTSOCKET_IOC_SPAWN;
		u.spawn.fd = pick_fd(r);
		u.spawn.cpu = pick_cpu(r);
		u.spawn.local_fd = rn(r, 2) ? -1 : (int)rnd(r);
		if (rn(r, 10) == 0)
			u.spawn.flags = pick_bits(r);
		if (rn(r, 10) == 0)
			u.spawn.reserved[rn(r, 4)] = pick_bits(r);
		bad_fields = u.spawn.flags || u.spawn.reserved[0] ||
			     u.spawn.reserved[1] || u.spawn.reserved[2] ||
			     u.spawn.reserved[3];
		break;
	case C_REGISTER:
		cmd = FASTSOCKET_IOC_REGISTER;
		u.reg.fd = pick_fd(r);
		u.reg.cpu = pick_cpu(r);
		if (rn(r, 10) == 0)
			u.reg.flags = pick_bits(r);
		if (rn(r, 10) == 0)
			u.reg.reserved[rn(r, 5)] = pick_bits(r);
		bad_fields = u.reg.flags ||
			     u.reg.cpu == FASTSOCKET_CPU_AUTO ||
			     u.reg.reserved[0] || u.reg.reserved[1] || u.reg.reserved[2] ||
			     u.reg.reserved[3] || u.reg.reserved[4];
		break;
	case C_PARK:
		cmd = FASTSOCKET_IOC_PARK;
		u.park.fd = pick_fd(r);
		u.park.flags = rn(r, 2) ? FASTSOCKET_PARK_ON : 0;
		if (rn(r, 10) == 0)
			u.park.flags = pick_bits(r);
		if (rn(r, 10) == 0)
			u.park.reserved[rn(r, 2)] = pick_bits(r);
		bad_fields = (u.park.flags & ~FASTSOCKET_PARK_ON) ||
			     u.park.reserved[0] || u.park.reserved[1];
		break;
	case C_UNKNOWN:
		cmd = unknown_cmd(r);
		break;
	case NR_CMD:
		break;
	}
	switch (pk) {
	case P_OK:
		break;
	case P_UNALIGNED:
		arg = u.raw + 1 + rn(r, 7);
		memmove(arg, &u, size[c]);
		break;
	case P_NULL:
		arg = NULL;
		must_fault = true;
		break;
	case P_SMALL:
		arg = (void *)16;
		must_fault = true;
		break;
	case P_KERNEL:
		arg = (void *)(rn(r, 2) ? 0xffffffff81000000UL : ~0UL - 7);
		must_fault = true;
		break;
	case P_STRADDLE:
		/* 1 .. size - 1 bytes readable, the rest unmapped */
		i = 1 + (int)rn(r, size[c] - 1);
		arg = pg->none - i;
		memcpy(arg, &u, i);
		must_fault = true;
		break;
	case P_RO:
		mprotect(pg->ro, PAGE, PROT_READ | PROT_WRITE);
		memcpy(pg->ro, &u, size[c]);
		mprotect(pg->ro, PAGE, PROT_READ);
		arg = pg->ro;
		/* INFO writes only; SPAWN's copy-out faults if it got that far */
		must_fault = c == C_INFO;
		break;
	}
	if (c == C_UNKNOWN)
		must_fault = false;
	fail_allocs(true);
	ret = ioctl(dev, cmd, arg);
	err = ret < 0 ? errno : 0;
	fail_allocs(false);
	atomic_fetch_add(&st->calls, 1);
	if (ret == 0)
		atomic_fetch_add(&st->ok[c], 1);
	else
		atomic_fetch_add(&st->err[c][err < MAX_ERRNO ? err : 0], 1);

	if (c == C_SPAWN && ret == 0 && (pk == P_OK || pk == P_UNALIGNED)) {
		memmove(&u, arg, size[c]);
		if (u.spawn.local_fd < 0 || u.spawn.cpu < 0 ||
		    u.spawn.cpu >= nr_cpu_ids_mod) {
			snprintf(what, sizeof(what),
				 "success with local_fd %d cpu %d",
				 u.spawn.local_fd, u.spawn.cpu);
			record_bad(c, 0, what);
		} else {
			spawned(u.spawn.local_fd, child);
		}
		return;
	}
	if (c == C_INFO && ret == 0) {
		memmove(&u, arg, size[c]);
		if (u.info.abi_version != FASTSOCKET_ABI_VERSION ||
		    (int)u.info.nr_cpu_ids != nr_cpu_ids_mod ||
		    u.info.enable_listen_spawn > FASTSOCKET_SPAWN_AUTO ||
		    memcmp(u.info.reserved, zero, sizeof(u.info.reserved))) {
			snprintf(what, sizeof(what),
				 "abi %u nr_cpu_ids %u listen_spawn %u",
				 u.info.abi_version, u.info.nr_cpu_ids,
				 u.info.enable_listen_spawn);
			record_bad(c, 0, what);
		}
	}
	if (must_fault && err != EFAULT)
		;
	else if (c == C_UNKNOWN && err != ENOTTY)
		;
	else if (c == C_INFO && !must_fault && err)
		;
	else if (bad_fields && !must_fault && err != EINVAL)
		;
	else if (err && !allowed[c][err < MAX_ERRNO ? err : 0])
		;
	else if (c == C_SPAWN && ret == 0)
		; /* a success whose copy-out had to fault */
	else
		return;
	snprintf(what, sizeof(what),
		 "cmd %#lx arg %s fd %d %s %d flags %#x%s: %s", cmd,
		 ptr_name[pk], u.spawn.fd, c == C_PARK ? "-" : "cpu",
		 c == C_PARK ? 0 : u.spawn.cpu,
		 c == C_PARK ? u.park.flags : u.spawn.flags,
		 bad_fields ? " (flags/reserved/cpu invalid)" : "",
		 err ? strerrorname_np(err) : "success");
	record_bad(c, err, what);
}

static void pin(struct rng *r)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	if (rn(r, 2)) {
		CPU_SET(rn(r, nr_online), &set);
	} else {
		for (i = 0; i < nr_online; i++)
			CPU_SET(i, &set);
	}
	sched_setaffinity(0, sizeof(set), &set);
	atomic_fetch_add(&st->pins, 1);
}

/* Close the fd of a random slot and make a new one of its kind. */
static void replace(struct rng *r)
{
	int i = (int)rn(r, nr_slots), fd;

	if (slots[i].kind == K_FOREIGN || slots[i].kind == K_DEV)
		return;
	fd = atomic_exchange(&slots[i].fd, -1);
	/* A K_CLOSED number is not ours to close. */
	if (fd >= 0 && slots[i].kind != K_CLOSED)
		close(fd);
	atomic_fetch_add(&st->closes, 1);
	if (slots[i].kind == K_LOCAL || slots[i].kind == K_DUP)
		return;
	fd = make_fd(&slots[i]);
	if (fd >= 0)
		keep_fd(fd, i, 1);
}

static void do_dup(struct rng *r)
{
	int fd = dup(pick_fd(r));

	if (fd < 0)
		return;
	atomic_fetch_add(&st->dups, 1);
	fd = atomic_exchange(&slots[first_dup + rn(r, NR_DUP)].fd, fd);
	if (fd >= 0)
		close(fd);
}

/* Stop a listener or a local listener listening, or let it listen again. */
static void do_shutdown(struct rng *r)
{
	int fd = pick_fd(r);

	if (rn(r, 2)) {
		if (shutdown(fd, SHUT_RDWR) == 0)
			atomic_fetch_add(&st->shutdowns, 1);
	} else if (listen(fd, 16) == 0) {
		atomic_fetch_add(&st->relistens, 1);
	}
}

/*
 * A child that makes a few calls and exits with what it spawned open, or
 * one that makes calls until it is killed, maybe inside one.
 */
static void do_fork(struct rng *r, struct pages *pg)
{
	int i, n = 1 + (int)rn(r, 8), status;
	bool kill_it = rn(r, 4) == 0;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		for (i = 0; i < n || (kill_it && i < 300); i++)
			fuzz_call(r, pg, true);
		_exit(0);
	}
	atomic_fetch_add(&st->forks, 1);
	if (kill_it) {
		usleep(rn(r, 1000));
		kill(pid, SIGKILL);
		atomic_fetch_add(&st->kills, 1);
	}
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && kill_it)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		atomic_fetch_add(&st->bad_children, 1);
}

struct thread_arg {
	uint64_t seed;
	long calls;
};

/*
 * Generation @gen of thread slot @i: its seed and number of calls follow
 * from the run's seed alone, whichever thread exits first.
 */
static void thread_arg_init(struct thread_arg *ta, uint64_t seed, int i,
			    int gen, long calls)
{
	struct rng r = { seed ^ (uint64_t)i << 48 ^ (uint64_t)gen << 24 };

	rnd(&r);
	ta->seed = rnd(&r);
	ta->calls = 1 + (long)rn(&r, 2 * calls);
}

static void *fuzz_thread(void *p)
{
	struct thread_arg *ta = p;
	struct rng r = { ta->seed };
	struct pages pg;
	char *mem;
	long done = 0;
	unsigned int x;

	mem = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	pg.ro = mem;
	pg.rw = mem + PAGE;
	pg.none = mem + 2 * PAGE;
	mprotect(pg.none, PAGE, PROT_NONE);
	while (done < ta->calls &&
	       atomic_load(&st->thread_calls) < target_calls) {
		x = rn(&r, 1000);
		if (x < 950) {
			fuzz_call(&r, &pg, false);
			atomic_fetch_add(&st->thread_calls, 1);
			done++;
			continue;
		}
		if (x < 970)
			replace(&r);
		else if (x < 980)
			do_dup(&r);
		else if (x < 987)
			do_shutdown(&r);
		else if (x < 995)
			pin(&r);
		else if (x < 998)
			do_fork(&r, &pg);
	}
	munmap(mem, 3 * PAGE);
	return NULL;
}

static void report(void)
{
	long total, n;
	int c, e;

	for (c = 0; c < NR_CMD; c++) {
		total = atomic_load(&st->ok[c]);
		for (e = 0; e < MAX_ERRNO; e++)
			total += atomic_load(&st->err[c][e]);
		printf("%s: calls=%ld ok=%ld", cmd_name[c], total,
		       atomic_load(&st->ok[c]));
		for (e = 0; e < MAX_ERRNO; e++) {
			n = atomic_load(&st->err[c][e]);
			if (n)
				printf(" %s=%ld", e ? strerrorname_np(e) : "errno>255", n);
		}
		putchar('\n');
	}
	printf("forks=%ld killed=%ld closes=%ld dups=%ld shutdowns=%ld relistens=%ld pins=%ld\n",
	       atomic_load(&st->forks), atomic_load(&st->kills),
	       atomic_load(&st->closes),
	       atomic_load(&st->dups), atomic_load(&st->shutdowns),
	       atomic_load(&st->relistens), atomic_load(&st->pins));
	printf("threads=%ld local_kept=%ld local_closed_at_once=%ld\n",
	       atomic_load(&st->threads), atomic_load(&st->local_kept),
	       atomic_load(&st->local_dropped));
}

int main(int argc, char **argv)
{
	struct fastsocket_info info = { 0 };
	unsigned long long seed = 0;
	bool have_seed = false;
	int nthreads = 4, i, c, e, fd, nbad;
	pthread_t *tid;
	struct thread_arg *ta;
	int *gen;
	long calls;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
			have_seed = true;
		} else if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
			target_calls = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			nthreads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port_base = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--fail-ioctls")) {
			fail_ioctls = true;
		} else {
			fprintf(stderr, "usage: fsk-ioctl-fuzz [--seed N] [--calls N]"
				" [--threads N] [--port P] [--fail-ioctls]\n");
			return 2;
		}
	}
	if (nthreads < 1 || target_calls < 1) {
		fprintf(stderr, "fsk-ioctl-fuzz: --threads and --calls must be positive\n");
		return 2;
	}
	if (!have_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned long long)ts.tv_nsec ^ (unsigned long long)ts.tv_sec << 20 ^
		       (unsigned long long)getpid() << 40;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("seed=%llu (rerun with --seed %llu) calls=%ld threads=%d uid=%d\n",
	       seed, seed, target_calls, nthreads, (int)geteuid());
	for (c = 0; c < NR_CMD; c++)
		for (e = 0; e < 16 && allowed_init[c][e]; e++)
			allowed[c][allowed_init[c][e]] = true;
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	dev = open(FASTSOCKET_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0 || ioctl(dev, FASTSOCKET_IOC_INFO, &info)) {
		perror(FASTSOCKET_DEVICE_PATH);
		return 2;
	}
	nr_cpu_ids_mod = (int)info.nr_cpu_ids;
	nr_online = (int)sysconf(_SC_NPROCESSORS_ONLN);
	setup_slots();

	tid = calloc(nthreads, sizeof(*tid));
	ta = calloc(nthreads, sizeof(*ta));
	gen = calloc(nthreads, sizeof(*gen));
	if (!tid || !ta || !gen)
		return 2;
	/*
	 * Generations of threads: each makes up to twice its share of the
	 * calls (a random amount) and exits; a new one takes its place.
	 */
	calls = target_calls / nthreads / 4 + 1;
	for (i = 0; i < nthreads; i++) {
		thread_arg_init(&ta[i], seed, i, gen[i]++, calls);
		pthread_create(&tid[i], NULL, fuzz_thread, &ta[i]);
		atomic_fetch_add(&st->threads, 1);
	}
	while (atomic_load(&st->thread_calls) < target_calls) {
		for (i = 0; i < nthreads; i++) {
			if (pthread_tryjoin_np(tid[i], NULL))
				continue;
			thread_arg_init(&ta[i], seed, i, gen[i]++, calls);
			pthread_create(&tid[i], NULL, fuzz_thread, &ta[i]);
			atomic_fetch_add(&st->threads, 1);
		}
		usleep(1000);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);

	/* Close everything, local listeners included. */
	for (i = 0; i < nr_slots; i++) {
		fd = atomic_exchange(&slots[i].fd, -1);
		if (fd >= 0 && slots[i].kind != K_CLOSED)
			close(fd);
	}
	free(gen);
	free(ta);
	free(tid);
	report();
	printf("calls=%ld (threads %ld, their children the rest)\n",
	       atomic_load(&st->calls), atomic_load(&st->thread_calls));
	nbad = atomic_load(&st->nr_bad);
	for (c = 0; c < NR_CMD; c++) {
		long n = atomic_load(&st->undocumented[c]);
		int shown = 0;

		if (!n) {
			check_pass("%s: every result documented", cmd_name[c]);
			continue;
		}
		check_fail(cmd_name[c], "%ld results not documented (seed %llu)",
			   n, seed);
		for (i = 0; i < nbad && i < MAX_BAD; i++)
			if (st->bad[i].cmd == c && shown++ < 4)
				printf("#   %s %s\n", cmd_name[c], st->bad[i].what);
	}
	if (atomic_load(&st->bad_children))
		check_fail("forked children", "%ld did not exit cleanly",
			   atomic_load(&st->bad_children));
	else
		check_pass("%ld forked children exited cleanly or were killed",
			   atomic_load(&st->forks));
	if (atomic_load(&st->calls) >= target_calls)
		check_pass("%ld calls made", atomic_load(&st->calls));
	else
		check_fail("calls made", "%ld of %ld", atomic_load(&st->calls),
			   target_calls);
	return check_done();
}
