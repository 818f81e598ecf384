// SPDX-License-Identifier: GPL-2.0
/*
 * cases_a.c - accept, signals, queues, socket options, bind.
 * The D-numbers are those of the shim-fidelity report (#16).
 */
#define _GNU_SOURCE
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#define P conf_port

static void on_sig(int s)
{
	(void)s;
}

static void handler(int sig, bool restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(sig, &sa, NULL);
}

struct later {
	pthread_t target;
	int sig, ms, cpu, port;
};

static void *later_fn(void *arg)
{
	struct later *l = arg;

	sleep_ms(l->ms);
	if (l->sig)
		pthread_kill(l->target, l->sig);
	else
		connect_n(l->cpu, l->port, 1, NULL, 1000);
	free(l);
	return NULL;
}

/* Send sig to the calling thread after ms (sig 0: connect from cpu). */
static void later(int sig, int ms, int cpu)
{
	struct later *l = calloc(1, sizeof(*l));
	pthread_t t;

	l->target = pthread_self();
	l->sig = sig;
	l->ms = ms;
	l->cpu = cpu;
	l->port = P;
	pthread_create(&t, NULL, later_fn, l);
	pthread_detach(t);
}

static int c_accept_blocking(void)
{
	int l = mklisten(P, 16), n = 0;

	CHECK(l);
	prime(l);
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	for (int i = 0; i < 8; i++) {
		int c = accept(l, NULL, NULL);

		if (c >= 0) {
			n++;
			close(c);
		}
	}
	R("accepted %d", n);
	return 0;
}

static int c_epoll_lt(void)
{
	int l = mklisten(P, 16), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };

	CHECK(l);
	set_nonblock(l, true);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	R("accepted %d", drain_epoll(ep, l, 8, 300));
	return 0;
}

static int c_poll_accept(void)
{
	int l = mklisten(P, 16);

	CHECK(l);
	prime(l);
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	R("accepted %d", drain_poll(l, 8, 300));
	return 0;
}

static int c_select_accept(void)
{
	int l = mklisten(P, 16), n = 0;

	CHECK(l);
	set_nonblock(l, true);
	prime(l);
	connect_n(0, P, 4, NULL, 1000);
	connect_n(1, P, 4, NULL, 1000);
	for (;;) {
		fd_set r;
		struct timeval tv = { 0, 300000 };
		int c;

		FD_ZERO(&r);
		FD_SET(l, &r);
		if (select(l + 1, &r, NULL, NULL, &tv) <= 0)
			break;
		while ((c = accept(l, NULL, NULL)) >= 0) {
			n++;
			close(c);
		}
	}
	R("accepted %d", n);
	return 0;
}

