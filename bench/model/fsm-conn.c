// SPDX-License-Identifier: GPL-2.0
/*
 * fsm-conn - a fixed number of short HTTP/1.1 connections, as one cost-model
 * phase (bench/model/run).
 *
 *   fsm-conn --conns N --port P --addrs A[,A...] [--concurrency C]
 *            [--pin CPU[,CPU...] | --threads T] [--phase ID:NAME]
 *            [--path PATH] [--timeout S]
 *
 * Each connection sends "GET PATH HTTP/1.1" with "Connection: close",
 * reads to the server's FIN and closes: the server closes first, as with
 * wrk's short connections. Threads (one per --pin CPU, pinned; or --threads
 * unpinned) share the N connections, keep C open at a time each, and take
 * the destination addresses round robin. wrk runs for a time, not a count:
 * the model divides a phase's counts by its connections, so the count is
 * fixed here and every connection is one the phase paid for in full.
 *
 * --phase: the threads are made, pinned and waiting before the phase
 * begins (fsm-mark.h), and the phase ends when the last connection is
 * closed: the client's start-up and exit stay outside the counts.
 *
 * Prints one line:
 *   FSM_CONN conns=N ok=N connect=N read=N status=N timeout=N duration_us=N
 * and exits 0 when every connection got a 2xx answer, 1 otherwise, 2 on bad
 * usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fsm-mark.h"

#define MAX_ADDRS 64
#define MAX_THREADS 256
#define RESP_MAX 4096

enum { ERR_CONNECT, ERR_READ, ERR_STATUS, ERR_TIMEOUT, NR_ERR };

struct conn {
	int fd;
	bool sent;
	size_t len;
	char buf[RESP_MAX];
};

struct worker {
	pthread_t tid;
	int cpu;		/* -1: not pinned */
	unsigned int index;
	unsigned long todo;	/* connections this thread opens */
	unsigned long started, ok, err[NR_ERR];
	int setup_err;		/* errno of a failed set-up */
};

static struct {
	struct sockaddr_in addrs[MAX_ADDRS];
	unsigned int naddrs;
	unsigned int concurrency;
	unsigned int timeout_s;
	char request[512];
	size_t request_len;
	pthread_barrier_t start;
} cfg = { .concurrency = 8, .timeout_s = 600 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fsm-conn --conns N --port P --addrs A[,A...] [--concurrency C]\n"
		"                [--pin CPU[,CPU...] | --threads T] [--phase ID:NAME]\n"
		"                [--path PATH] [--timeout S]\n");
}

static void die_usage(const char *what, const char *arg)
{
	fprintf(stderr, "fsm-conn: %s: '%s'\n", what, arg);
	usage(stderr);
	exit(2);
}

static unsigned long parse_num(const char *opt, const char *s, unsigned long min,
			       unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "fsm-conn: %s: '%s' is not a number in %lu..%lu\n",
			opt, s, min, max);
		exit(2);
	}
	return v;
}

static void parse_addrs(const char *list, unsigned int port)
{
	char *copy = strdup(list), *save = NULL, *a;

	if (!copy) {
		perror("fsm-conn: strdup");
		exit(2);
	}
	for (a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		struct sockaddr_in *sin = &cfg.addrs[cfg.naddrs];

		if (cfg.naddrs == MAX_ADDRS)
			die_usage("--addrs: too many addresses", list);
		memset(sin, 0, sizeof(*sin));
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, a, &sin->sin_addr) != 1)
			die_usage("--addrs: not an IPv4 address", a);
		cfg.naddrs++;
	}
	free(copy);
	if (!cfg.naddrs)
		die_usage("--addrs: no address", list);
}

