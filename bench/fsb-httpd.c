// SPDX-License-Identifier: GPL-2.0
/*
 * fsb-httpd: a small multi-process epoll HTTP/1.1 server for bench/run.
 *
 * It serves every GET with the same 64-byte (--body) body of 'x's, keeps the
 * connection open unless the request says "Connection: close", and counts,
 * per worker, connections accepted and how many were accepted on the CPU
 * that processed their SYN: SO_INCOMING_CPU of the new connection against
 * sched_getcpu() right after accept. That is the userspace view of
 * locality, for the shim with and without the module and for stock
 * listeners alike; it knows nothing of the shim or the module.
 *
 *   fsb-httpd [--port P] [--workers N] [--reuseport] [--body BYTES]
 *             [--timeout S] [--ready FILE]
 *
 * Listening sockets are made like nginx makes them: without --reuseport,
 * one socket made by the master before it forks the workers (each worker
 * adds it to its epoll set with EPOLLEXCLUSIVE, as nginx does with
 * accept_mutex off); with --reuseport, one SO_REUSEPORT socket per worker,
 * made by the worker. Workers are not pinned (a preloaded shim may pin
 * them).
 *
 * SIGUSR1 makes the master print one line of running totals:
 *	stats seq=<n> accepted=<a> cpu_match=<m> requests=<r>
 * SIGTERM/SIGINT (or --timeout) stops the workers; the master prints the
 * same line with "final" and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif

#define MAX_WORKERS 1024
#define REQ_BUF 2048
#define MAX_EVENTS 256

struct counters {
	atomic_long accepted, cpu_match, requests;
	char pad[64 - 3 * sizeof(atomic_long)];
};

static struct {
	int port, workers, body, timeout;
	bool reuseport;
	const char *ready;
} opt = { 8080, 0, 64, 3600, false, NULL };

static struct counters *ctr;	/* MAP_SHARED, one per worker */
static atomic_int *ready_count;
static char *resp_close, *resp_keep;
static size_t resp_close_len, resp_keep_len;

struct conn {
	unsigned short len;
	char buf[REQ_BUF];
};

static struct conn **conns;	/* indexed by fd */
static int max_fds;
static volatile sig_atomic_t stop, want_stats;

static void die(const char *what)
{
	fprintf(stderr, "fsb-httpd: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	want_stats = 1;
}

static char *make_response(bool close_it, size_t *len)
{
	size_t cap = 256 + (size_t)opt.body;
	char *r = malloc(cap);
	int n;

	if (!r)
		die("malloc");
	n = snprintf(r, cap,
		     "HTTP/1.1 200 OK\r\nServer: fsb-httpd\r\n"
		     "Content-Type: text/plain\r\nContent-Length: %d\r\n"
		     "Connection: %s\r\n\r\n",
		     opt.body, close_it ? "close" : "keep-alive");
	memset(r + n, 'x', (size_t)opt.body);
	*len = (size_t)n + (size_t)opt.body;
	return r;
}

static int make_listener(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((unsigned short)opt.port) };
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR");
	if (opt.reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		die("SO_REUSEPORT");
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
		die("bind");
	if (listen(fd, 4096))
		die("listen");
	return fd;
}

static void conn_close(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	if (fd < max_fds && conns[fd])
		conns[fd]->len = 0;
}

/* Does the request head [p, end) carry "Connection: close"? */
static bool wants_close(const char *p, const char *end)
{
	static const char name[] = "\r\nconnection:";
	const size_t nl = sizeof(name) - 1;

	for (; p + nl < end; p++) {
		if (strncasecmp(p, name, nl))
			continue;
		p += nl;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		return end - p >= 5 && !strncasecmp(p, "close", 5);
	}
	return false;
}

/* Serve every complete request in the buffer; false: connection closed. */
static bool conn_serve(int ep, int fd, struct conn *c, struct counters *me)
{
	char *end;
	bool close_it;
	size_t used;
	ssize_t n;

	for (;;) {
		end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!end)
			break;
		end += 4;
		close_it = wants_close(c->buf, end);
		atomic_fetch_add_explicit(&me->requests, 1, memory_order_relaxed);
		n = write(fd, close_it ? resp_close : resp_keep,
			  close_it ? resp_close_len : resp_keep_len);
		if (n != (ssize_t)(close_it ? resp_close_len : resp_keep_len) ||
		    close_it) {
			conn_close(ep, fd);
			return false;
		}
		used = (size_t)(end - c->buf);
		memmove(c->buf, end, c->len - used);
		c->len = (unsigned short)(c->len - used);
	}
	if (c->len >= REQ_BUF - 1) {	/* head too large: give up */
		conn_close(ep, fd);
		return false;
	}
	return true;
}

static void conn_readable(int ep, int fd, struct counters *me)
{
	struct conn *c;
	ssize_t n;

	if (fd >= max_fds) {
		conn_close(ep, fd);
		return;
	}
	c = conns[fd];
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c) {
			conn_close(ep, fd);
			return;
		}
		conns[fd] = c;
	}
	for (;;) {
		n = read(fd, c->buf + c->len, REQ_BUF - 1 - c->len);
		if (n > 0) {
			c->len = (unsigned short)(c->len + n);
			if (!conn_serve(ep, fd, c, me))
				return;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(ep, fd);	/* EOF or error */
		return;
	}
}