static int c_accept4_flags_peer(void)
{
	int l = mklisten(P, 16);
	struct sockaddr_in a;
	socklen_t al = 4;
	int c;

	CHECK(l);
	prime(l);
	connect_n(0, P, 1, NULL, 1000);
	c = accept4(l, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(c);
	R("nonblock %d cloexec %d addrlen %u family %d",
	  !!(fcntl(c, F_GETFL) & O_NONBLOCK), !!(fcntl(c, F_GETFD) & FD_CLOEXEC),
	  al, a.sin_family);
	return 0;
}

static int c_rcvtimeo(void)
{
	int l = mklisten(P, 16), c;
	struct timeval tv = { 0, 300000 };
	int64_t t0;

	CHECK(l);
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	t0 = now_ms();
	c = accept(l, NULL, NULL);
	t0 = now_ms() - t0;
	R("accept %d errno %s %s", c, strerrorname_np(errno),
	  t0 >= 250 && t0 < 1000 ? "after the timeout" : "early or late");
	return 0;
}

static int sig_accept(bool restart, bool timeo, bool conn)
{
	int l = mklisten(P, 16), c;
	int64_t t0;

	CHECK(l);
	handler(SIGUSR1, restart);
	if (timeo) {
		struct timeval tv = { 2, 0 };

		setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	prime(l);
	later(SIGUSR1, 200, 0);
	if (conn)
		later(0, 500, 0);
	t0 = now_ms();
	c = accept(l, NULL, NULL);
	t0 = now_ms() - t0;
	R("accept %s errno %s %s", c >= 0 ? "conn" : "-1",
	  c >= 0 ? "-" : strerrorname_np(errno),
	  t0 < 400 ? "at the signal" : t0 < 1500 ? "at the connection" : "late");
	return 0;
}

static int c_sig_norestart(void) { return sig_accept(false, false, true); }
/* D1: SA_RESTART must restart a blocking accept. */
static int c_sig_restart(void) { return sig_accept(true, false, true); }
static int c_sig_restart_timeo(void) { return sig_accept(true, true, true); }

/* D2 (inherent): order across queues, fd numbers. */
static int c_order(void)
{
	int l = mklisten(P, 16), fds[8];
	char line[64] = "", *p = line;

	CHECK(l);
	prime(l);
	for (int i = 0; i < 8; i++) {
		int c = connect_from(i & 1, P, 1000);
		char b = (char)('1' + i);

		if (c >= 0 && write(c, &b, 1) != 1)
			return 1;
		fds[i] = c;
	}
	sleep_ms(50);
	set_nonblock(l, true);
	for (int i = 0; i < 8; i++) {
		int c = accept(l, NULL, NULL);
		char b = '?';

		if (c >= 0 && read(c, &b, 1) != 1)
			b = '!';
		*p++ = b;
		*p = 0;
		if (c >= 0)
			close(c);
	}
	R("order %s", line);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	return 0;
}

static int c_fdnum(void)
{
	int l = mklisten(P, 16), c;

	CHECK(l);
	prime(l);
	connect_n(1, P, 1, NULL, 1000);
	c = accept(l, NULL, NULL);
	R("listener fd %d accepted fd %d", l, c);
	return 0;
}

/* D4: connections on both queues, one epoll_wait. */
static int epoll_events(unsigned int flags, int waits)
{
	int l = mklisten(P, 16), ep = epoll_create1(0), total = 0;
	struct epoll_event ev = { .events = EPOLLIN | flags }, out[8];

	CHECK(l);
	set_nonblock(l, true);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	/* CPU 1's SYNs are hashed over the group: with 8 of them, some
	 * reach the original (all 8 on the local one: 1 in 256). */
	connect_n(0, P, 1, NULL, 1000);
	connect_n(1, P, 8, NULL, 1000);
	sleep_ms(50);
	for (int i = 0; i < waits; i++) {
		int n = epoll_wait(ep, out, 8, 100);

		total += n > 0 ? n : 0;
	}
	R("events %d", total);
	return 0;
}

static int c_epoll_two_queues(void) { return epoll_events(0, 1); }
static int c_epoll_two_queues_et(void) { return epoll_events(EPOLLET, 1); }
static int c_epoll_oneshot(void) { return epoll_events(EPOLLONESHOT, 3); }

/* D5: the listener out of the epoll set for 400 ms, then back. */
static int c_epoll_del_readd(void)
{
	int l = mklisten(P, 16), ep = epoll_create1(0), ep2 = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN }, out;

	CHECK(l);
	set_nonblock(l, true);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	epoll_wait(ep, &out, 1, 0);
	epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL);
	connect_n(0, P, 8, NULL, 1000);
	for (int i = 0; i < 4; i++)
		epoll_wait(ep2, &out, 1, 100);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	R("accepted %d", drain_epoll(ep, l, 8, 300));
	return 0;
}

/* D12: a worker thread exits with connections queued. */
static void *exit_worker(void *arg)
{
	int l = *(int *)arg;

	prime(l);
	connect_n(0, P, 6, NULL, 1000);
	return NULL;
}

