// SPDX-License-Identifier: GPL-2.0
/*
 * lib.c - helpers of the conformance cases and their main(): "conf CASE"
 * runs one case, "conf -l" lists them.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

int conf_port = 18080;

void R(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("R: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int mksock_bound(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int mklisten(int port, int backlog)
{
	int fd = mksock_bound(port);

	if (fd >= 0 && listen(fd, backlog) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void prime(int fd)
{
	int fl = fcntl(fd, F_GETFL), r;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	r = accept(fd, NULL, NULL);
	if (r >= 0)
		close(r);
	fcntl(fd, F_SETFL, fl);
}

struct cargs {
	int cpu, port, n, timeout, *fds, ok;
	const char *md5;
};

static int pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s);
}

static int one_connect(struct cargs *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)c->port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
	socklen_t el = sizeof(err);
	struct pollfd p;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -errno;
	if (c->md5) {
		struct tcp_md5sig k;

		memset(&k, 0, sizeof(k));
		memcpy(&k.tcpm_addr, &a, sizeof(a));
		k.tcpm_keylen = (uint16_t)strlen(c->md5);
		memcpy(k.tcpm_key, c->md5, k.tcpm_keylen);
		if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &k, sizeof(k)) < 0) {
			close(fd);
			return -errno;
		}
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	    errno != EINPROGRESS) {
		err = errno;
		close(fd);
		return -err;
	}
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, c->timeout) <= 0) {
		close(fd);
		return -ETIMEDOUT;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		close(fd);
		return -err;
	}
	set_nonblock(fd, false);
	return fd;
}

static void *connector(void *arg)
{
	struct cargs *c = arg;

	pin(c->cpu);
	c->ok = 0;
	for (int i = 0; i < c->n; i++) {
		int fd = one_connect(c);

		if (c->fds)
			c->fds[i] = fd;
		else if (fd >= 0)
			close(fd);
		if (fd >= 0)
			c->ok++;
		else if (c->n == 1)
			c->ok = fd;
	}
	return NULL;
}

void in_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, arg) == 0)
		pthread_join(t, NULL);
}

int connect_n(int cpu, int port, int n, int *fds, int timeout_ms)
{
	struct cargs c = { .cpu = cpu, .port = port, .n = n, .fds = fds,
			   .timeout = timeout_ms };

	in_thread(connector, &c);
	return c.ok;
}

int connect_from(int cpu, int port, int timeout_ms)
{
	int fd = -1;
	struct cargs c = { .cpu = cpu, .port = port, .n = 1, .fds = &fd,
			   .timeout = timeout_ms };

	in_thread(connector, &c);
	return fd;
}

int connect_md5(int cpu, int port, const char *key, int timeout_ms)
{
	struct cargs c = { .cpu = cpu, .port = port, .n = 1, .fds = NULL,
			   .timeout = timeout_ms, .md5 = key };

	in_thread(connector, &c);
	return c.ok;
}

int drain_poll(int fd, int want, int quiet_ms)
{
	int got = 0;

	set_nonblock(fd, true);
	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int c;

		if (poll(&p, 1, quiet_ms) <= 0)
			break;
		while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
			close(c);
			got++;
		}
	}
	return got;
}

int drain_epoll(int epfd, int fd, int want, int quiet_ms)
{
	int got = 0;

	set_nonblock(fd, true);
	while (got < want) {
		struct epoll_event ev[8];
		int c;

		if (epoll_wait(epfd, ev, 8, quiet_ms) <= 0)
			break;
		while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
			close(c);
			got++;
		}
	}
	return got;
}

int ncpus_allowed(void)
{
	cpu_set_t s;

	if (sched_getaffinity(0, sizeof(s), &s) < 0)
		return -1;
	return CPU_COUNT(&s);
}

static const struct conf_case *find(const char *name)
{
	const struct conf_case *tabs[] = { cases_a, cases_b, cases_c };

	for (size_t t = 0; t < 3; t++)
		for (const struct conf_case *c = tabs[t]; c->name; c++)
			if (!strcmp(c->name, name))
				return c;
	return NULL;
}

int main(int argc, char **argv)
{
	const struct conf_case *c;
	const char *p;

	if (argc == 2 && !strcmp(argv[1], "-l")) {
		const struct conf_case *tabs[] = { cases_a, cases_b, cases_c };

		for (size_t t = 0; t < 3; t++)
			for (c = tabs[t]; c->name; c++)
				printf("%s\n", c->name);
		return 0;
	}
	/* exec_after_pin's programs: the CPUs they start with. */
	if (argc == 3 && !strcmp(argv[1], "--cpus")) {
		R("%s: CPUs after exec %d", argv[2], ncpus_allowed());
		return 0;
	}
	if (argc < 2 || !(c = find(argv[1]))) {
		fprintf(stderr, "usage: conf -l | conf CASE\n");
		return 2;
	}
	p = getenv("CONF_PORT");
	if (p)
		conf_port = atoi(p);
	/* A hang ends the case; the runner reports it. */
	p = getenv("CONF_ALARM");
	alarm(p ? (unsigned int)atoi(p) : 8);
	return c->fn();
}
