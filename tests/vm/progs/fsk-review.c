// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-review: one subcommand per finding of the kmod review
 * (the design note kmod-review.md), each proving the finding fixed. Run by
 * tests/vm/t-sec-*.sh in the QEMU guest, as root; subcommands that need
 * an unprivileged caller drop to --uid themselves.
 *
 *   stale-entry    [--port P] [--uid U] [--no-respawn]         finding 1
 *   register-race  [--port P] [--rounds N]                     finding 2
 *   spawn-group    [--port P]                                  finding 3
 *   mutex          [--port P] [--uid U] [--hold-ms MS]         finding 4
 *   rt-stress      [--port P] [--seconds S] [--rounds N]       finding 5
 *   reuseport-bpf  [--port P] [--count N] [--cpu C]            finding 6
 *   refuse         [--port P]                                  finding 7
 *   filter-steer   [--port P] [--count N]                      finding 7
 *   options        [--port P]                                  finding 7
 *   load-inflate   [--port P] [--uid U] [--rounds N] --ready F finding 8
 *   auto-pick      [--port P] [--uid U]                        finding 8
 *   pidns          [--port P] --ready F                        finding 8
 *   hotplug-worker [--port P] --cpu C --ready F --go F [--count N]
 *                                                              finding 9
 *   quota          [--port P] [--uid U] [--count N] [--ready F --go F]
 *                                                              issue 14
 *
 * Prints "ok: NAME" or "FAIL: NAME: ..." per check (fsk-check.h) and
 * key=value lines for the shell test; exits 1 if a check failed, 2 if
 * the test itself could not be set up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/userfaultfd.h>
#include <linux/xfrm.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fastsocket.h>

#include "fsk-check.h"

#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static int dev = -1;
static int port = 8200;
static int uid = 65534;
static bool v6_any;	/* IPv6 listeners on [::] instead of [::1] */
static const char *ready_file, *go_file;

static void die(const char *what)
{
	printf("ERROR: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void ok(const char *name)
{
	printf("ok: %s\n", name);
}

static void bad(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bad(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failures++;
}

static void expect_int(const char *name, long want, long got)
{
	if (want == got)
		printf("ok: %s: %ld\n", name, got);
	else
		bad(name, "expected %ld, got %ld", want, got);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static void unpin(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (int i = 0; i < CPU_SETSIZE && i < sysconf(_SC_NPROCESSORS_CONF); i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void drop_to(int u)
{
	if (setgroups(0, NULL) || setgid(u) || setuid(u))
		die("drop privileges");
}

static void open_dev(void)
{
	if (dev >= 0)
		return;
	dev = open(FASTSOCKET_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		die(FASTSOCKET_DEVICE_PATH);
}

static void touch_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) || rename(tmp, path))
		die(path);
}

/* Wait until @path exists; false after @secs seconds. */
static bool wait_path(const char *path, double secs)
{
	double end = now() + secs;

	while (access(path, F_OK)) {
		if (now() > end)
			return false;
		usleep(20000);
	}
	return true;
}

/* A listening socket: IPv4 127.0.0.1:p, or IPv6 [::1]:p ([::]:p if
 * v6_any) with @v6only
 * (-1: leave the default). @pre runs after socket() and before bind(). */
static int listener_ex(int family, int p, int v6only, void (*pre)(int fd))
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		die("SO_REUSEPORT");
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		if (v6only >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
					      &v6only, sizeof(v6only)))
			die("IPV6_V6ONLY");
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(p);
		a->sin6_addr = v6_any ? in6addr_any : in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(p);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	if (pre)
		pre(fd);
	if (bind(fd, (struct sockaddr *)&ss, len))
		die("bind");
	if (listen(fd, 4096))
		die("listen");
	return fd;
}

static int listener(int p)
{
	return listener_ex(AF_INET, p, -1, NULL);
}

/* SPAWN; returns the local fd or -1 with errno; *out_cpu if non-NULL. */
static int spawn_cpu(int fd, int cpu, int *out_cpu)
{
	struct fastsocket_spawn s = { .fd = fd, .cpu = cpu };

	if (ioctl(dev, FASTSOCKET_IOC_SPAWN, &s))
		return -1;
	if (out_cpu)
		*out_cpu = s.cpu;
	watch(s.local_fd);
	return s.local_fd;
}

static int do_register(int fd, int cpu)
{
	struct fastsocket_register r = { .fd = fd, .cpu = cpu };

	return ioctl(dev, FASTSOCKET_IOC_REGISTER, &r);
}

static int park(int fd, unsigned int flags)
{
	struct fastsocket_park p = { .fd = fd, .flags = flags };

	return ioctl(dev, FASTSOCKET_IOC_PARK, &p);
}

static ino_t inode_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		die("fstat");
	return st.st_ino;
}

/*
 * Rows of /proc/net/fastsocket's listener table for port @p whose kind
 * is @kind (NULL: any). *pid gets the pid column of the last match.
 */
static int proc_rows(int p, const char *kind, long *pid)
{
	char line[512], addr[256], k[64], suffix[16];
	unsigned int dev_if, cpu, spawns;
	bool rows = false;
	int n = 0;
	long owner;
	FILE *f = fopen("/proc/net/fastsocket", "r");

	if (!f)
		die("/proc/net/fastsocket");
	snprintf(suffix, sizeof(suffix), ":%d", p);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "listener ", 9)) {
			rows = true;
			continue;
		}
		if (!rows || sscanf(line, "%255s %u %u %ld %u %63s", addr,
				    &dev_if, &cpu, &owner, &spawns, k) != 6)
			continue;
		size_t al = strlen(addr), sl = strlen(suffix);

		if (al < sl || strcmp(addr + al - sl, suffix))
			continue;
		if (kind && strcmp(kind, k))
			continue;
		n++;
		if (pid)
			*pid = owner;
	}
	fclose(f);
	return n;
}

