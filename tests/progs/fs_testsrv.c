// SPDX-License-Identifier: GPL-2.0
/*
 * fs_testsrv - a small multi-worker TCP server for the host integration
 * test, run with libfastsocket.so preloaded. Knows nothing of the shim.
 *
 * It binds the first free port from --port-base on loopback, listens,
 * starts --workers workers (forked processes, or threads with --threads)
 * that wait on the listening socket in the chosen way, and prints
 * "READY <port>" once every worker has made its first wait. For each
 * connection it accepts it writes one line,
 *	<CPU the worker runs on> <SO_INCOMING_CPU of the connection> <worker>
 * and closes. It runs until SIGTERM or SIGINT (at most --timeout seconds).
 * With epoll it also checks that every event carries the epoll_data it
 * registered and exits 3 if one does not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif

#define MARK 0x5eed5eedcafef00dULL

enum wait_kind { W_EPOLL, W_EPOLLEX, W_EPOLLET, W_POLL, W_SELECT, W_ACCEPT };

static struct {
	int port_base, workers, timeout;
	bool threads, pin, v6;
	enum wait_kind wait;
} opt = { 20000, 2, 60, false, false, false, W_EPOLL };

static int lfd = -1, ready_pipe[2];
static volatile sig_atomic_t stop;
static volatile sig_atomic_t bad_data;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "fs_testsrv: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void serve(int c, int worker)
{
	char line[64];
	int in = -1, n;
	socklen_t len = sizeof(in);

	if (getsockopt(c, SOL_SOCKET, SO_INCOMING_CPU, &in, &len) < 0)
		in = -1;
	n = snprintf(line, sizeof(line), "%d %d %d\n", sched_getcpu(), in,
		     worker);
	if (write(c, line, (size_t)n) < 0)
		perror("fs_testsrv: write");
	close(c);
}

/* Accept everything there is (one if the socket blocks). */
static void drain(int worker)
{
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				perror("fs_testsrv: accept4");
			return;
		}
		serve(c, worker);
		if (opt.wait == W_ACCEPT)
			return;
	}
}

static void *worker_main(void *arg)
{
	int worker = (int)(intptr_t)arg, ep = -1;
	char one = 1;

	if (opt.pin) {
		cpu_set_t set;
		int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

		CPU_ZERO(&set);
		CPU_SET(worker % (ncpu > 0 ? ncpu : 1), &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			die("sched_setaffinity");
	}
	if (opt.wait <= W_EPOLLET) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = MARK };

		if (opt.wait == W_EPOLLEX)
			ev.events |= EPOLLEXCLUSIVE;
		if (opt.wait == W_EPOLLET)
			ev.events |= EPOLLET;
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
			die("epoll");
	} else {
		/* The first wait, before saying ready. */
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		if (poll(&p, 1, 0) < 0)
			die("poll");
	}
	if (write(ready_pipe[1], &one, 1) != 1)
		die("write ready");

	while (!stop) {
		switch (opt.wait) {
		case W_EPOLL:
		case W_EPOLLEX:
		case W_EPOLLET: {
			struct epoll_event evs[8];
			int n = epoll_wait(ep, evs, 8, 200);

			for (int i = 0; i < n; i++) {
				if (evs[i].data.u64 != MARK) {
					fprintf(stderr, "fs_testsrv: epoll event with foreign data %#llx\n",
						(unsigned long long)evs[i].data.u64);
					bad_data = 1;
					continue;
				}
				drain(worker);
			}
			break;
		}
		case W_POLL: {
			struct pollfd p = { .fd = lfd, .events = POLLIN };

			if (poll(&p, 1, 200) > 0 && (p.revents & POLLIN))
				drain(worker);
			break;
		}
		case W_SELECT: {
			fd_set r;
			struct timeval tv = { 0, 200000 };

			FD_ZERO(&r);
			FD_SET(lfd, &r);
			if (select(lfd + 1, &r, NULL, NULL, &tv) > 0 &&
			    FD_ISSET(lfd, &r))
				drain(worker);
			break;
		}
		case W_ACCEPT:
			drain(worker);
			break;
		}
	}
	if (ep >= 0)
		close(ep);
	return NULL;
}