static void accept_all(int ep, int lfd, struct counters *me)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int c, in_cpu;
	socklen_t len;

	for (;;) {
		c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;	/* EAGAIN, or EMFILE and friends: try later */
		}
		len = sizeof(in_cpu);
		if (getsockopt(c, SOL_SOCKET, SO_INCOMING_CPU, &in_cpu, &len))
			in_cpu = -1;
		atomic_fetch_add_explicit(&me->accepted, 1, memory_order_relaxed);
		if (in_cpu == sched_getcpu())
			atomic_fetch_add_explicit(&me->cpu_match, 1,
						  memory_order_relaxed);
		ev.data.fd = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev)) {
			close(c);
			continue;
		}
	}
}

static void worker(int w, int shared_lfd)
{
	struct epoll_event ev, events[MAX_EVENTS];
	struct counters *me = &ctr[w];
	int ep, lfd, n, i;

	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGUSR1, SIG_IGN);
	lfd = opt.reuseport ? make_listener() : shared_lfd;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	ev.events = EPOLLIN | (opt.reuseport ? 0 : EPOLLEXCLUSIVE);
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		die("epoll_ctl ADD listener");
	atomic_fetch_add(ready_count, 1);
	while (!stop) {
		n = epoll_wait(ep, events, MAX_EVENTS, 200);
		for (i = 0; i < n; i++) {
			if (events[i].data.fd == lfd)
				accept_all(ep, lfd, me);
			else
				conn_readable(ep, events[i].data.fd, me);
		}
	}
	_exit(0);
}

static void print_stats(const char *tag)
{
	static long seq;
	long a = 0, m = 0, r = 0;
	int w;

	for (w = 0; w < opt.workers; w++) {
		a += atomic_load(&ctr[w].accepted);
		m += atomic_load(&ctr[w].cpu_match);
		r += atomic_load(&ctr[w].requests);
	}
	printf("%s seq=%ld accepted=%ld cpu_match=%ld requests=%ld\n", tag,
	       ++seq, a, m, r);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fsb-httpd [--port P] [--workers N] [--reuseport] [--body BYTES]\n"
		"                 [--timeout S] [--ready FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", 1, 0, 'p' }, { "workers", 1, 0, 'w' },
		{ "reuseport", 0, 0, 'R' }, { "body", 1, 0, 'b' },
		{ "timeout", 1, 0, 'T' }, { "ready", 1, 0, 'r' },
		{ "help", 0, 0, 'h' }, { 0 }
	};
	pid_t pids[MAX_WORKERS];
	struct rlimit rl;
	struct timespec t0, t;
	int o, w, lfd = -1;
	bool announced = false;
	FILE *f;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': opt.port = atoi(optarg); break;
		case 'w': opt.workers = atoi(optarg); break;
		case 'R': opt.reuseport = true; break;
		case 'b': opt.body = atoi(optarg); break;
		case 'T': opt.timeout = atoi(optarg); break;
		case 'r': opt.ready = optarg; break;
		default: usage();
		}
	}
	if (!opt.workers)
		opt.workers = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (opt.workers < 1 || opt.workers > MAX_WORKERS || opt.body < 0 ||
	    opt.body > 65536 || opt.port < 1 || opt.port > 65535)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	max_fds = getrlimit(RLIMIT_NOFILE, &rl) ? 65536 :
		  rl.rlim_cur > (1 << 20) ? (1 << 20) : (int)rl.rlim_cur;
	conns = calloc((size_t)max_fds, sizeof(*conns));
	ctr = mmap(NULL, sizeof(*ctr) * MAX_WORKERS + 64,
		   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!conns || ctr == MAP_FAILED)
		die("memory");
	ready_count = (atomic_int *)(ctr + MAX_WORKERS);
	resp_close = make_response(true, &resp_close_len);
	resp_keep = make_response(false, &resp_keep_len);
	/*
	 * Before the listener: once its port answers, bench/lib/server.sh
	 * may ask for totals (SIGUSR1), which must not kill the master.
	 */
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGUSR1, on_usr1);
	if (!opt.reuseport)
		lfd = make_listener();
	for (w = 0; w < opt.workers; w++) {
		pids[w] = fork();
		if (pids[w] < 0)
			die("fork");
		if (pids[w] == 0)
			worker(w, lfd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		if (!announced && atomic_load(ready_count) == opt.workers) {
			announced = true;
			if (opt.ready && (f = fopen(opt.ready, "w")))
				fclose(f);
			printf("ready workers=%d port=%d\n", opt.workers, opt.port);
			fflush(stdout);
		}
		if (want_stats) {
			want_stats = 0;
			print_stats("stats");
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= opt.timeout)
			break;
		usleep(20000);
	}
	for (w = 0; w < opt.workers; w++)
		kill(pids[w], SIGTERM);
	for (w = 0; w < opt.workers; w++)
		waitpid(pids[w], NULL, 0);
	print_stats("final");
	return 0;
}