static void dump_proc(void)
{
	char line[512];
	FILE *f = fopen("/proc/net/fastsocket", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("# proc: %s", line);
	fclose(f);
}

static int drain(int fd)
{
	int n = 0, c;

	while ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(c);
		n++;
	}
	return n;
}

/*
 * @n non-blocking connects to 127.0.0.1:@p from a child pinned to @cpu,
 * all in flight at once; those not connected after @secs count as
 * failed. Returns the number that connected. The connected sockets are
 * closed after the parent has accepted (the child waits for @done).
 */
static int connect_batch(int p, int cpu, int n, double secs)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct pollfd *pfd = calloc(n, sizeof(*pfd));
		int connected = 0, pending = n;
		double end = now() + secs;

		pin(cpu);
		for (int i = 0; i < n; i++) {
			pfd[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			pfd[i].events = POLLOUT;
			if (pfd[i].fd < 0 ||
			    (connect(pfd[i].fd, (struct sockaddr *)&a, sizeof(a)) &&
			     errno != EINPROGRESS)) {
				pfd[i].fd = -1;
				pending--;
			}
		}
		while (pending > 0 && now() < end) {
			int ms = (int)((end - now()) * 1000) + 1;

			if (poll(pfd, n, ms) <= 0)
				break;
			for (int i = 0; i < n; i++) {
				int err = 0;
				socklen_t el = sizeof(err);

				if (pfd[i].fd < 0 || !pfd[i].revents)
					continue;
				getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (!err)
					connected++;
				pfd[i].fd = -(pfd[i].fd + 2); /* done; keep open */
				pending--;
			}
		}
		_exit(connected > 250 ? 250 : connected);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		die("client child");
	return WEXITSTATUS(status);
}

/* ---------------------------------------------------------------- 1 -- */

/*
 * As @uid: SPAWN a copy, SO_BINDTODEVICE "lo" on it, close it. The table
 * must not keep it, and a second SPAWN for the same CPU must work.
 */
static int cmd_stale_entry(bool respawn)
{
	int orig, c;

	drop_to(uid);
	open_dev();
	orig = listener(port);
	c = spawn_cpu(orig, 0, NULL);
	check("spawn a copy on CPU 0", c, 0);
	if (c < 0)
		return 1;
	check("SO_BINDTODEVICE lo on the copy, unprivileged",
	      setsockopt(c, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3), 0);
	close(c);
	expect_int("local listeners listed after the copy closed",
		   0, proc_rows(port, NULL, NULL));
	if (respawn) {
		c = spawn_cpu(orig, 0, NULL);
		check("spawn again on CPU 0", c, 0);
		if (c >= 0) {
			int acc = 0;
			socklen_t l = sizeof(acc);

			getsockopt(c, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l);
			expect_int("the new copy is listening", 1, acc);
			close(c);
		}
		expect_int("local listeners listed after the second copy closed",
			   0, proc_rows(port, NULL, NULL));
	}
	close(orig);
	dump_proc();
	return failures != 0;
}

/* ---------------------------------------------------------------- 2 -- */

static int sockopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, level, name, &v, &l))
		return -1000 - errno;
	return v;
}

/*
 * Both threads leave a spinning barrier together; the REGISTER side then
 * waits race_delay spin units (the disconnect side -race_delay when it is
 * negative). The delay adapts every round towards the point where
 * REGISTER and shutdown() meet: later when REGISTER won, earlier when it
 * found the socket closed (EINVAL), with some jitter.
 */
static atomic_int race_gate, race_done;
static int race_fd, race_delay;
static volatile int race_stop;

static void spin(int units)
{
	for (volatile int i = 0; i < units * 16; i++)
		;
}

static void gate_wait(atomic_int *gate, int round)
{
	while (atomic_load(gate) < round)
		;
}

static void *race_disconnector(void *arg)
{
	(void)arg;
	pin(1);
	for (int round = 1;; round++) {
		gate_wait(&race_gate, round);
		if (race_stop)
			return NULL;
		if (race_delay < 0)
			spin(-race_delay);
		shutdown(race_fd, SHUT_RD);
		atomic_store(&race_done, round);
	}
}

