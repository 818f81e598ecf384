// SPDX-License-Identifier: GPL-2.0
/*
 * cases_b.c - fd table, poll and select, threads, processes, signal
 * handlers, logging. D-numbers as in cases_a.c.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define P conf_port

/* D24: fclose(fdopen(listener)) closes it behind the shim's back. */
static int c_fclose_fdopen(void)
{
	int l = mklisten(P, 16), c;
	FILE *f;

	CHECK(l);
	prime(l);
	f = fdopen(l, "r");
	fclose(f);
	c = connect_from(0, P, 300);
	R("connect after fclose: %s", c >= 0 ? "connected" : strerrorname_np(-c));
	return 0;
}

/* D25: listener and a dup in one epoll set; DEL the dup. */
static int c_dup_epoll_del(void)
{
	int l = mklisten(P, 16), d, ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };

	CHECK(l);
	set_nonblock(l, true);
	d = dup(l);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	epoll_ctl(ep, EPOLL_CTL_ADD, d, &ev);
	epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL);
	connect_n(0, P, 4, NULL, 1000);
	R("accepted %d", drain_epoll(ep, l, 4, 300));
	return 0;
}

/* D26: the epoll fd moves between ADD (before listen) and the first wait. */
static int c_epfd_moved(void)
{
	int l = mksock_bound(P), ep = epoll_create1(0), ep2;
	struct epoll_event ev = { .events = EPOLLIN };

	CHECK(l);
	set_nonblock(l, true);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	ep2 = fcntl(ep, F_DUPFD, 50);
	close(ep);
	CHECK(listen(l, 16));
	prime(l);
	connect_n(0, P, 6, NULL, 1000);
	R("accepted %d", drain_epoll(ep2, l, 6, 300));
	return 0;
}

/* D7: one thread polls, another accepts. */
struct waiter {
	int l, pipe_w, mode;
	volatile int stop;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	while (!w->stop) {
		int r = 0;

		if (w->mode == 0) {
			struct pollfd p = { .fd = w->l, .events = POLLIN };

			r = poll(&p, 1, 50);
		} else if (w->mode == 1) {
			fd_set s;
			struct timeval tv = { 0, 50000 };

			FD_ZERO(&s);
			FD_SET(w->l, &s);
			r = select(w->l + 1, &s, NULL, NULL, &tv);
		}
		if (r > 0 && write(w->pipe_w, "x", 1) != 1)
			break;
		if (r > 0)
			sleep_ms(20);
	}
	return NULL;
}

static int waiter_accepter(int mode)
{
	int l = mklisten(P, 16), pp[2], got = 0;
	struct waiter w;
	pthread_t t;
	int64_t end;

	CHECK(l);
	set_nonblock(l, true);
	CHECK(pipe(pp));
	w = (struct waiter){ .l = l, .pipe_w = pp[1], .mode = mode };
	pthread_create(&t, NULL, wait_thread, &w);
	sleep_ms(100);
	connect_n(0, P, 8, NULL, 1000);
	end = now_ms() + 1500;
	while (got < 8 && now_ms() < end) {
		struct pollfd p = { .fd = pp[0], .events = POLLIN };
		char b[64];
		int c;

		if (poll(&p, 1, 100) > 0 && read(pp[0], b, sizeof(b)) < 0)
			break;
		while ((c = accept(l, NULL, NULL)) >= 0) {
			close(c);
			got++;
		}
	}
	w.stop = 1;
	pthread_join(t, NULL);
	R("accepted %d", got);
	return 0;
}

static int c_poll_waits_other_accepts(void) { return waiter_accepter(0); }
static int c_select_waits_other_accepts(void) { return waiter_accepter(1); }

/* D8: select() on a low listener with 1100 other fds open. */
static int c_select_many_fds(void)
{
	int l = mklisten(P, 16), n = 0, nul = open("/dev/null", O_RDONLY);

	CHECK(l);
	set_nonblock(l, true);
	for (int i = 0; i < 1100; i++)
		if (dup(nul) < 0)
			break;
	for (int i = 0; i < 10 && n < 4; i++) {
		fd_set r;
		struct timeval tv = { 0, 100000 };
		int c;

		FD_ZERO(&r);
		FD_SET(l, &r);
		if (select(l + 1, &r, NULL, NULL, &tv) > 0)
			while ((c = accept(l, NULL, NULL)) >= 0) {
				close(c);
				n++;
			}
		if (i == 0)
			connect_n(0, P, 4, NULL, 1000);
	}
	R("accepted %d", n);
	return 0;
}

