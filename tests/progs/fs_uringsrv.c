// SPDX-License-Identifier: GPL-2.0
/*
 * fs_uringsrv - a server that accepts only through io_uring
 * (IORING_OP_ACCEPT), for the host integration test: the shim never sees
 * those accepts, so it must leave the listening socket to them.
 *
 *   fs_uringsrv [--port-base P] [--count N] [--timeout S]
 *
 * Listens on 127.0.0.1, on the first free port from P (default 23000),
 * prints "READY <port>", accepts N connections (default 100) through
 * io_uring and answers each with fs_testsrv's line "<cpu> <incoming_cpu>
 * 0" before closing it. Exits 0 after N connections or on SIGTERM, 1 on
 * an error or after S seconds (default 60) without a connection.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif

/* The test stops the server with SIGTERM once its client is done. */
static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static int listen_from(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd;

	for (int p = port; p < port + 100; p++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		a.sin_port = htons((uint16_t)p);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    listen(fd, 128) == 0) {
			printf("READY %d\n", p);
			fflush(stdout);
			return fd;
		}
		close(fd);
	}
	return -1;
}

static void answer(int c)
{
	int icpu = -1;
	socklen_t len = sizeof(icpu);
	char line[64];
	int n;

	getsockopt(c, SOL_SOCKET, SO_INCOMING_CPU, &icpu, &len);
	n = snprintf(line, sizeof(line), "%d %d 0\n", sched_getcpu(), icpu);
	if (write(c, line, (size_t)n) != n)
		perror("fs_uringsrv: write");
	close(c);
}

int main(int argc, char **argv)
{
	int port = 23000, count = 100, timeout = 60, lfd, rc;
	struct __kernel_timespec ts = { 0 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port-base"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--count"))
			count = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--timeout"))
			timeout = atoi(argv[i + 1]);
	}
	signal(SIGTERM, on_term);
	rc = io_uring_queue_init(8, &ring, 0);
	if (rc < 0) {
		fprintf(stderr, "fs_uringsrv: io_uring_queue_init: %s\n", strerror(-rc));
		return 77;	/* no io_uring here */
	}
	lfd = listen_from(port);
	if (lfd < 0) {
		perror("fs_uringsrv: listen");
		return 1;
	}
	ts.tv_sec = timeout;
	for (int done = 0; done < count; done++) {
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
		io_uring_submit(&ring);
		rc = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
		if (rc < 0) {
			fprintf(stderr, "fs_uringsrv: after %d connections: %s\n",
				done, strerror(-rc));
			return 1;
		}
		rc = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		if (rc < 0) {
			fprintf(stderr, "fs_uringsrv: accept: %s\n", strerror(-rc));
			return 1;
		}
		answer(rc);
	}
	io_uring_queue_exit(&ring);
	close(lfd);
	return 0;
}