static int cmd_register_race(int rounds)
{
	pthread_t t;
	long ok_n = 0, einval = 0, ebusy = 0, other = 0, stale_round = -1;
	double start = now();
	int c, r, rc, err;

	open_dev();
	if (pthread_create(&t, NULL, race_disconnector, NULL))
		die("pthread_create");
	pin(0);
	srand(1);
	for (r = 0; r < rounds; r++) {
		race_fd = listener(port);
		atomic_store(&race_gate, r + 1);
		if (race_delay > 0)
			spin(race_delay);
		rc = do_register(race_fd, 0);
		err = errno;
		gate_wait(&race_done, r + 1);
		/*
		 * Not listening now: no table row may be left for it. Reading
		 * /proc costs ~10 ms in the guest, so only now and then; a
		 * stale entry also makes the next round's REGISTER fail EBUSY.
		 */
		if (!rc && r % 100 == 0 &&
		    sockopt_int(race_fd, SOL_SOCKET, SO_ACCEPTCONN) == 0 &&
		    proc_rows(port, NULL, NULL)) {
			stale_round = r + 1;
			close(race_fd);
			break;
		}
		/* Half the sockets listen again before they close. */
		if (r % 2)
			listen(race_fd, 128);
		close(race_fd);
		if (!rc) {
			ok_n++;
			race_delay += 1 + rand() % 4;
		} else if (err == EINVAL) {
			einval++;
			race_delay -= 1 + rand() % 4;
		} else if (err == EBUSY) {
			ebusy++;
		} else {
			other++;
		}
		if (ebusy) {
			if (proc_rows(port, NULL, NULL)) {
				stale_round = r + 1;
				break;
			}
		}
	}
	race_stop = 1;
	atomic_store(&race_gate, r + 2);
	pthread_join(t, NULL);
	printf("rounds=%d seconds=%.1f registered=%ld einval=%ld ebusy=%ld other=%ld final_delay=%d\n",
	       r < rounds ? r + 1 : r, now() - start, ok_n, einval, ebusy, other,
	       race_delay);
	if (stale_round >= 0) {
		bad("no table row for a socket that is not listening",
		    "REGISTER linked a socket that shutdown() had taken out of LISTEN, seen in round %ld (a row while not listening, or the next REGISTER failing EBUSY); it stays after close",
		    stale_round);
		dump_proc();
		/* A SPAWN now would dereference the stale entry: stop here. */
		return 1;
	}
	expect_int("table rows after all rounds", 0, proc_rows(port, NULL, NULL));
	expect_int("REGISTER failures other than EINVAL (EBUSY: stale entry)",
		   0, ebusy + other);
	if (!ok_n || !einval)
		printf("# note: the race was one-sided: registered=%ld einval=%ld\n",
		       ok_n, einval);
	race_fd = listener(port);
	c = spawn_cpu(race_fd, 0, NULL);
	check("spawn on the raced address and CPU", c, 0);
	if (c >= 0)
		close(c);
	close(race_fd);
	return failures != 0;
}

/* ---------------------------------------------------------------- 3 -- */

static int cmd_spawn_group(void)
{
	int s1, s2, c1, c2, s, w, c;

	open_dev();
	/*
	 * Two reuseport groups on one address: v6only and dual-stack. On
	 * [::] only: bind() to a specific IPv6 address such as ::1 sets
	 * IPV6_V6ONLY (__inet6_bind()), which would put both in one group.
	 */
	v6_any = true;
	s1 = listener_ex(AF_INET6, port, 1, NULL);
	s2 = listener_ex(AF_INET6, port, 0, NULL);
	v6_any = false;
	printf("# [::]:%d: v6only of s1 %d, of s2 %d\n", port,
	       sockopt_int(s1, IPPROTO_IPV6, IPV6_V6ONLY),
	       sockopt_int(s2, IPPROTO_IPV6, IPV6_V6ONLY));
	c1 = spawn_cpu(s1, 0, NULL);
	check("spawn for the v6only listener on CPU 0", c1, 0);
	c2 = spawn_cpu(s2, 0, NULL);
	check("spawn for the dual-stack listener on CPU 0", c2, 0);
	if (c1 >= 0 && c2 >= 0) {
		expect_int("IPV6_V6ONLY of the dual-stack listener's copy", 0,
			   sockopt_int(c2, IPPROTO_IPV6, IPV6_V6ONLY));
		if (inode_of(c1) != inode_of(c2))
			ok("the two copies are different sockets");
		else
			bad("the two copies are different sockets",
			    "the second SPAWN returned the first group's copy (inode %lu)",
			    (unsigned long)inode_of(c1));
	}
	if (c1 >= 0)
		close(c1);
	if (c2 >= 0)
		close(c2);
	close(s1);
	close(s2);

	/* A registered per-worker socket is not handed out by SPAWN. */
	s = listener(port + 1);
	w = listener(port + 1);
	check("register a per-worker socket for CPU 0", do_register(w, 0), 0);
	c = spawn_cpu(s, 0, NULL);
	check("spawn on CPU 0 where a socket is registered", c, EBUSY);
	if (c >= 0) {
		if (inode_of(c) == inode_of(w))
			bad("spawn does not return the registered socket",
			    "got the registered socket's inode %lu",
			    (unsigned long)inode_of(w));
		close(c);
	}
	close(w);
	close(s);
	return failures != 0;
}

/* ---------------------------------------------------------------- 4 -- */

static int uffd;
static int hold_ms = 3000;
static int blocked_pipe[2];
static void *uffd_area;
static long page;