/* D9: select() leaves bits at or above nfds alone. */
static int c_select_bits_above_nfds(void)
{
	int l = mklisten(P, 16);
	fd_set r;
	struct timeval tv = { 0, 0 };
	int n;

	CHECK(l);
	FD_ZERO(&r);
	FD_SET(l, &r);
	FD_SET(100, &r);
	n = select(l + 1, &r, NULL, NULL, &tv);
	R("select %d, bit 100 %s", n, FD_ISSET(100, &r) ? "kept" : "cleared");
	return 0;
}

/* D10: poll() with nfds == RLIMIT_NOFILE. */
static int c_poll_nfds_rlimit(void)
{
	int l = mklisten(P, 16), n;
	struct rlimit rl = { 64, 64 };
	struct pollfd p[64];

	CHECK(l);
	for (int i = 0; i < 64; i++)
		p[i] = (struct pollfd){ .fd = -1 };
	p[0].fd = l;
	p[0].events = POLLIN;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl));
	n = poll(p, 64, 0);
	R("poll %d %s", n, n < 0 ? strerrorname_np(errno) : "");
	return 0;
}

/* D28: 200 listeners in one poll() with RLIMIT_NOFILE 220. */
static int c_rlimit_many_listeners(void)
{
	int ls[200], nl = 0, got = 0, emfile = 0;
	struct pollfd p[200];
	struct rlimit rl = { 220, 220 };

	for (int i = 0; i < 200; i++) {
		ls[i] = mklisten(P + 1 + i, 16);
		if (ls[i] < 0)
			break;
		set_nonblock(ls[i], true);
		p[i] = (struct pollfd){ .fd = ls[i], .events = POLLIN };
		nl++;
	}
	CHECK(setrlimit(RLIMIT_NOFILE, &rl));
	poll(p, (nfds_t)nl, 0);
	for (int i = 0; i < 10; i++)
		connect_n(i & 1, P + 1 + i, 1, NULL, 1000);
	for (int round = 0; round < 5 && got < 10; round++) {
		if (poll(p, (nfds_t)nl, 200) <= 0)
			break;
		for (int i = 0; i < nl; i++) {
			int c;

			if (!(p[i].revents & POLLIN))
				continue;
			c = accept(ls[i], NULL, NULL);
			if (c >= 0) {
				close(c);
				got++;
			} else if (errno == EMFILE) {
				emfile++;
			}
		}
	}
	R("listeners %d accepted %d EMFILE %s", nl, got, emfile ? "yes" : "no");
	return 0;
}

/* D29: a SIGIO-driven acceptor. */
static volatile sig_atomic_t sigio_seen;
static void on_sigio(int s)
{
	(void)s;
	sigio_seen = 1;
}

static int c_sigio(void)
{
	int l = mklisten(P, 16), got = 0;
	struct sigaction sa;

	CHECK(l);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigio;
	sigaction(SIGIO, &sa, NULL);
	fcntl(l, F_SETOWN, getpid());
	fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_ASYNC | O_NONBLOCK);
	prime(l);
	for (int i = 0; i < 6; i++) {
		int c;

		sigio_seen = 0;
		connect_n(0, P, 1, NULL, 1000);
		for (int t = 0; t < 20 && !sigio_seen; t++)
			sleep_ms(10);
		if (!sigio_seen)
			continue;
		while ((c = accept(l, NULL, NULL)) >= 0) {
			close(c);
			got++;
		}
	}
	R("accepted on SIGIO %d", got);
	return 0;
}

/*
 * D30: a signal handler calls listen() while the thread is in the shim.
 * Another thread sends the signals as fast as it can, so some land
 * between the shim taking its lock and recording that it holds it.
 */
static int hl;
static volatile int kicking;
static void on_tick(int s)
{
	(void)s;
	listen(hl, 16);
}

