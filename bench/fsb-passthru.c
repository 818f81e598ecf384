// SPDX-License-Identifier: GPL-2.0
/*
 * fsb-passthru: the calls libfastsocket.so sees on file descriptors it
 * does not manage, one kind at a time, for counting instructions per call
 * with and without LD_PRELOAD:
 *
 *   valgrind --tool=callgrind --toggle-collect=fsb_call_KIND \
 *            fsb-passthru KIND ITERATIONS
 *
 * Only the inside of fsb_call_KIND() is collected (the wrapper, if any,
 * libc and the system call stub; never the kernel), so the total divided
 * by ITERATIONS is the cost of one call as the application sees it.
 *
 *   accept4     on a TCP socket that is not listening (EINVAL)
 *   epoll_ctl   ADD then DEL of a non-listening TCP socket, alternately
 *   close       of a dup() of a TCP socket (the dups are made outside)
 *   connect     non-blocking TCP connect to a closed loopback port (the
 *               sockets are made and closed outside)
 *   epoll_wait  with timeout 0 on an empty epoll set (the shim passes every
 *               wait through after one check, see libshim/listen.h)
 *
 * Prints "KIND calls=N errors=E" so a run that silently measured nothing
 * shows.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
#define BATCH 512

NOINLINE int fsb_call_accept4(int fd)
{
	return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

NOINLINE int fsb_call_epoll_ctl(int ep, int op, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, op, fd, &ev);
}

NOINLINE int fsb_call_close(int fd)
{
	return close(fd);
}

NOINLINE int fsb_call_epoll_wait(int ep, struct epoll_event *ev)
{
	return epoll_wait(ep, ev, 1, 0);
}

NOINLINE int fsb_call_connect(int fd, const struct sockaddr_in *sin)
{
	return connect(fd, (const struct sockaddr *)sin, sizeof(*sin));
}

static int tcp_socket(int flags)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);

	if (fd < 0) {
		perror("fsb-passthru: socket");
		exit(2);
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fds[BATCH];
	long n, i, errors = 0;
	int s, ep, j, k;
	const char *kind;

	if (argc != 3 || (n = atol(argv[2])) < 1) {
		fprintf(stderr, "usage: fsb-passthru accept4|epoll_ctl|close|connect|epoll_wait ITERATIONS\n");
		return 2;
	}
	kind = argv[1];
	s = tcp_socket(0);
	if (!strcmp(kind, "accept4")) {
		for (i = 0; i < n; i++)
			errors += fsb_call_accept4(s) < 0 && errno == EINVAL;
	} else if (!strcmp(kind, "epoll_ctl")) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		for (i = 0; i < n; i++)
			errors += fsb_call_epoll_ctl(ep, i & 1 ? EPOLL_CTL_DEL :
						     EPOLL_CTL_ADD, s) < 0;
	} else if (!strcmp(kind, "close")) {
		for (i = 0; i < n; i += BATCH) {
			k = n - i < BATCH ? (int)(n - i) : BATCH;
			for (j = 0; j < k; j++)
				fds[j] = dup(s);
			for (j = 0; j < k; j++)
				errors += fsb_call_close(fds[j]) < 0;
		}
	} else if (!strcmp(kind, "connect")) {
		/* A port nobody listens on: a bound, unlistened socket's. */
		int hold = tcp_socket(0);
		socklen_t len = sizeof(sin);

		if (bind(hold, (struct sockaddr *)&sin, sizeof(sin)) ||
		    getsockname(hold, (struct sockaddr *)&sin, &len)) {
			perror("fsb-passthru: bind");
			return 2;
		}
		for (i = 0; i < n; i += BATCH) {
			k = n - i < BATCH ? (int)(n - i) : BATCH;
			for (j = 0; j < k; j++)
				fds[j] = tcp_socket(SOCK_NONBLOCK);
			for (j = 0; j < k; j++)
				errors += fsb_call_connect(fds[j], &sin) < 0 &&
					  errno != EINPROGRESS &&
					  errno != ECONNREFUSED;
			for (j = 0; j < k; j++)
				close(fds[j]);
		}
		close(hold);
	} else if (!strcmp(kind, "epoll_wait")) {
		struct epoll_event ev;

		ep = epoll_create1(EPOLL_CLOEXEC);
		for (i = 0; i < n; i++)
			errors += fsb_call_epoll_wait(ep, &ev) != 0;
	} else {
		fprintf(stderr, "fsb-passthru: unknown kind %s\n", kind);
		return 2;
	}
	/* accept4 is expected to fail with EINVAL: count the other outcome. */
	if (!strcmp(kind, "accept4"))
		errors = n - errors;
	printf("%s calls=%ld errors=%ld\n", kind, n, errors);
	return errors != 0;
}
