// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace fallback: the sibling socket has the original's address,
 * options and group, SO_INCOMING_CPU of its CPU, and is refused (with a
 * reason, once) where the kernel refuses it.
 */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "fdmap.h"
#include "dev.h"
#include "accept.h"
#include "bind.h"
#include "fdops.h"
#include "init.h"
#include "listener.h"
#include "local.h"
#include "park.h"
#include "shim.h"
#include "testing.h"
#include "real.h"
#include "sibling.h"

#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif

static int geti(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void seti(int fd, int level, int name, int v)
{
	assert_int_equal(setsockopt(fd, level, name, &v, sizeof(v)), 0);
}

static void same_opt(int a, int b, int level, int name, socklen_t size)
{
	char va[64], vb[64];
	socklen_t la = size, lb = size;

	memset(va, 0, sizeof(va));
	memset(vb, 0, sizeof(vb));
	assert_int_equal(getsockopt(a, level, name, va, &la), 0);
	assert_int_equal(getsockopt(b, level, name, vb, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(va, vb, la);
}

static int first_cpu(void)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &t_affinity))
			return c;
	return 0;
}

static void sibling_has_everything(void **state)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in6 ga, gb;
	socklen_t la = sizeof(ga), lb = sizeof(gb);
	struct linger lg = { 1, 3 };
	struct timeval tv = { 2, 500000 };
	char why[256] = "";
	int s = socket(AF_INET6, SOCK_STREAM, 0), lfd, cpu = first_cpu(), c, acc;
	cpu_set_t one;

	(void)state;
	if (!t_have_ipv6()) {
		close(s);
		skip();
		return;
	}
	seti(s, SOL_SOCKET, SO_REUSEADDR, 1);
	seti(s, SOL_SOCKET, SO_REUSEPORT, 1);
	seti(s, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	seti(s, SOL_SOCKET, SO_KEEPALIVE, 1);
	seti(s, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	seti(s, IPPROTO_TCP, TCP_KEEPINTVL, 11);
	seti(s, IPPROTO_TCP, TCP_KEEPCNT, 4);
	seti(s, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5);
	seti(s, IPPROTO_TCP, TCP_FASTOPEN, 16);
	seti(s, SOL_SOCKET, SO_RCVBUF, 65536);
	seti(s, SOL_SOCKET, SO_SNDBUF, 98304);
	seti(s, IPPROTO_TCP, TCP_NODELAY, 1);
	seti(s, IPPROTO_TCP, TCP_USER_TIMEOUT, 5000);
	seti(s, SOL_SOCKET, SO_PRIORITY, 3);
	seti(s, IPPROTO_IPV6, IPV6_TCLASS, 0x20);
	assert_int_equal(setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "reno", 4), 0);
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	a.sin6_port = htons((uint16_t)t_free_port(AF_INET6));
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 64), 0);

	assert_int_equal(fs_sibling_spawn(s, cpu, 64, &lfd, why, sizeof(why)), 0);
	assert_true(lfd >= 0);

	/* Its own: the CPU, and a non-blocking close-on-exec fd. */
	assert_int_equal(geti(lfd, SOL_SOCKET, SO_INCOMING_CPU), cpu);
	assert_int_equal(geti(lfd, SOL_SOCKET, SO_REUSEPORT), 1);
	assert_int_equal(geti(lfd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);

	/* The original's: the address and what connections inherit. */
	assert_int_equal(getsockname(s, (struct sockaddr *)&ga, &la), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&gb, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(&ga, &gb, la);
	const int ints[][2] = {
		{ SOL_SOCKET, SO_REUSEADDR }, { IPPROTO_IPV6, IPV6_V6ONLY },
		{ SOL_SOCKET, SO_KEEPALIVE }, { IPPROTO_TCP, TCP_KEEPIDLE },
		{ IPPROTO_TCP, TCP_KEEPINTVL }, { IPPROTO_TCP, TCP_KEEPCNT },
		{ IPPROTO_TCP, TCP_DEFER_ACCEPT }, { IPPROTO_TCP, TCP_FASTOPEN },
		{ SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_SNDBUF },
		{ IPPROTO_TCP, TCP_NODELAY }, { IPPROTO_TCP, TCP_USER_TIMEOUT },
		{ SOL_SOCKET, SO_PRIORITY }, { IPPROTO_IPV6, IPV6_TCLASS },
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		same_opt(s, lfd, ints[i][0], ints[i][1], sizeof(int));
	same_opt(s, lfd, IPPROTO_TCP, TCP_CONGESTION, 16);
	same_opt(s, lfd, SOL_SOCKET, SO_LINGER, sizeof(struct linger));
	same_opt(s, lfd, SOL_SOCKET, SO_RCVTIMEO, sizeof(struct timeval));

	/* It is in the original's group and gets this CPU's connections. */
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	c = socket(AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(c, "x", 1), 1);	/* TCP_DEFER_ACCEPT waits for data */
	acc = -1;
	for (int i = 0; i < 200 && acc < 0; i++) {
		acc = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (acc < 0)
			usleep(5000);
	}
	assert_true(acc >= 0);
	close(acc);
	close(c);
	close(lfd);
	close(s);
}

/* A listener with a socket filter gets no sibling (one set later could
 * not follow it): refused before anything is made. */
static void sibling_refuses_filter(void **state)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, 0xffffffff) };
	struct sock_fprog prog = { 1, code };
	int port, s = socket(AF_INET, SOCK_STREAM, 0), lfd;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char why[256] = "";

	(void)state;
	port = t_free_port(AF_INET);
	a.sin_port = htons((uint16_t)port);
	seti(s, SOL_SOCKET, SO_REUSEPORT, 1);
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
				    sizeof(prog)), 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 8), 0);
	assert_int_equal(fs_sibling_spawn(s, first_cpu(), 8, &lfd, why, sizeof(why)),
			 -EOPNOTSUPP);
	assert_int_equal(lfd, -1);
	assert_non_null(strstr(why, "socket filter"));
	close(s);
}