static unsigned long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Open the next connection of @w into @c; false when none is left. */
static bool conn_open(struct worker *w, int ep, struct conn *c)
{
	const struct sockaddr_in *to;
	struct epoll_event ev;

	while (w->started < w->todo) {
		to = &cfg.addrs[(w->index + w->started) % cfg.naddrs];
		w->started++;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			w->err[ERR_CONNECT]++;
			continue;
		}
		if (connect(c->fd, (const struct sockaddr *)to, sizeof(*to)) &&
		    errno != EINPROGRESS) {
			close(c->fd);
			w->err[ERR_CONNECT]++;
			continue;
		}
		c->sent = false;
		c->len = 0;
		ev.events = EPOLLOUT;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev)) {
			close(c->fd);
			w->err[ERR_CONNECT]++;
			continue;
		}
		return true;
	}
	c->fd = -1;
	return false;
}

/* A complete answer: a 2xx status line (the body is not checked). */
static bool answer_ok(const struct conn *c)
{
	return c->len >= 12 && !memcmp(c->buf, "HTTP/1.", 7) && c->buf[9] == '2';
}

/* Progress on @c; returns true when @c is finished (and closed). */
static bool conn_event(struct worker *w, int ep, struct conn *c, uint32_t events)
{
	struct epoll_event ev;
	ssize_t n;

	if (!c->sent) {
		n = send(c->fd, cfg.request, cfg.request_len, MSG_NOSIGNAL);
		if (n != (ssize_t)cfg.request_len) {
			w->err[ERR_CONNECT]++;
			goto done;
		}
		c->sent = true;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev)) {
			w->err[ERR_READ]++;
			goto done;
		}
		return false;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return false;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n > 0) {
		c->len += n;
		if (c->len < sizeof(c->buf))
			return false;
		w->err[ERR_READ]++;	/* larger than any answer we ask for */
	} else if (n == 0) {
		if (answer_ok(c))
			w->ok++;
		else
			w->err[c->len ? ERR_STATUS : ERR_READ]++;
	} else if (errno == EAGAIN) {
		return false;
	} else {
		w->err[ERR_READ]++;
	}
done:
	close(c->fd);	/* also removes it from the epoll set */
	c->fd = -1;
	return true;
}

static int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? errno : 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64];
	unsigned long long idle_since;
	unsigned int i, open = 0;
	struct conn *conns;
	int ep, n;

	if (w->cpu >= 0)
		w->setup_err = pin_self(w->cpu);
	ep = epoll_create1(EPOLL_CLOEXEC);
	conns = calloc(cfg.concurrency, sizeof(*conns));
	if (ep < 0 || !conns)
		w->setup_err = errno ? errno : ENOMEM;
	pthread_barrier_wait(&cfg.start);
	if (w->setup_err)
		goto out;
	for (i = 0; i < cfg.concurrency; i++)
		open += conn_open(w, ep, &conns[i]);
	idle_since = now_us();
	while (open) {
		n = epoll_wait(ep, evs, 64, 1000);
		if (n < 0 && errno != EINTR) {
			w->setup_err = errno;
			break;
		}
		if (n <= 0) {
			if (now_us() - idle_since > cfg.timeout_s * 1000000ULL)
				break;
			continue;
		}
		idle_since = now_us();
		for (i = 0; i < (unsigned int)n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (conn_event(w, ep, c, evs[i].events) &&
			    !conn_open(w, ep, c))
				open--;
		}
	}
	/* Left open after the timeout: counted, and what was never opened. */
	for (i = 0; i < cfg.concurrency; i++) {
		if (conns[i].fd >= 0) {
			close(conns[i].fd);
			w->err[ERR_TIMEOUT]++;
		}
	}
	w->err[ERR_TIMEOUT] += w->todo - w->started;
out:
	free(conns);
	if (ep >= 0)
		close(ep);
	return NULL;
}