static void *uffd_handler(void *arg)
{
	struct uffd_msg msg;
	struct pollfd p = { .fd = uffd, .events = POLLIN };
	struct uffdio_writeprotect wp = {
		.range = { .start = (unsigned long)uffd_area, .len = page },
		.mode = 0,
	};
	char c = 'f';

	(void)arg;
	if (poll(&p, 1, 10000) != 1 || read(uffd, &msg, sizeof(msg)) != sizeof(msg)) {
		c = 'n';	/* never faulted */
		if (write(blocked_pipe[1], &c, 1) != 1)
			die("pipe");
		return NULL;
	}
	if (msg.event != UFFD_EVENT_PAGEFAULT ||
	    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
		c = 'x';
	if (write(blocked_pipe[1], &c, 1) != 1)
		die("pipe");
	usleep(hold_ms * 1000);
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		die("UFFDIO_WRITEPROTECT (resolve)");
	return NULL;
}

static double spawner_secs;
static int spawner_rc, spawner_errno;

static void *uffd_spawner(void *arg)
{
	double t0 = now();

	(void)arg;
	spawner_rc = ioctl(dev, FASTSOCKET_IOC_SPAWN, uffd_area);
	spawner_errno = errno;
	spawner_secs = now() - t0;
	return NULL;
}

static int cmd_mutex(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	struct fastsocket_spawn *arg;
	pthread_t th, ts;
	int orig, res[2], status;
	char c;
	double other;
	pid_t pid;

	open_dev();
	page = sysconf(_SC_PAGESIZE);
	orig = listener(port);
	uffd_area = mmap(NULL, page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (uffd_area == MAP_FAILED)
		die("mmap");
	arg = uffd_area;
	memset(arg, 0, page);
	arg->fd = orig;
	arg->cpu = 0;
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		die("userfaultfd");
	if (ioctl(uffd, UFFDIO_API, &api))
		die("UFFDIO_API");
	reg.range.start = (unsigned long)uffd_area;
	reg.range.len = page;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER (write-protect mode)");
	wp.range = reg.range;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		die("UFFDIO_WRITEPROTECT");
	if (pipe(blocked_pipe) || pipe(res))
		die("pipe");
	pthread_create(&th, NULL, uffd_handler, NULL);
	pthread_create(&ts, NULL, uffd_spawner, NULL);
	if (read(blocked_pipe[0], &c, 1) != 1)
		die("pipe");
	if (c != 'f') {
		printf("ERROR: the SPAWN result write did not block in userfaultfd (%c)\n", c);
		exit(2);
	}
	printf("# process A's SPAWN is blocked in copy_to_user for %d ms\n", hold_ms);
	usleep(100000);
	pid = fork();
	if (pid == 0) {
		struct fastsocket_spawn s = { .cpu = 0 };
		double t0, t;
		int rc;

		drop_to(uid);
		s.fd = listener(port + 1);
		t0 = now();
		rc = ioctl(dev, FASTSOCKET_IOC_SPAWN, &s);
		t = rc ? -1 : now() - t0;
		if (write(res[1], &t, sizeof(t)) != sizeof(t))
			_exit(3);
		_exit(0);
	}
	if (read(res[0], &other, sizeof(other)) != sizeof(other))
		die("result pipe");
	waitpid(pid, &status, 0);
	pthread_join(ts, NULL);
	pthread_join(th, NULL);
	printf("other_spawn_ms=%.0f blocked_spawn_ms=%.0f\n", other * 1000,
	       spawner_secs * 1000);
	if (other < 0)
		bad("SPAWN by uid 65534 on its own listener", "failed");
	else if (other < 0.5)
		printf("ok: SPAWN by another user while A's copy_to_user faults: %.0f ms\n",
		       other * 1000);
	else
		bad("SPAWN by another user while A's copy_to_user faults",
		    "took %.0f ms (>= 500 ms: serialised behind A's fault)",
		    other * 1000);
	errno = spawner_errno;
	check("A's SPAWN completes once its fault is resolved", spawner_rc, 0);
	if (spawner_secs < hold_ms / 1000.0 * 0.9)
		bad("A's SPAWN was held by its own fault",
		    "returned after %.0f ms (test setup: the fault did not hold)",
		    spawner_secs * 1000);
	return failures != 0;
}

/* ---------------------------------------------------------------- 5 -- */

struct stress {
	pthread_t t;
	int cpu, target;
	long rounds, errors;
	int first_errno;
	const char *first_op;
};

static int stress_orig;
static double stress_end;
static long stress_max;

static void *stress_thread(void *arg)
{
	struct stress *s = arg;

	pin(s->cpu);
	while (s->rounds < stress_max && now() < stress_end) {
		int c = spawn_cpu(stress_orig, s->target, NULL);

		if (c < 0) {
			if (!s->errors++) {
				s->first_errno = errno;
				s->first_op = "SPAWN";
			}
			continue;
		}
		if ((park(c, FASTSOCKET_PARK_ON) || park(c, 0)) && !s->errors++) {
			s->first_errno = errno;
			s->first_op = "PARK";
		}
		close(c);
		s->rounds++;
	}
	return NULL;
}

static void *stress_clients(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	long *n = arg;

	while (now() < stress_end && *n < stress_max) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s >= 0 && !connect(s, (struct sockaddr *)&a, sizeof(a)))
			++*n;
		if (s >= 0)
			close(s);
	}
	return NULL;
}