/* Without SO_REUSEPORT the kernel refuses a second socket: said so. */
static void sibling_needs_reuseport(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0), lfd;
	char why[256] = "";

	(void)state;
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 8), 0);
	assert_int_equal(fs_sibling_spawn(s, 0, 8, &lfd, why, sizeof(why)), -EADDRINUSE);
	assert_int_equal(lfd, -1);
	assert_non_null(strstr(why, "bind: Address already in use"));
	close(s);
}

/*
 * In a child that made a listener as root and then dropped to nobody:
 * the fallback's bind is refused; the shim passes through and says so
 * once (FASTSOCKET_LOG=info) however many workers wait.
 */
static int child_after_drop(int port, int expect_err, const char *hint)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s, lfd, p[2], rc;
	char why[256] = "", out[2048];
	ssize_t n, got = 0;
	struct fs_local *loc;

	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fs_bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || fs_listen(s, 8) < 0)
		return 10;
	if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
		return 11;
	rc = fs_sibling_spawn(s, first_cpu(), 8, &lfd, why, sizeof(why));
	if (rc != -expect_err)
		return 12;
	if (!strstr(why, hint))
		return 13;

	if (pipe(p) < 0)
		return 14;
	dup2(p[1], STDERR_FILENO);
	fs_cfg.log = FS_LOG_INFO;
	for (int i = 0; i < 3; i++) {
		loc = fs_wait_local(fs_fdmap_get(s), s);
		if (loc)
			return 15;
	}
	close(p[1]);
	close(STDERR_FILENO);
	while ((n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	int lines = 0;

	for (char *q = out; (q = strstr(q, "no local listener")); q++)
		lines++;
	if (lines != 1)
		return 16;
	/* Plain accept still works: pass-through. */
	errno = 0;
	if (fs_accept(s, NULL, NULL, 0, fs_real_accept) != -1 || errno != EAGAIN)
		return 17;
	return 0;
}

static void run_dropped(int port, int expect_err, const char *hint)
{
	pid_t pid;
	int st;

	if (geteuid() != 0) {
		skip();
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_after_drop(port, expect_err, hint));
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void refused_other_user(void **state)
{
	(void)state;
	run_dropped(t_free_port(AF_INET), EADDRINUSE, "needs the same user");
}

static void refused_low_port(void **state)
{
	int port = 0;

	(void)state;
	for (int p = 1023; p > 900 && !port; p--) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)p),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0)
			port = p;
		close(s);
	}
	if (!port) {
		skip();
		return;
	}
	run_dropped(port, EACCES, "below 1024");
}

static void no_module_here(void **state)
{
	struct fastsocket_info info;

	(void)state;
	if (access(FASTSOCKET_DEVICE_PATH, F_OK) == 0) {
		skip();	/* the module is loaded: tests/vm covers that path */
		return;
	}
	fs_dev_reset();
	assert_true(fs_lock());		/* the device client's callers hold it */
	assert_false(fs_dev_probe(&info));
	int lfd = -1, cpu = -1;

	assert_int_equal(fs_dev_spawn(0, 0, &lfd, &cpu), -ENODEV);
	fs_unlock();
	fs_dev_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sibling_has_everything, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(sibling_refuses_filter, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(sibling_needs_reuseport, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(refused_other_user, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(refused_low_port, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(no_module_here, t_reset, t_reset),
	};

	t_init();
	return cmocka_run_group_tests_name("sibling", tests, NULL, NULL);
}