static void *kicker(void *arg)
{
	pthread_t main_thread = *(pthread_t *)arg;

	while (kicking) {
		struct timespec ts = { 0, 3000 };

		pthread_kill(main_thread, SIGUSR2);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int c_handler_listen(void)
{
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	struct sigaction sa;
	pthread_t self = pthread_self(), t;
	int64_t end;

	hl = mklisten(P, 16);
	CHECK(hl);
	set_nonblock(hl, true);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	kicking = 1;
	pthread_create(&t, NULL, kicker, &self);
	end = now_ms() + 1500;
	while (now_ms() < end) {
		epoll_ctl(ep, EPOLL_CTL_ADD, hl, &ev);
		epoll_ctl(ep, EPOLL_CTL_DEL, hl, NULL);
		listen(hl, 16);
	}
	kicking = 0;
	pthread_join(t, NULL);
	R("finished");
	return 0;
}

/* D31: fd 2 closed, so the listener takes fd 2. */
static int c_stderr_is_listener(void)
{
	int l, c;

	close(2);
	l = mklisten(P, 16);
	CHECK(l);
	prime(l);
	connect_n(0, P, 1, NULL, 1000);
	c = drain_poll(l, 1, 300);
	R("listener fd %d accepted %d", l, c);
	return 0;
}

/* D32: a configuration value with a newline: at most one stderr line. */
static int c_env_newline(void)
{
	int pp[2], n = 0;
	char buf[4096];
	ssize_t r;
	pid_t pid;

	CHECK(pipe(pp));
	pid = fork();
	if (pid == 0) {
		dup2(pp[1], 2);
		setenv("FASTSOCKET_PORTS", "80\nfastsocket: forged", 1);
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	close(pp[1]);
	while ((r = read(pp[0], buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
	waitpid(pid, NULL, 0);
	R("at most one line: %s", n <= 1 ? "yes" : "no");
	return 0;
}

/* D11: close the listener while another thread blocks in accept. */
static void *blocked_accept(void *arg)
{
	int l = *(int *)arg, c = accept(l, NULL, NULL);

	R("blocked accept: %s", c >= 0 ? "a connection" : strerrorname_np(errno));
	return NULL;
}

static int c_close_during_accept(void)
{
	int l = mklisten(P, 16);
	pthread_t t;

	CHECK(l);
	prime(l);
	pthread_create(&t, NULL, blocked_accept, &l);
	sleep_ms(200);
	close(l);
	connect_n(0, P, 1, NULL, 300);
	connect_n(1, P, 1, NULL, 300);
	sleep_ms(300);
	R("joined");
	pthread_cancel(t);
	pthread_join(t, NULL);
	return 0;
}

/* D13: the listener passed over SCM_RIGHTS; the sender keeps it, idle. */
static int c_scm_rights_keep(void)
{
	int l = mklisten(P, 16), sv[2], st;
	pid_t pid;

	CHECK(l);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	if (pid == 0) {
		char b;
		struct iovec iov = { &b, 1 };
		char cb[CMSG_SPACE(sizeof(int))];
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cb, .msg_controllen = sizeof(cb) };
		int fd;

		close(l);
		if (recvmsg(sv[1], &m, 0) != 1)
			_exit(1);
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(fd));
		set_nonblock(fd, true);
		if (write(sv[1], "r", 1) != 1)
			_exit(1);
		R("receiver accepted %d", drain_poll(fd, 6, 500));
		_exit(0);
	} else {
		char b = 'x', cb[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &b, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cb, .msg_controllen = sizeof(cb) };
		struct cmsghdr *cm;

		prime(l);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &l, sizeof(int));
		if (sendmsg(sv[0], &m, 0) != 1 || read(sv[0], &b, 1) != 1)
			return 1;
		connect_n(0, P, 3, NULL, 1000);
		connect_n(1, P, 3, NULL, 1000);
		waitpid(pid, &st, 0);
	}
	return 0;
}

/* D3: two blocking workers; one is busy, the second conn is on its CPU. */
static int busy_l;
static int64_t t_second;
static void *busy_worker(void *arg)
{
	int c = accept(busy_l, NULL, NULL);

	(void)arg;
	if (c < 0)
		return NULL;
	if (__atomic_fetch_add(&t_second, 0, __ATOMIC_SEQ_CST) == 0) {
		__atomic_store_n(&t_second, -1, __ATOMIC_SEQ_CST);
		sleep_ms(1500);
	} else {
		__atomic_store_n(&t_second, now_ms(), __ATOMIC_SEQ_CST);
	}
	close(c);
	return NULL;
}

static int c_blocking_busy_worker(void)
{
	pthread_t t[2];
	int64_t t0;

	busy_l = mklisten(P, 16);
	CHECK(busy_l);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, busy_worker, NULL);
	sleep_ms(100);
	connect_n(0, P, 1, NULL, 1000);
	sleep_ms(100);
	t0 = now_ms();
	connect_n(0, P, 1, NULL, 1000);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	R("second connection accepted within 1 s: %s",
	  t_second > 0 && t_second - t0 < 1000 ? "yes" : "no");
	return 0;
}

/* Regression guards. */
static int c_fork_workers(void)
{
	int l = mklisten(P, 16), pp[2], total = 0;
	pid_t pid[2];

	CHECK(l);
	set_nonblock(l, true);
	CHECK(pipe(pp));
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			int n = drain_poll(l, 8, 400);

			if (write(pp[1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
			_exit(0);
		}
	}
	sleep_ms(100);
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	for (int i = 0; i < 2; i++) {
		int n = 0;

		if (read(pp[0], &n, sizeof(n)) == sizeof(n))
			total += n;
		waitpid(pid[i], NULL, 0);
	}
	R("accepted %d", total);
	return 0;
}

static int c_app_reuseport_pair(void)
{
	int s[2], one = 1, n = 0;

	for (int i = 0; i < 2; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)P) };

		a.sin_addr.s_addr = htonl(0x7f000001);
		s[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		setsockopt(s[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		CHECK(bind(s[i], (struct sockaddr *)&a, sizeof(a)));
		CHECK(listen(s[i], 16));
	}
	prime(s[0]);
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	for (int r = 0; r < 5 && n < 8; r++) {
		struct pollfd p[2] = { { s[0], POLLIN, 0 }, { s[1], POLLIN, 0 } };

		if (poll(p, 2, 200) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			int c;

			while ((c = accept(s[i], NULL, NULL)) >= 0) {
				close(c);
				n++;
			}
		}
	}
	R("accepted %d", n);
	return 0;
}

static int c_dualstack_v6(void)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0), zero = 0, c, v4 = 0, v6 = 0;
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)P) };

	CHECK(s);
	setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)));
	CHECK(listen(s, 16));
	prime(s);
	connect_n(0, P, 2, NULL, 1000);
	connect_n(1, P, 2, NULL, 1000);
	set_nonblock(s, true);
	sleep_ms(50);
	while ((c = accept(s, (struct sockaddr *)&a, &(socklen_t){ sizeof(a) })) >= 0) {
		if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr))
			v4++;
		else
			v6++;
		close(c);
	}
	R("v4-mapped peers %d v6 %d", v4, v6);
	return 0;
}