static int cmd_rt_stress(int seconds, long max)
{
	int ncpu = sysconf(_SC_NPROCESSORS_ONLN), n = 0, acc = 0;
	struct stress st[64];
	pthread_t cl;
	long conns = 0, total = 0;

	open_dev();
	stress_orig = listener(port);
	stress_max = max;
	stress_end = now() + seconds;
	if (ncpu > 32)
		ncpu = 32;
	/* Per CPU: one thread spawning for its own CPU, one for the next. */
	for (int cpu = 0; cpu < ncpu; cpu++) {
		for (int k = 0; k < 2; k++, n++) {
			st[n] = (struct stress){ .cpu = cpu,
						 .target = (cpu + k) % ncpu };
			pthread_create(&st[n].t, NULL, stress_thread, &st[n]);
		}
	}
	pthread_create(&cl, NULL, stress_clients, &conns);
	while (now() < stress_end + 1) {
		acc += drain(stress_orig);
		usleep(10000);
		bool done = true;

		for (int i = 0; i < n; i++)
			if (st[i].rounds < stress_max && now() < stress_end)
				done = false;
		if (done)
			break;
	}
	for (int i = 0; i < n; i++) {
		pthread_join(st[i].t, NULL);
		total += st[i].rounds;
		printf("thread cpu=%d target=%d rounds=%ld errors=%ld%s%s%s%s\n",
		       st[i].cpu, st[i].target, st[i].rounds, st[i].errors,
		       st[i].errors ? " first=" : "",
		       st[i].errors ? st[i].first_op : "",
		       st[i].errors ? ":" : "",
		       st[i].errors ? strerror(st[i].first_errno) : "");
		expect_int("errors of a spawn/park/close thread", 0, st[i].errors);
	}
	pthread_join(cl, NULL);
	acc += drain(stress_orig);
	printf("rounds=%ld connections=%ld\n", total, conns);
	close(stress_orig);
	expect_int("local listeners left", 0, proc_rows(port, NULL, NULL));
	return failures != 0;
}

/* ---------------------------------------------------------------- 6 -- */

static int cmd_reuseport_bpf(int count, int cpu)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { .len = 1, .filter = code };
	int orig, c, n_orig, n_copy, connected;

	open_dev();
	orig = listener(port);
	check("SO_ATTACH_REUSEPORT_CBPF (always member 0)",
	      setsockopt(orig, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
			 sizeof(prog)), 0);
	c = spawn_cpu(orig, cpu, NULL);
	check("spawn a copy for the CPU of the clients", c, 0);
	if (c < 0)
		return 1;
	connected = connect_batch(port, cpu, count, 10);
	usleep(200000);
	n_orig = drain(orig);
	n_copy = drain(c);
	printf("connected=%d original=%d copy=%d\n", connected, n_orig, n_copy);
	expect_int("connections made", count, connected);
	expect_int("accepted on member 0 (the original)", count, n_orig);
	expect_int("accepted on the copy", 0, n_copy);
	close(c);
	close(orig);
	return failures != 0;
}

/* ---------------------------------------------------------------- 7 -- */

static void drop_all_filter(int fd)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { .len = 1, .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)))
		die("SO_ATTACH_FILTER");
}

static void md5_key(int fd)
{
	struct tcp_md5sig md5 = { .tcpm_keylen = 8 };
	struct sockaddr_in *a = (struct sockaddr_in *)&md5.tcpm_addr;

	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memcpy(md5.tcpm_key, "fsk-test", 8);
	if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5)))
		die("TCP_MD5SIG");
}

/* An inbound allow policy without templates: all xfrm_user accepts. */
static int xfrm_policy(int fd, int family)
{
	struct xfrm_userpolicy_info p = { 0 };

	p.sel.family = family;
	p.dir = XFRM_POLICY_IN;
	p.action = XFRM_POLICY_ALLOW;
	p.lft.soft_byte_limit = XFRM_INF;
	p.lft.hard_byte_limit = XFRM_INF;
	p.lft.soft_packet_limit = XFRM_INF;
	p.lft.hard_packet_limit = XFRM_INF;
	p.share = XFRM_SHARE_ANY;
	if (family == AF_INET6)
		return setsockopt(fd, IPPROTO_IPV6, IPV6_XFRM_POLICY, &p, sizeof(p));
	return setsockopt(fd, IPPROTO_IP, IP_XFRM_POLICY, &p, sizeof(p));
}

static void refuse_case(const char *name, int fd)
{
	char what[160];
	int c = spawn_cpu(fd, 0, NULL);

	snprintf(what, sizeof(what), "spawn refused with %s", name);
	check(what, c, EOPNOTSUPP);
	if (c >= 0)
		close(c);
}

static int cmd_refuse(void)
{
	int fd, p = port, rc;

	open_dev();
	fd = listener(p++);
	drop_all_filter(fd);
	refuse_case("a socket filter (SO_ATTACH_FILTER)", fd);
	close(fd);

	fd = listener(p++);
	md5_key(fd);
	refuse_case("a TCP_MD5SIG key", fd);
	close(fd);

	fd = listener(p++);
	rc = xfrm_policy(fd, AF_INET);
	if (rc)
		printf("# skip: IP_XFRM_POLICY: the kernel refused to set one: %s\n",
		       strerror(errno));
	else
		refuse_case("an IP_XFRM_POLICY", fd);
	close(fd);

	fd = listener_ex(AF_INET6, p++, 1, NULL);
	rc = xfrm_policy(fd, AF_INET6);
	if (rc)
		printf("# skip: IPV6_XFRM_POLICY: the kernel refused to set one: %s\n",
		       strerror(errno));
	else
		refuse_case("an IPV6_XFRM_POLICY", fd);
	close(fd);

	fd = listener(p++);
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3))
		printf("# skip: TCP_ULP tls on a listener: %s (6.1 allows no ULP without a clone op on a listener)\n",
		       strerror(errno));
	else
		refuse_case("TCP_ULP tls", fd);
	close(fd);
	return failures != 0;
}

