// SPDX-License-Identifier: GPL-2.0
/*
 * cases_c.c - processes sharing queues, TCP Fast Open keys, and more
 * regression guards. D-numbers as in cases_a.c.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define P conf_port

/* D6: an epoll set made before fork; the child accepts, the parent waits. */
static int c_epoll_shared_fork(void)
{
	int l = mklisten(P, 16), ep = epoll_create1(0), st;
	struct epoll_event ev = { .events = EPOLLIN };
	pid_t pid;

	CHECK(l);
	set_nonblock(l, true);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	pid = fork();
	if (pid == 0) {
		R("child accepted %d", drain_epoll(ep, l, 8, 400));
		_exit(0);
	}
	sleep_ms(100);
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	waitpid(pid, &st, 0);
	return 0;
}

/* D3 with processes: a busy blocking worker process and an idle one. */
static int c_blocking_busy_process(void)
{
	int l = mklisten(P, 16), pp[2];
	pid_t pid[2];
	int64_t t0, t1 = 0;

	CHECK(l);
	CHECK(pipe(pp));
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			int c = accept(l, NULL, NULL);
			int64_t t = now_ms();

			if (c >= 0 && write(pp[1], &t, sizeof(t)) != sizeof(t))
				_exit(1);
			sleep_ms(1500);
			_exit(0);
		}
	}
	sleep_ms(200);
	connect_n(0, P, 1, NULL, 1000);
	sleep_ms(100);
	t0 = now_ms();
	connect_n(0, P, 1, NULL, 1000);
	for (int i = 0; i < 2; i++) {
		struct pollfd p = { .fd = pp[0], .events = POLLIN };

		if (poll(&p, 1, 3000) > 0 && read(pp[0], &t1, sizeof(t1)) != sizeof(t1))
			break;
	}
	for (int i = 0; i < 2; i++) {
		kill(pid[i], SIGKILL);
		waitpid(pid[i], NULL, 0);
	}
	R("second connection accepted within 1 s: %s",
	  t1 > t0 && t1 - t0 < 1000 ? "yes" : "no");
	return 0;
}

static int set_sysctl(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	if (fputs(val, f) < 0) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static int tfo_client(int cpu)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)P) };
	cpu_set_t s;
	int fd, r;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	r = (int)sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof(a));
	sleep_ms(20);
	close(fd);
	return r;
}

/* D17: a listener with its own TCP_FASTOPEN_KEY. */
static int c_fastopen_key(void)
{
	unsigned char key[16] = "0123456789abcdef";
	int l, qlen = 16, tfo = 0, n = 0, c;
	pid_t pid;

	if (getuid() != 0 || !getenv("CONF_NETNS") ||
	    set_sysctl("/proc/sys/net/ipv4/tcp_fastopen", "3") < 0) {
		R("skipped: needs root and a private network namespace");
		return 0;
	}
	l = mksock_bound(P);
	CHECK(l);
	CHECK(setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)));
	CHECK(setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_KEY, key, sizeof(key)));
	CHECK(listen(l, 16));
	prime(l);
	pid = fork();
	if (pid == 0) {
		/* The first connection of each CPU gets a cookie; the later
		 * ones send their data in the SYN if the cookie is good. */
		for (int i = 0; i < 8; i++)
			tfo_client(i & 1);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	set_nonblock(l, true);
	while ((c = accept(l, NULL, NULL)) >= 0) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);

		n++;
		if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 &&
		    (ti.tcpi_options & TCPI_OPT_SYN_DATA))
			tfo++;
		close(c);
	}
	R("accepted %d, data in the SYN %d", n, tfo);
	return 0;
}

/* D12: a thread that added the listener to a shared epoll set exits
 * with connections queued; the main thread waits on that set. */
struct epx {
	int l, ep;
};

static void *epoll_exit_worker(void *arg)
{
	struct epx *x = arg;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };

	epoll_ctl(x->ep, EPOLL_CTL_ADD, x->l, &ev);
	connect_n(0, P, 6, NULL, 1000);
	return NULL;
}

static int c_thread_exit_queued_epoll(void)
{
	struct epx x = { mklisten(P, 16), epoll_create1(0) };
	struct epoll_event out[4];
	int n, data_ok = 1;

	CHECK(x.l);
	set_nonblock(x.l, true);
	in_thread(epoll_exit_worker, &x);
	n = epoll_wait(x.ep, out, 4, 300);
	for (int i = 0; i < n; i++)
		data_ok &= out[i].data.u64 == 77;
	R("events %d with the application's data: %s", n > 0,
	  data_ok ? "yes" : "no");
	R("accepted %d", drain_epoll(x.ep, x.l, 6, 300));
	return 0;
}

/* Guards. */
static int c_listen_again_backlog(void)
{
	int l = mklisten(P, 4);

	CHECK(l);
	prime(l);
	CHECK(listen(l, 64));
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	R("accepted %d", drain_poll(l, 8, 300));
	return 0;
}

static int c_worker_moves_cpu(void)
{
	int l = mklisten(P, 16);
	cpu_set_t s;

	CHECK(l);
	prime(l);
	CPU_ZERO(&s);
	CPU_SET(1, &s);
	sched_setaffinity(0, sizeof(s), &s);
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	R("accepted %d", drain_poll(l, 8, 300));
	return 0;
}

static int c_closefrom_after_wait(void)
{
	int l = mklisten(P, 16);

	CHECK(l);
	prime(l);
	closefrom(l + 1);	/* takes the shim's local listener too */
	connect_n(0, P, 3, NULL, 1000);
	connect_n(1, P, 3, NULL, 1000);
	R("accepted %d", drain_poll(l, 6, 300));
	return 0;
}