static int c_shutdown_resume(void)
{
	int l = mklisten(P, 16);

	CHECK(l);
	set_nonblock(l, true);
	prime(l);
	shutdown(l, SHUT_RD);
	CHECK(listen(l, 16));
	prime(l);
	connect_n(0, P, 3, NULL, 1000);
	connect_n(1, P, 3, NULL, 1000);
	R("accepted %d", drain_poll(l, 6, 300));
	return 0;
}

static int c_dup_close_original(void)
{
	int l = mklisten(P, 16), d;

	CHECK(l);
	set_nonblock(l, true);
	prime(l);
	d = dup(l);
	close(l);
	connect_n(0, P, 3, NULL, 1000);
	connect_n(1, P, 3, NULL, 1000);
	R("accepted %d", drain_poll(d, 6, 300));
	return 0;
}

static int c_unix_listener(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c, n = 0;

	snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "conf-%d", P);
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	CHECK(listen(l, 4));
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)));
	n = accept(l, NULL, NULL) >= 0;
	R("unix accepted %d", n);
	return 0;
}

const struct conf_case cases_b[] = {
	{ "fclose_fdopen", c_fclose_fdopen },
	{ "dup_epoll_del", c_dup_epoll_del },
	{ "epfd_moved", c_epfd_moved },
	{ "poll_waits_other_accepts", c_poll_waits_other_accepts },
	{ "select_waits_other_accepts", c_select_waits_other_accepts },
	{ "select_many_fds", c_select_many_fds },
	{ "select_bits_above_nfds", c_select_bits_above_nfds },
	{ "poll_nfds_rlimit", c_poll_nfds_rlimit },
	{ "rlimit_many_listeners", c_rlimit_many_listeners },
	{ "sigio", c_sigio },
	{ "handler_listen", c_handler_listen },
	{ "stderr_is_listener", c_stderr_is_listener },
	{ "env_newline", c_env_newline },
	{ "close_during_accept", c_close_during_accept },
	{ "scm_rights_keep", c_scm_rights_keep },
	{ "blocking_busy_worker", c_blocking_busy_worker },
	{ "fork_workers", c_fork_workers },
	{ "app_reuseport_pair", c_app_reuseport_pair },
	{ "dualstack_v6", c_dualstack_v6 },
	{ "shutdown_resume", c_shutdown_resume },
	{ "dup_close_original", c_dup_close_original },
	{ "unix_listener", c_unix_listener },
	{ NULL, NULL },
};