static int c_thread_exit_queued(void)
{
	int l = mklisten(P, 16);

	CHECK(l);
	in_thread(exit_worker, &l);
	R("accepted %d", drain_poll(l, 6, 300));
	return 0;
}

/* D12: the listener is handed to a forked successor and closed here. */
static int c_fork_handover(void)
{
	int l = mklisten(P, 16), st;
	pid_t pid;

	CHECK(l);
	prime(l);
	connect_n(0, P, 6, NULL, 1000);
	pid = fork();
	if (pid == 0) {
		sleep_ms(200);
		R("child accepted %d", drain_poll(l, 6, 300));
		_exit(0);
	}
	close(l);
	waitpid(pid, &st, 0);
	return 0;
}

/* The same with tcp_migrate_req=1 (root, in the case's own namespace). */
static int c_fork_handover_migrate(void)
{
	FILE *f;

	if (getuid() != 0 || !getenv("CONF_NETNS")) {
		R("skipped: needs root and a private network namespace");
		return 0;
	}
	f = fopen("/proc/sys/net/ipv4/tcp_migrate_req", "w");
	if (!f || fputs("1", f) < 0 || fclose(f) != 0) {
		R("skipped: cannot set tcp_migrate_req");
		return 0;
	}
	return c_fork_handover();
}

/* D16: TCP-MD5 on the listener. */
static int c_md5(void)
{
	int l = mksock_bound(P), unkeyed = 0, keyed = 0;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct tcp_md5sig k;

	CHECK(l);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&k, 0, sizeof(k));
	memcpy(&k.tcpm_addr, &a, sizeof(a));
	k.tcpm_keylen = 8;
	memcpy(k.tcpm_key, "secret12", 8);
	CHECK(setsockopt(l, IPPROTO_TCP, TCP_MD5SIG, &k, sizeof(k)));
	CHECK(listen(l, 16));
	prime(l);
	for (int cpu = 0; cpu < 2; cpu++)
		for (int i = 0; i < 2; i++) {
			unkeyed += connect_md5(cpu, P, NULL, 300) > 0;
			keyed += connect_md5(cpu, P, "secret12", 300) > 0;
		}
	R("unkeyed %d keyed %d", unkeyed, keyed);
	return 0;
}

static int attach_drop_all(int l)
{
	struct sock_filter f[] = { { BPF_RET | BPF_K, 0, 0, 0 } };
	struct sock_fprog p = { .len = 1, .filter = f };

	return setsockopt(l, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof(p));
}

/* D15: a drop-all filter before / after the first wait. */
static int filter(bool after)
{
	int l = mklisten(P, 16), n;

	CHECK(l);
	if (!after)
		CHECK(attach_drop_all(l));
	prime(l);
	if (after)
		CHECK(attach_drop_all(l));
	n = connect_n(0, P, 2, NULL, 300) + connect_n(1, P, 2, NULL, 300);
	R("connected %d", n);
	return 0;
}

static int c_filter_before(void) { return filter(false); }
static int c_filter_after(void) { return filter(true); }

static int defer(bool after)
{
	int l = mklisten(P, 16), two = 2;

	CHECK(l);
	if (!after)
		setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &two, sizeof(two));
	prime(l);
	if (after)
		setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &two, sizeof(two));
	connect_n(0, P, 3, NULL, 1000);
	R("accepted before data %d", drain_poll(l, 3, 300));
	return 0;
}

static int c_defer_before(void) { return defer(false); }
static int c_defer_after(void) { return defer(true); }

struct sopt {
	const char *name;
	int level, opt, val;
};

#ifndef SO_RCVMARK
#define SO_RCVMARK 75
#endif
#ifndef TCP_TX_DELAY
#define TCP_TX_DELAY 37
#endif