static void incoming_cpu0(int fd)
{
	int zero = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &zero, sizeof(zero)))
		die("SO_INCOMING_CPU");
}

/*
 * A drop-all filter on the original, clients pinned to CPU 0.
 * 1. filter, then SPAWN: refused; no connection gets through.
 * 2. SPAWN, then filter: the copy is an ordinary member of the group
 *    and takes the SYNs the kernel gives it. The original also has
 *    SO_INCOMING_CPU 0, so the kernel's reuseport choice for a CPU-0 SYN
 *    is either of the two, by the flow hash: about half the SYNs meet
 *    the filtered original, and those must be dropped (connect times
 *    out), not steered to the copy. With 40 flows, the chance that none
 *    of them hashes to the original is 2^-40.
 */
static int cmd_filter_steer(int count)
{
	int orig, c, connected, n_orig, n_copy;

	open_dev();
	orig = listener(port);
	drop_all_filter(orig);
	c = spawn_cpu(orig, 0, NULL);
	check("filter, then spawn: refused", c, EOPNOTSUPP);
	connected = connect_batch(port, 0, count, 1.5);
	n_orig = drain(orig);
	n_copy = c >= 0 ? drain(c) : 0;
	printf("filter-then-spawn: connected=%d original=%d copy=%d\n",
	       connected, n_orig, n_copy);
	expect_int("filter, then spawn: connections through the filter",
		   0, connected);
	if (c >= 0)
		close(c);
	close(orig);

	orig = listener_ex(AF_INET, port + 1, -1, incoming_cpu0);
	c = spawn_cpu(orig, 0, NULL);
	check("spawn, then filter: spawn", c, 0);
	if (c < 0)
		return 1;
	drop_all_filter(orig);
	connected = connect_batch(port + 1, 0, count, 1.5);
	usleep(100000);
	n_orig = drain(orig);
	n_copy = drain(c);
	printf("spawn-then-filter: clients=%d connected=%d original=%d copy=%d\n",
	       count, connected, n_orig, n_copy);
	expect_int("spawn, then filter: accepted on the filtered original",
		   0, n_orig);
	expect_int("spawn, then filter: every connection made is on the copy",
		   connected, n_copy);
	if (connected < count)
		printf("ok: spawn, then filter: SYNs the kernel gave the filtered original were dropped: %d of %d\n",
		       count - connected, count);
	else
		bad("spawn, then filter: SYNs the kernel gave the filtered original were dropped",
		    "all %d connected: SYNs were steered past the filter", count);
	close(c);
	close(orig);
	return failures != 0;
}

struct opt_int {
	const char *name;
	int level, opt, val;
};

static void set_int(int fd, const struct opt_int *o)
{
	int v = o->val;

	if (setsockopt(fd, o->level, o->opt, &v, sizeof(v)))
		die(o->name);
}

static void check_int(int copy, const struct opt_int *o)
{
	int got = -1;
	socklen_t l = sizeof(got);
	char what[128];

	snprintf(what, sizeof(what), "copy carries %s", o->name);
	if (getsockopt(copy, o->level, o->opt, &got, &l)) {
		bad(what, "getsockopt: %s", strerror(errno));
		return;
	}
	expect_int(what, o->val, got);
}

static void options_on(int fd, const struct opt_int *ints, int n)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 5 };
	struct timeval rt = { .tv_sec = 2 }, wt = { .tv_sec = 3 };

	for (int i = 0; i < n; i++)
		set_int(fd, &ints[i]);
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		die("SO_LINGER");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt)))
		die("SO_RCVTIMEO");
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wt, sizeof(wt)))
		die("SO_SNDTIMEO");
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4))
		die("TCP_CONGESTION reno");
}

static void options_check(int c, const char *fam, const struct opt_int *ints, int n)
{
	struct linger lg;
	struct timeval tv;
	char cc[32] = "", what[128];
	socklen_t l;

	for (int i = 0; i < n; i++)
		check_int(c, &ints[i]);
	l = sizeof(lg);
	snprintf(what, sizeof(what), "%s copy carries SO_LINGER {1, 5}", fam);
	if (getsockopt(c, SOL_SOCKET, SO_LINGER, &lg, &l) || lg.l_onoff != 1 ||
	    lg.l_linger != 5)
		bad(what, "got {%d, %d}", lg.l_onoff, lg.l_linger);
	else
		ok(what);
	l = sizeof(tv);
	snprintf(what, sizeof(what), "%s copy carries SO_RCVTIMEO 2 s", fam);
	if (getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) || tv.tv_sec != 2 ||
	    tv.tv_usec)
		bad(what, "got %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
	else
		ok(what);
	l = sizeof(tv);
	snprintf(what, sizeof(what), "%s copy carries SO_SNDTIMEO 3 s", fam);
	if (getsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, &l) || tv.tv_sec != 3 ||
	    tv.tv_usec)
		bad(what, "got %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
	else
		ok(what);
	l = sizeof(cc) - 1;
	snprintf(what, sizeof(what), "%s copy carries TCP_CONGESTION reno", fam);
	if (getsockopt(c, IPPROTO_TCP, TCP_CONGESTION, cc, &l) || strcmp(cc, "reno"))
		bad(what, "got \"%s\"", cc);
	else
		ok(what);
}

