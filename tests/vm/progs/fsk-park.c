// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-park: FASTSOCKET_IOC_PARK end to end, on loopback.
 *
 *   fsk-park [--count N] [--port P] [--grace-kept]
 *
 * One original listener on 127.0.0.1:P and a spawned local listener on
 * each of CPUs 0 and 1. Clients pinned to CPU 0 (on loopback the SYN is
 * processed on the sender's CPU) make N connections in each phase:
 *   parked:  CPU 0's local listener parked: none may land on it (neither
 *            by steering nor by the kernel's SO_INCOMING_CPU preference,
 *            which would pick it); all land on the others.
 *   resumed: the same listener resumed: all land on it.
 *   unwatched: out of the epoll set that holds it (nobody waits on it):
 *            none land on it. With --grace-kept (the test has set
 *            unwatched_grace_ms to a minute) all do: the resumed phase's
 *            SYNs found it watched moments before.
 *   spawned again: parked again, then a second SPAWN for CPU 0 returns
 *            that listener and resumes it: all land on it.
 * The connections are accepted after each phase, non-blocking, from all
 * three listeners. Also the argument checks of the command. Prints
 * a TAP line per check (fsk-check.h) and "parked_landed=... " counts;
 * exits 1 if any check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/fastsocket.h>

#include "fsk-check.h"

static int dev;

static void expect_eq(const char *name, int want, int got)
{
	if (want == got) {
		check_pass("%s: %d", name, got);
		return;
	}
	check_fail(name, "expected %d, got %d", want, got);
}

static int park(int fd, unsigned int flags)
{
	struct fastsocket_park p = { .fd = fd, .flags = flags };

	return ioctl(dev, FASTSOCKET_IOC_PARK, &p);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		exit(2);
	}
}

static int listener(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
		perror("listener");
		exit(2);
	}
	return fd;
}

static int spawn(int fd, int cpu)
{
	struct fastsocket_spawn s = { .fd = fd, .cpu = cpu };

	if (ioctl(dev, FASTSOCKET_IOC_SPAWN, &s)) {
		perror("FASTSOCKET_IOC_SPAWN");
		exit(2);
	}
	watch(s.local_fd);
	return s.local_fd;
}

/* N connections from CPU 0, left in the accept queues (child process). */
static void connect_from_cpu0(int port, int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int status, failed = 0;
	pid_t pid = fork();

	if (pid == 0) {
		pin(0);
		for (int i = 0; i < n; i++) {
			int s = socket(AF_INET, SOCK_STREAM, 0);

			if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
				failed++;
			close(s);
		}
		_exit(failed ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	expect_eq("client: failed connects", 0,
		  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
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

static void args(int local, int orig)
{
	struct fastsocket_park p;
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	int ep = epoll_create1(0);

	check("park bad flags", park(local, 2), EINVAL);
	p = (struct fastsocket_park){ .fd = local, .reserved = { 0, 1 } };
	check("park reserved set", ioctl(dev, FASTSOCKET_IOC_PARK, &p), EINVAL);
	check("park NULL", ioctl(dev, FASTSOCKET_IOC_PARK, NULL), EFAULT);
	check("park fd -1", park(-1, FASTSOCKET_PARK_ON), EBADF);
	check("park epoll fd", park(ep, FASTSOCKET_PARK_ON), ENOTSOCK);
	check("park udp socket", park(udp, FASTSOCKET_PARK_ON), ENOENT);
	check("park the original listener", park(orig, FASTSOCKET_PARK_ON),
	      ENOENT);
	check("resume a listener not parked", park(local, 0), 0);
	close(udp);
	close(ep);
}

int main(int argc, char **argv)
{
	int count = 200, port = 8090, orig, l0, l1, n0, n1, no;
	bool grace_kept = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--grace-kept"))
			grace_kept = true;
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: fsk-park [--count N] [--port P] [--grace-kept]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	dev = open(FASTSOCKET_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		perror(FASTSOCKET_DEVICE_PATH);
		return 2;
	}
	orig = listener(port);
	l0 = spawn(orig, 0);
	l1 = spawn(orig, 1);
	args(l0, orig);

	check("park CPU 0's local listener", park(l0, FASTSOCKET_PARK_ON), 0);
	check("park it again", park(l0, FASTSOCKET_PARK_ON), 0);
	connect_from_cpu0(port, count);
	n0 = drain(l0);
	n1 = drain(l1);
	no = drain(orig);
	printf("parked: local0=%d local1=%d original=%d\n", n0, n1, no);
	expect_eq("parked: connections on the parked listener", 0, n0);
	expect_eq("parked: connections on the others", count, n1 + no);

	check("resume it", park(l0, 0), 0);
	connect_from_cpu0(port, count);
	n0 = drain(l0);
	n1 = drain(l1);
	no = drain(orig);
	printf("resumed: local0=%d local1=%d original=%d\n", n0, n1, no);
	expect_eq("resumed: connections on CPU 0's local listener", count, n0);

	/* Nobody waits on it: its CPU's SYNs go to a listener someone waits
	 * on, here CPU 1's local listener (watched) or the original. */
	unwatch(l0);
	/* Past the default grace in which the last waiter still counts
	 * (10 ms), well within a minute. */
	usleep(100 * 1000);
	connect_from_cpu0(port, count);
	n0 = drain(l0);
	n1 = drain(l1);
	no = drain(orig);
	printf("unwatched: local0=%d local1=%d original=%d\n", n0, n1, no);
	expect_eq("unwatched: connections on CPU 0's local listener",
		  grace_kept ? count : 0, n0);
	expect_eq("unwatched: connections on the others",
		  grace_kept ? 0 : count, n1 + no);
	watch(l0);

	/* A spawn that returns the parked copy (a worker sharing the CPU)
	 * resumes it. */
	check("park before a second spawn", park(l0, FASTSOCKET_PARK_ON), 0);
	close(spawn(orig, 0));
	connect_from_cpu0(port, count);
	n0 = drain(l0);
	n1 = drain(l1);
	no = drain(orig);
	printf("spawned again: local0=%d local1=%d original=%d\n", n0, n1, no);
	expect_eq("spawned again: connections on CPU 0's local listener",
		  count, n0);

	/* A parked listener that closes is unlinked like any other. */
	check("park before close", park(l0, FASTSOCKET_PARK_ON), 0);
	close(l0);
	check("park a closed fd", park(l0, 0), EBADF);
	close(l1);
	close(orig);
	return check_done();
}