/* Options an accepted socket inherits from its listener (D14, D15). */
static const struct sopt sopts[] = {
	{ "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, 1 },
	{ "SO_TIMESTAMPNS", SOL_SOCKET, SO_TIMESTAMPNS, 1 },
	{ "SO_BUSY_POLL", SOL_SOCKET, SO_BUSY_POLL, 50 },
	{ "SO_MAX_PACING_RATE", SOL_SOCKET, SO_MAX_PACING_RATE, 1000000 },
	{ "SO_DONTROUTE", SOL_SOCKET, SO_DONTROUTE, 1 },
	{ "SO_ZEROCOPY", SOL_SOCKET, SO_ZEROCOPY, 1 },
	{ "SO_RCVMARK", SOL_SOCKET, SO_RCVMARK, 1 },
	{ "SO_PRIORITY", SOL_SOCKET, SO_PRIORITY, 3 },
	{ "IP_PKTINFO", IPPROTO_IP, IP_PKTINFO, 1 },
	{ "IP_RECVTOS", IPPROTO_IP, IP_RECVTOS, 1 },
	{ "IP_RECVTTL", IPPROTO_IP, IP_RECVTTL, 1 },
	{ "IP_RECVERR", IPPROTO_IP, IP_RECVERR, 1 },
	{ "IP_TOS", IPPROTO_IP, IP_TOS, 0x10 },
	{ "TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, 1 },
	{ "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, 77 },
	{ "TCP_CORK", IPPROTO_TCP, TCP_CORK, 1 },
	{ "TCP_THIN_LINEAR_TIMEOUTS", IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 1 },
	{ "TCP_INQ", IPPROTO_TCP, TCP_INQ, 1 },
	{ "TCP_TX_DELAY", IPPROTO_TCP, TCP_TX_DELAY, 100 },
	{ "TCP_SAVE_SYN", IPPROTO_TCP, TCP_SAVE_SYN, 1 },
	{ "TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, 5000 },
	{ "TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4096 },
};
#define NSOPTS (sizeof(sopts) / sizeof(sopts[0]))

static int inherit(bool after)
{
	int l = mklisten(P, 16);

	CHECK(l);
	if (after)
		prime(l);
	for (size_t i = 0; i < NSOPTS; i++)
		setsockopt(l, sopts[i].level, sopts[i].opt, &sopts[i].val,
			   sizeof(int));
	if (!after)
		prime(l);
	connect_n(0, P, 2, NULL, 1000);
	connect_n(1, P, 2, NULL, 1000);
	set_nonblock(l, true);
	for (size_t i = 0; i < NSOPTS; i++) {
		/* how many of the 4 accepted sockets have the listener's value */
		(void)i;
	}
	int same[NSOPTS] = { 0 }, n = 0, c;

	sleep_ms(50);
	while ((c = accept(l, NULL, NULL)) >= 0) {
		n++;
		for (size_t i = 0; i < NSOPTS; i++) {
			int a = 0, b = 0;
			socklen_t al = sizeof(a), bl = sizeof(b);

			getsockopt(l, sopts[i].level, sopts[i].opt, &a, &al);
			getsockopt(c, sopts[i].level, sopts[i].opt, &b, &bl);
			same[i] += a == b;
		}
		close(c);
	}
	R("accepted %d", n);
	for (size_t i = 0; i < NSOPTS; i++)
		R("%s %d/%d as the listener", sopts[i].name, same[i], n);
	return 0;
}

static int c_inherit_before(void) { return inherit(false); }
static int c_inherit_after(void) { return inherit(true); }

/* D18: SO_REUSEPORT set by the shim is visible; EADDRINUSE hidden. */
static int c_reuseport_visible(void)
{
	int l = mklisten(P, 16), v = -1;
	socklen_t vl = sizeof(v);

	CHECK(l);
	getsockopt(l, SOL_SOCKET, SO_REUSEPORT, &v, &vl);
	R("SO_REUSEPORT %d", v);
	return 0;
}

static int try_bind(int family, bool listening_first)
{
	int s = socket(family, SOCK_STREAM, 0), one = 1, r;

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)P) };

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		r = bind(s, (struct sockaddr *)&a, sizeof(a));
	} else {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_port = htons((uint16_t)P) };

		a.sin6_addr = in6addr_any;
		r = bind(s, (struct sockaddr *)&a, sizeof(a));
	}
	(void)listening_first;
	r = r < 0 ? errno : 0;
	close(s);
	return r;
}