static int cmd_options(void)
{
	const struct opt_int v4[] = {
		{ "IPv4 IP_TOS 0x28", IPPROTO_IP, IP_TOS, 0x28 },
		{ "IPv4 IP_TTL 33", IPPROTO_IP, IP_TTL, 33 },
		{ "IPv4 TCP_LINGER2 17", IPPROTO_TCP, TCP_LINGER2, 17 },
		{ "IPv4 TCP_NOTSENT_LOWAT 12345", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 12345 },
		{ "IPv4 SO_RCVLOWAT 7", SOL_SOCKET, SO_RCVLOWAT, 7 },
		{ "IPv4 TCP_SAVE_SYN 1", IPPROTO_TCP, TCP_SAVE_SYN, 1 },
	};
	const struct opt_int v6[] = {
		{ "IPv6 IPV6_TCLASS 0x28", IPPROTO_IPV6, IPV6_TCLASS, 0x28 },
		{ "IPv6 IPV6_UNICAST_HOPS 33", IPPROTO_IPV6, IPV6_UNICAST_HOPS, 33 },
		{ "IPv6 TCP_LINGER2 17", IPPROTO_TCP, TCP_LINGER2, 17 },
		{ "IPv6 TCP_NOTSENT_LOWAT 12345", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 12345 },
		{ "IPv6 SO_RCVLOWAT 7", SOL_SOCKET, SO_RCVLOWAT, 7 },
		{ "IPv6 TCP_SAVE_SYN 1", IPPROTO_TCP, TCP_SAVE_SYN, 1 },
	};
	int n4 = sizeof(v4) / sizeof(v4[0]), n6 = sizeof(v6) / sizeof(v6[0]);
	int o, c;

	open_dev();
	o = listener(port);
	options_on(o, v4, n4);
	c = spawn_cpu(o, 0, NULL);
	check("IPv4: spawn with the options set", c, 0);
	if (c >= 0) {
		options_check(c, "IPv4", v4, n4);
		close(c);
	}
	close(o);

	o = listener_ex(AF_INET6, port, 1, NULL);
	options_on(o, v6, n6);
	c = spawn_cpu(o, 0, NULL);
	check("IPv6: spawn with the options set", c, 0);
	if (c >= 0) {
		options_check(c, "IPv6", v6, n6);
		close(c);
	}
	close(o);
	return failures != 0;
}

/* ---------------------------------------------------------------- 8 -- */

static int cmd_load_inflate(int rounds)
{
	int orig, c, errs = 0;
	double t0 = now();

	drop_to(uid);
	open_dev();
	orig = listener(port);
	c = spawn_cpu(orig, 0, NULL);
	check("inflater: spawn a copy on CPU 0", c, 0);
	for (int i = 0; i < rounds; i++) {
		int d = spawn_cpu(orig, 0, NULL);

		if (d < 0)
			errs++;
		else
			close(d);
	}
	expect_int("inflater: failed spawns", 0, errs);
	printf("inflater: %d spawn+close on CPU 0 in %.1f s, copy held open\n",
	       rounds, now() - t0);
	touch_file(ready_file, "ready\n");
	pause();
	return 0;
}

static int cmd_auto_pick(bool drop)
{
	int orig, c, cpu = -1;

	if (drop)
		drop_to(uid);
	open_dev();
	unpin();
	orig = listener(port);
	c = spawn_cpu(orig, FASTSOCKET_CPU_AUTO, &cpu);
	check("spawn with FASTSOCKET_CPU_AUTO", c, 0);
	printf("auto_cpu=%d\n", cpu);
	if (c >= 0)
		close(c);
	close(orig);
	return failures != 0;
}

static const char *err_name(int e)
{
	return e ? strerrorname_np(e) ? strerrorname_np(e) : "?" : "0";
}

/*
 * issue 14, the limits of local listeners: as --uid, SPAWN new local
 * listeners (listeners on ports P, P+1, ..., each on every online CPU)
 * until one fails or N were made; then, at the limit, a SPAWN of an
 * existing one (a new fd, not counted) and a REGISTER of a new socket;
 * with --ready/--go, hold them until told; then close one and retry the
 * SPAWN that failed. key=value lines: spawned, spawn_errno, existing_errno,
 * register_errno, after_close_errno.
 */
static int cmd_quota(int count)
{
	int ncpu = sysconf(_SC_NPROCESSORS_ONLN), spawned = 0, err = 0;
	int fd = -1, first_local = -1, first_orig = -1, cpu = 0, p = port;
	int other, lfd;

	if (uid)
		drop_to(uid);
	open_dev();
	while (spawned < count) {
		if (cpu == 0) {
			fd = listener(p++);
			if (first_orig < 0)
				first_orig = fd;
		}
		lfd = spawn_cpu(fd, cpu, NULL);
		if (lfd < 0) {
			err = errno;
			break;
		}
		if (first_local < 0)
			first_local = lfd;
		spawned++;
		cpu = (cpu + 1) % ncpu;
	}
	printf("spawned=%d\nspawn_errno=%s\n", spawned, err_name(err));
	if (first_local < 0)
		return 2;
	lfd = spawn_cpu(first_orig, 0, NULL);
	printf("existing_errno=%s\n", err_name(lfd < 0 ? errno : 0));
	if (lfd >= 0)
		close(lfd);
	other = listener(p + 1);
	printf("register_errno=%s\n",
	       err_name(do_register(other, 0) ? errno : 0));
	close(other);
	touch_file(ready_file, "ready\n");
	if (go_file && !wait_path(go_file, 120)) {
		printf("ERROR: no %s after 120 s\n", go_file);
		return 2;
	}
	/* Its only fd: the local listener leaves the table on this close. */
	close(first_local);
	lfd = spawn_cpu(fd, cpu, NULL);
	printf("after_close_errno=%s\n", err_name(lfd < 0 ? errno : 0));
	return 0;
}