static int open_listener(void)
{
	int one = 1;

	for (int port = opt.port_base; port < opt.port_base + 500; port++) {
		int s = socket(opt.v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
		int rc;

		if (s < 0)
			die("socket");
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (opt.v6) {
			struct sockaddr_in6 a = { .sin6_family = AF_INET6,
						  .sin6_port = htons((uint16_t)port),
						  .sin6_addr = IN6ADDR_LOOPBACK_INIT };

			rc = bind(s, (struct sockaddr *)&a, sizeof(a));
		} else {
			struct sockaddr_in a = { .sin_family = AF_INET,
						 .sin_port = htons((uint16_t)port),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

			rc = bind(s, (struct sockaddr *)&a, sizeof(a));
		}
		if (rc == 0) {
			if (listen(s, 1024) < 0)
				die("listen");
			lfd = s;
			return port;
		}
		if (errno != EADDRINUSE)
			die("bind");
		close(s);
	}
	errno = EADDRINUSE;
	die("no free port");
	return -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fs_testsrv [--port-base N] [--workers N] [--threads] [--pin] [--v6]\n"
		"                  [--wait epoll|epollex|epollet|poll|select|accept] [--timeout S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const char *const waits[] = { "epoll", "epollex", "epollet",
					     "poll", "select", "accept" };
	pid_t pids[64];
	pthread_t tids[64];
	int port, status = 0;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--threads")) {
			opt.threads = true;
		} else if (!strcmp(a, "--pin")) {
			opt.pin = true;
		} else if (!strcmp(a, "--v6")) {
			opt.v6 = true;
		} else if (!strcmp(a, "--port-base") && v) {
			opt.port_base = atoi(v);
			i++;
		} else if (!strcmp(a, "--workers") && v) {
			opt.workers = atoi(v);
			i++;
		} else if (!strcmp(a, "--timeout") && v) {
			opt.timeout = atoi(v);
			i++;
		} else if (!strcmp(a, "--wait") && v) {
			size_t k;

			for (k = 0; k < sizeof(waits) / sizeof(waits[0]); k++)
				if (!strcmp(v, waits[k]))
					break;
			if (k == sizeof(waits) / sizeof(waits[0]))
				usage();
			opt.wait = (enum wait_kind)k;
			i++;
		} else {
			usage();
		}
	}
	if (opt.workers < 1 || opt.workers > 64)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned int)opt.timeout);

	port = open_listener();
	if (opt.wait != W_ACCEPT) {
		int fl = fcntl(lfd, F_GETFL);

		fcntl(lfd, F_SETFL, fl | O_NONBLOCK);
	}
	if (pipe(ready_pipe) < 0)
		die("pipe");

	for (int w = 0; w < opt.workers; w++) {
		if (opt.threads) {
			if (pthread_create(&tids[w], NULL, worker_main,
					   (void *)(intptr_t)w) != 0)
				die("pthread_create");
			/* Never joined: exit ends them (TSan: no leak). */
			pthread_detach(tids[w]);
			continue;
		}
		pids[w] = fork();
		if (pids[w] < 0)
			die("fork");
		if (pids[w] == 0) {
			alarm((unsigned int)opt.timeout);
			worker_main((void *)(intptr_t)w);
			_exit(bad_data ? 3 : 0);
		}
	}
	for (int w = 0; w < opt.workers; w++) {
		char c;

		if (read(ready_pipe[0], &c, 1) != 1)
			die("read ready");
	}
	printf("READY %d\n", port);
	fflush(stdout);

	while (!stop)
		pause();
	if (opt.threads)
		return bad_data ? 3 : 0;	/* exit ends the threads */
	for (int w = 0; w < opt.workers; w++)
		kill(pids[w], SIGTERM);
	for (int w = 0; w < opt.workers; w++) {
		int st = 0;

		if (waitpid(pids[w], &st, 0) > 0 && WIFEXITED(st) &&
		    WEXITSTATUS(st) != 0)
			status = WEXITSTATUS(st);
	}
	return status;
}