static unsigned int parse_cpus(const char *list, struct worker *ws)
{
	char *copy = strdup(list), *save = NULL, *a;
	unsigned int n = 0;

	if (!copy) {
		perror("fsm-conn: strdup");
		exit(2);
	}
	for (a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		if (n == MAX_THREADS)
			die_usage("--pin: too many CPUs", list);
		ws[n++].cpu = (int)parse_num("--pin", a, 0, CPU_SETSIZE - 1);
	}
	free(copy);
	if (!n)
		die_usage("--pin: no CPU", list);
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conns", required_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "addrs", required_argument, NULL, 'a' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "pin", required_argument, NULL, 'P' },
		{ "threads", required_argument, NULL, 't' },
		{ "phase", required_argument, NULL, 'f' },
		{ "path", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct worker ws[MAX_THREADS];
	const char *addrs = NULL, *pin = NULL, *path = "/", *phase = NULL;
	unsigned long conns = 0, err[NR_ERR] = { 0 }, ok = 0;
	unsigned int port = 0, nthreads = 1, i, k, phase_id = 0;
	unsigned long long t0, t1;
	const char *phase_name = "";
	int opt, rc;

	for (i = 0; i < MAX_THREADS; i++)
		ws[i].cpu = -1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': conns = parse_num("--conns", optarg, 1, 100000000); break;
		case 'p': port = parse_num("--port", optarg, 1, 65535); break;
		case 'a': addrs = optarg; break;
		case 'c': cfg.concurrency = parse_num("--concurrency", optarg, 1, 4096); break;
		case 'P': pin = optarg; break;
		case 't': nthreads = parse_num("--threads", optarg, 1, MAX_THREADS); break;
		case 'f': phase = optarg; break;
		case 'u': path = optarg; break;
		case 'T': cfg.timeout_s = parse_num("--timeout", optarg, 1, 86400); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc)
		die_usage("unexpected argument", argv[optind]);
	if (!conns || !port || !addrs) {
		fprintf(stderr, "fsm-conn: --conns, --port and --addrs are required\n");
		usage(stderr);
		return 2;
	}
	parse_addrs(addrs, port);
	if (pin)
		nthreads = parse_cpus(pin, ws);
	if (phase) {
		char *end;

		phase_id = strtoul(phase, &end, 10);
		if (end == phase || *end != ':' || !phase_id || phase_id > FSM_PHASE_ID_MAX)
			die_usage("--phase: not ID:NAME with ID in 1..4095", phase);
		phase_name = end + 1;
	}
	rc = snprintf(cfg.request, sizeof(cfg.request),
		      "GET %s HTTP/1.1\r\nHost: fsm\r\nConnection: close\r\n\r\n", path);
	if (rc < 0 || (size_t)rc >= sizeof(cfg.request))
		die_usage("--path: too long", path);
	cfg.request_len = rc;

	pthread_barrier_init(&cfg.start, NULL, nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		ws[i].index = i;
		ws[i].todo = conns / nthreads + (i < conns % nthreads);
		rc = pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
		if (rc) {
			fprintf(stderr, "fsm-conn: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	if (phase)
		fsm_phase_begin(phase_id, phase_name);
	t0 = now_us();
	pthread_barrier_wait(&cfg.start);
	for (i = 0; i < nthreads; i++)
		pthread_join(ws[i].tid, NULL);
	t1 = now_us();
	if (phase)
		fsm_phase_end(phase_id);

	rc = 0;
	for (i = 0; i < nthreads; i++) {
		if (ws[i].setup_err) {
			fprintf(stderr, "fsm-conn: thread %u%s: %s\n", i,
				ws[i].cpu >= 0 ? " (pinning or epoll)" : " (epoll)",
				strerror(ws[i].setup_err));
			rc = 1;
		}
		ok += ws[i].ok;
		for (k = 0; k < NR_ERR; k++)
			err[k] += ws[i].err[k];
	}
	printf("FSM_CONN conns=%lu ok=%lu connect=%lu read=%lu status=%lu timeout=%lu duration_us=%llu\n",
	       conns, ok, err[ERR_CONNECT], err[ERR_READ], err[ERR_STATUS],
	       err[ERR_TIMEOUT], t1 - t0);
	return rc || ok != conns;
}