static int c_bind_taken(void)
{
	int l = mksock_bound(P), st;
	pid_t pid;

	CHECK(l);
	R("second bind, first bound: %s", strerrorname_np(try_bind(AF_INET, 0)) ?: "OK");
	CHECK(listen(l, 16));
	R("second bind, first listening: %s", strerrorname_np(try_bind(AF_INET, 1)) ?: "OK");
	R("dual-stack [::] over it: %s", strerrorname_np(try_bind(AF_INET6, 1)) ?: "OK");
	pid = fork();
	if (pid == 0) {
		R("another process: %s", strerrorname_np(try_bind(AF_INET, 1)) ?: "OK");
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return 0;
}

/* D19 (inherent): backlog 2, 12 clients, nobody accepts. */
static int c_backlog(void)
{
	int l = mklisten(P, 2);

	CHECK(l);
	prime(l);
	R("handshakes %d", connect_n(0, P, 6, NULL, 150) +
			   connect_n(1, P, 6, NULL, 150));
	return 0;
}

/* D20 (inherent in mode 2): the pin is visible. */
static int c_cpus_visible(void)
{
	int l = mklisten(P, 16);

	CHECK(l);
	prime(l);
	R("CPUs after the first accept %d", ncpus_allowed());
	return 0;
}

/* D21: a worker after setuid() passes through: it must not stay pinned. */
static int c_setuid_worker(void)
{
	int l = mklisten(P, 16), st;
	pid_t pid;

	CHECK(l);
	if (getuid() != 0) {
		R("skipped: not root");
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(1);
		prime(l);
		connect_n(0, P, 2, NULL, 1000);
		connect_n(1, P, 2, NULL, 1000);
		R("worker CPUs %d accepted %d", ncpus_allowed(),
		  drain_poll(l, 4, 300));
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return 0;
}

const struct conf_case cases_a[] = {
	{ "accept_blocking", c_accept_blocking },
	{ "epoll_lt", c_epoll_lt },
	{ "poll_accept", c_poll_accept },
	{ "select_accept", c_select_accept },
	{ "accept4_flags_peer", c_accept4_flags_peer },
	{ "rcvtimeo", c_rcvtimeo },
	{ "sig_norestart", c_sig_norestart },
	{ "sig_restart", c_sig_restart },
	{ "sig_restart_timeo", c_sig_restart_timeo },
	{ "order", c_order },
	{ "fdnum", c_fdnum },
	{ "epoll_two_queues", c_epoll_two_queues },
	{ "epoll_two_queues_et", c_epoll_two_queues_et },
	{ "epoll_oneshot", c_epoll_oneshot },
	{ "epoll_del_readd", c_epoll_del_readd },
	{ "thread_exit_queued", c_thread_exit_queued },
	{ "fork_handover", c_fork_handover },
	{ "fork_handover_migrate", c_fork_handover_migrate },
	{ "md5", c_md5 },
	{ "filter_before", c_filter_before },
	{ "filter_after", c_filter_after },
	{ "defer_before", c_defer_before },
	{ "defer_after", c_defer_after },
	{ "inherit_before", c_inherit_before },
	{ "inherit_after", c_inherit_after },
	{ "reuseport_visible", c_reuseport_visible },
	{ "bind_taken", c_bind_taken },
	{ "backlog", c_backlog },
	{ "cpus_visible", c_cpus_visible },
	{ "setuid_worker", c_setuid_worker },
	{ NULL, NULL },
};