static int cmd_pidns(void)
{
	int orig, c;
	long row = -1;
	char text[64];

	open_dev();
	orig = listener(port);
	c = spawn_cpu(orig, 0, NULL);
	check("spawn inside the pid namespace", c, 0);
	proc_rows(port, NULL, &row);
	printf("getpid=%d proc_pid=%ld\n", getpid(), row);
	expect_int("pid column read inside the pid namespace", getpid(), row);
	snprintf(text, sizeof(text), "%d\n", getpid());
	touch_file(ready_file, text);
	if (go_file)
		wait_path(go_file, 60);
	return failures != 0;
}

/* ---------------------------------------------------------------- 9 -- */

static int cmd_hotplug_worker(int cpu, int count)
{
	int orig, local, got = -1, n_local = 0, n_orig = 0, off_cpu = 0;
	double end;
	char text[64];

	open_dev();
	orig = listener(port);
	/* Allowed only on @cpu: the AUTO pick is @cpu, and the module pins. */
	pin(cpu);
	local = spawn_cpu(orig, FASTSOCKET_CPU_AUTO, &got);
	check("spawn with FASTSOCKET_CPU_AUTO", local, 0);
	if (local < 0)
		return 1;
	expect_int("the CPU AUTO picked", cpu, got);
	snprintf(text, sizeof(text), "%d\n", got);
	touch_file(ready_file, text);
	if (!wait_path(go_file, 90)) {
		printf("ERROR: no go file\n");
		return 2;
	}
	end = now() + 60;
	while (n_local + n_orig < count && now() < end) {
		struct pollfd p[2] = { { .fd = local, .events = POLLIN },
				       { .fd = orig, .events = POLLIN } };
		int a, b;

		if (poll(p, 2, 500) <= 0)
			continue;
		a = drain(local);
		b = drain(orig);
		if (a && sched_getcpu() != cpu)
			off_cpu += a;
		n_local += a;
		n_orig += b;
	}
	printf("accepted_local=%d accepted_original=%d local_not_on_cpu=%d\n",
	       n_local, n_orig, off_cpu);
	expect_int("connections accepted from the local listener", count, n_local);
	expect_int("local accepts while running off the CPU", 0, off_cpu);
	close(local);
	close(orig);
	return failures != 0;
}

int main(int argc, char **argv)
{
	int rounds = -1, count = -1, cpu = -1, seconds = 20;
	bool no_respawn = false;
	const char *cmd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: fsk-review COMMAND [options] (see the source)\n");
		return 2;
	}
	cmd = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-respawn")) {
			no_respawn = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "%s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--uid"))
			uid = atoi(v);
		else if (!strcmp(a, "--rounds"))
			rounds = atoi(v);
		else if (!strcmp(a, "--count"))
			count = atoi(v);
		else if (!strcmp(a, "--cpu"))
			cpu = atoi(v);
		else if (!strcmp(a, "--seconds"))
			seconds = atoi(v);
		else if (!strcmp(a, "--hold-ms"))
			hold_ms = atoi(v);
		else if (!strcmp(a, "--ready"))
			ready_file = v;
		else if (!strcmp(a, "--go"))
			go_file = v;
		else {
			fprintf(stderr, "unknown option %s\n", a);
			return 2;
		}
	}
	if (!strcmp(cmd, "stale-entry"))
		return cmd_stale_entry(!no_respawn);
	if (!strcmp(cmd, "register-race"))
		return cmd_register_race(rounds > 0 ? rounds : 10000);
	if (!strcmp(cmd, "spawn-group"))
		return cmd_spawn_group();
	if (!strcmp(cmd, "mutex"))
		return cmd_mutex();
	if (!strcmp(cmd, "rt-stress"))
		return cmd_rt_stress(seconds, rounds > 0 ? rounds : 1000000);
	if (!strcmp(cmd, "reuseport-bpf"))
		return cmd_reuseport_bpf(count > 0 ? count : 100, cpu >= 0 ? cpu : 1);
	if (!strcmp(cmd, "refuse"))
		return cmd_refuse();
	if (!strcmp(cmd, "filter-steer"))
		return cmd_filter_steer(count > 0 ? count : 40);
	if (!strcmp(cmd, "options"))
		return cmd_options();
	if (!strcmp(cmd, "load-inflate"))
		return cmd_load_inflate(rounds > 0 ? rounds : 1000);
	if (!strcmp(cmd, "auto-pick"))
		return cmd_auto_pick(uid != 0);
	if (!strcmp(cmd, "pidns"))
		return cmd_pidns();
	if (!strcmp(cmd, "quota"))
		return cmd_quota(count > 0 ? count : 64);
	if (!strcmp(cmd, "hotplug-worker")) {
		if (cpu < 0 || !ready_file || !go_file) {
			fprintf(stderr, "hotplug-worker needs --cpu, --ready and --go\n");
			return 2;
		}
		return cmd_hotplug_worker(cpu, count > 0 ? count : 100);
	}
	fprintf(stderr, "unknown command %s\n", cmd);
	return 2;
}