static int c_dup2_over_next_fd(void)
{
	int l = mklisten(P, 16), nul = open("/dev/null", O_RDONLY);

	CHECK(l);
	prime(l);
	for (int fd = l + 1; fd < l + 4; fd++)
		if (fd != nul)
			dup2(nul, fd);
	connect_n(0, P, 3, NULL, 1000);
	connect_n(1, P, 3, NULL, 1000);
	R("accepted %d", drain_poll(l, 6, 300));
	return 0;
}

static int c_port0_untouched(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), v = -1, c;
	socklen_t vl = sizeof(v);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	CHECK(listen(l, 16));
	getsockname(l, (struct sockaddr *)&a, &al);
	getsockopt(l, SOL_SOCKET, SO_REUSEPORT, &v, &vl);
	prime(l);
	c = connect_from(0, ntohs(a.sin_port), 1000);
	R("SO_REUSEPORT %d connected %s accepted %d", v, c >= 0 ? "yes" : "no",
	  drain_poll(l, 1, 300));
	return 0;
}

static int c_udp_untouched(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)P) };
	int u = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
	int v = -1;
	socklen_t vl = sizeof(v);
	char b[8] = "";

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(u, (struct sockaddr *)&a, sizeof(a)));
	getsockopt(u, SOL_SOCKET, SO_REUSEPORT, &v, &vl);
	sendto(s, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a));
	R("SO_REUSEPORT %d got %zd", v, recv(u, b, sizeof(b), 0));
	return 0;
}

/*
 * D22: a worker the shim pinned runs a program (a server re-exec, a CGI):
 * the program starts with the affinity the worker had before the pin, by
 * every exec path libc offers. The parent's own pin is D20 (inherent),
 * not printed.
 */
static int c_exec_after_pin(void)
{
	char *spawn_argv[] = { "conf", "--cpus", "posix_spawn", NULL };
	char *vp_argv[] = { "conf", "--cpus", "execvp", NULL };
	int l = mklisten(P, 16), st;
	pid_t pid;

	CHECK(l);
	prime(l);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "conf", "--cpus", "execl", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	pid = fork();
	if (pid == 0) {
		execvp("/proc/self/exe", vp_argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, spawn_argv,
			environ) == 0)
		waitpid(pid, &st, 0);
	return 0;
}

/*
 * D27: a clone(CLONE_FILES) child (its own memory, the parent's fd
 * table) closes the listener; the port is then closed for every CPU.
 */
static int clone_files_fd;
static int close_listener(void *arg)
{
	(void)arg;
	close(clone_files_fd);
	return 0;
}

static const char *connect_result(int fd)
{
	if (fd < 0)
		return strerror(-fd);
	close(fd);
	return "connected";
}

static int c_clone_files_close(void)
{
	static char stack[256 * 1024] __attribute__((aligned(16)));
	int l = mklisten(P, 16), st, a, b;
	pid_t pid;

	CHECK(l);
	prime(l);
	connect_n(0, P, 2, NULL, 1000);
	connect_n(1, P, 2, NULL, 1000);
	R("accepted before %d", drain_poll(l, 4, 300));
	clone_files_fd = l;
	pid = clone(close_listener, stack + sizeof(stack), CLONE_FILES | SIGCHLD,
		    NULL);
	CHECK(pid);
	waitpid(pid, &st, 0);
	a = connect_from(0, P, 500);
	b = connect_from(1, P, 500);
	R("after the child's close: from CPU 0 %s, from CPU 1 %s",
	  connect_result(a), connect_result(b));
	return 0;
}

/*
 * D23: a worker that waited once through libc (and so has a local
 * listener) goes on to accept only through io_uring, which the shim never
 * sees, on the listening socket. A new accept is always submitted before
 * waiting, as io_uring servers do.
 */
static int c_io_uring_after_wait(void)
{
	struct __kernel_timespec quiet = { .tv_nsec = 500 * 1000 * 1000 };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int l = mklisten(P, 16), got = 0;

	CHECK(l);
	prime(l);
	if (io_uring_queue_init(8, &ring, 0) < 0) {
		R("no io_uring");
		return 0;
	}
	for (bool first = true; got < 8; first = false) {
		io_uring_prep_accept(io_uring_get_sqe(&ring), l, NULL, NULL, 0);
		io_uring_submit(&ring);
		if (first) {
			connect_n(0, P, 4, NULL, 1000);
			connect_n(1, P, 4, NULL, 1000);
		}
		if (io_uring_wait_cqe_timeout(&ring, &cqe, &quiet) < 0)
			break;
		if (cqe->res >= 0) {
			close(cqe->res);
			got++;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	R("io_uring accepted %d", got);
	io_uring_queue_exit(&ring);
	return 0;
}

const struct conf_case cases_c[] = {
	{ "epoll_shared_fork", c_epoll_shared_fork },
	{ "blocking_busy_process", c_blocking_busy_process },
	{ "fastopen_key", c_fastopen_key },
	{ "thread_exit_queued_epoll", c_thread_exit_queued_epoll },
	{ "listen_again_backlog", c_listen_again_backlog },
	{ "worker_moves_cpu", c_worker_moves_cpu },
	{ "closefrom_after_wait", c_closefrom_after_wait },
	{ "dup2_over_next_fd", c_dup2_over_next_fd },
	{ "port0_untouched", c_port0_untouched },
	{ "udp_untouched", c_udp_untouched },
	{ "exec_after_pin", c_exec_after_pin },
	{ "clone_files_close", c_clone_files_close },
	{ "io_uring_after_wait", c_io_uring_after_wait },
	{ NULL, NULL },
};
