// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-badinput: every malformed or unauthorised use of /dev/fastsocket
 * must fail with its documented errno and leave nothing behind.
 *
 *   fsk-badinput [--offline-cpu N] [--mode M]
 *
 * --mode is the module's current enable_listen_spawn (cases depend on it).
 * Prints a TAP line per case (fsk-check.h) and exits 1 if any failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/fastsocket.h>

#include "fsk-check.h"

static int dev, mode = 2;

static int spawn_raw(struct fastsocket_spawn *s)
{
	int ret = ioctl(dev, FASTSOCKET_IOC_SPAWN, s);

	if (ret == 0)
		close(s->local_fd);
	return ret;
}

static int spawn(int fd, int cpu)
{
	struct fastsocket_spawn s = { .fd = fd, .cpu = cpu };

	return spawn_raw(&s);
}

static int reg(int fd, int cpu)
{
	struct fastsocket_register r = { .fd = fd, .cpu = cpu };

	return ioctl(dev, FASTSOCKET_IOC_REGISTER, &r);
}

/* A TCP socket on loopback, port @port (0: any). */
static int tcp_socket_port(int family, int reuseport, int do_listen, int port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	int fd = socket(family, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a4.sin_port = htons(port);
	a6.sin6_addr = in6addr_loopback;
	a6.sin6_port = htons(port);
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (family == AF_INET ? bind(fd, (void *)&a4, sizeof(a4)) :
				bind(fd, (void *)&a6, sizeof(a6)))
		return -1;
	if (do_listen && listen(fd, 8))
		return -1;
	return fd;
}

static int tcp_socket(int family, int reuseport, int do_listen)
{
	return tcp_socket_port(family, reuseport, do_listen, 0);
}

static int local_port(int fd)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);

	return getsockname(fd, (void *)&a, &len) ? -1 : ntohs(a.sin_port);
}

static void pin0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void unpin(void)
{
	cpu_set_t set;
	long i, n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	for (i = 0; i < n; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void fd_kinds(int lfd)
{
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	int unx = socket(AF_UNIX, SOCK_STREAM, 0);
	int conn = tcp_socket(AF_INET, 1, 0);
	int ep = epoll_create1(0);
	int file = open("/proc/self/stat", O_RDONLY);
	int closed = dup(lfd);

	close(closed);
	check("udp socket", spawn(udp, 0), EOPNOTSUPP);
	check("unix socket", spawn(unx, 0), EOPNOTSUPP);
	check("bound, not listening tcp", spawn(conn, 0), EINVAL);
	check("epoll fd", spawn(ep, 0), ENOTSOCK);
	check("regular file", spawn(file, 0), ENOTSOCK);
	check("closed fd", spawn(closed, 0), EBADF);
	check("fd -1", spawn(-1, 0), EBADF);
	check("fd INT32_MAX", spawn(0x7fffffff, 0), EBADF);
	close(udp);
	close(unx);
	close(conn);
	close(ep);
	close(file);
}

static void struct_fields(int lfd)
{
	struct fastsocket_spawn s;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		s = (struct fastsocket_spawn){ .fd = lfd, .cpu = 0 };
		s.reserved[i] = 1;
		check("reserved field set", spawn_raw(&s), EINVAL);
	}
	s = (struct fastsocket_spawn){ .fd = lfd, .cpu = 0, .flags = 1 };
	check("unknown flag", spawn_raw(&s), EINVAL);
	check("spawn with NULL argument",
	      ioctl(dev, FASTSOCKET_IOC_SPAWN, NULL), EFAULT);
	check("spawn with bad pointer",
	      ioctl(dev, FASTSOCKET_IOC_SPAWN, (void *)16), EFAULT);
	check("info with bad pointer",
	      ioctl(dev, FASTSOCKET_IOC_INFO, (void *)16), EFAULT);
	check("unknown command", ioctl(dev, _IO(FASTSOCKET_IOC_MAGIC, 0x7f)),
	      ENOTTY);
	check("foreign command", ioctl(dev, FIONREAD, &i), ENOTTY);
}

static void cpus(int lfd, int offline)
{
	check("cpu out of range", spawn(lfd, 1 << 20), EINVAL);
	check("cpu INT32_MAX", spawn(lfd, 0x7fffffff), EINVAL);
	check("cpu -3", spawn(lfd, -3), EINVAL);
	check("cpu INT32_MIN", spawn(lfd, (int)0x80000000), EINVAL);
	if (offline >= 0)
		check("offline cpu", spawn(lfd, offline), ENXIO);
	unpin();
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		check("CPU_CURRENT while not pinned",
		      spawn(lfd, FASTSOCKET_CPU_CURRENT), EINVAL);
	pin0();
	check("CPU_CURRENT while pinned", spawn(lfd, FASTSOCKET_CPU_CURRENT),
	      mode ? 0 : EOPNOTSUPP);
	unpin();
	check("CPU_AUTO", spawn(lfd, FASTSOCKET_CPU_AUTO),
	      mode == 2 ? 0 : mode == 1 ? EINVAL : EOPNOTSUPP);
	unpin();
}

static void sockets(void)
{
	int norp = tcp_socket(AF_INET, 0, 1);

	check("listener without SO_REUSEPORT", spawn(norp, 0), ENOPROTOOPT);
	close(norp);
}

/* FASTSOCKET_IOC_REGISTER: the same argument checks, and one CPU each. */
static void register_cases(void)
{
	struct fastsocket_register r;
	int a = tcp_socket(AF_INET, 1, 1), b, c, udp, norp, conn, ep, port;
	unsigned int i;

	b = tcp_socket_port(AF_INET, 1, 1, local_port(a));
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	norp = tcp_socket(AF_INET, 0, 1);
	conn = tcp_socket(AF_INET, 1, 0);
	ep = epoll_create1(0);
	if (a < 0 || b < 0) {
		check_fail("register", "cannot make two listeners on one port");
		return;
	}
	check("register udp socket", reg(udp, 0), EOPNOTSUPP);
	check("register epoll fd", reg(ep, 0), ENOTSOCK);
	check("register fd -1", reg(-1, 0), EBADF);
	check("register bound, not listening", reg(conn, 0), EINVAL);
	check("register without SO_REUSEPORT", reg(norp, 0), ENOPROTOOPT);
	check("register CPU_AUTO", reg(a, FASTSOCKET_CPU_AUTO), EINVAL);
	check("register cpu out of range", reg(a, 1 << 20), EINVAL);
	check("register cpu -3", reg(a, -3), EINVAL);
	for (i = 0; i < 5; i++) {
		r = (struct fastsocket_register){ .fd = a, .cpu = 0 };
		r.reserved[i] = 1;
		check("register reserved field set",
		      ioctl(dev, FASTSOCKET_IOC_REGISTER, &r), EINVAL);
	}
	r = (struct fastsocket_register){ .fd = a, .cpu = 0, .flags = 1 };
	check("register unknown flag", ioctl(dev, FASTSOCKET_IOC_REGISTER, &r),
	      EINVAL);
	check("register with NULL argument",
	      ioctl(dev, FASTSOCKET_IOC_REGISTER, NULL), EFAULT);
	unpin();
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		check("register CPU_CURRENT while not pinned",
		      reg(a, FASTSOCKET_CPU_CURRENT), EINVAL);
	check("register on CPU 0", reg(a, 0), 0);
	check("register again on CPU 0", reg(a, 0), 0);
	check("register a second socket on CPU 0", reg(b, 0), EBUSY);
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		check("register the same socket on CPU 1", reg(a, 1), EEXIST);
		pin0();
		check("register CPU_CURRENT (0): taken", reg(b, FASTSOCKET_CPU_CURRENT),
		      EBUSY);
		unpin();
		check("register a second socket on CPU 1", reg(b, 1), 0);
	}
	/* A registered socket that closes frees its CPU for another. */
	port = local_port(a);
	close(a);
	c = tcp_socket_port(AF_INET, 1, 1, port);
	check("register on CPU 0 after its socket closed", reg(c, 0), 0);
	close(c);
	close(b);
	close(udp);
	close(norp);
	close(conn);
	close(ep);
}

/* A listener of this netns used after the caller moved to another. */
static void other_netns(int lfd)
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		printf("SKIP: fd from another netns (needs root)\n");
		return;
	}
	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET))
			_exit(3);
		_exit(spawn(lfd, 0) < 0 && errno == EXDEV ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		check_pass("fd from another netns");
		return;
	}
	check_fail("fd from another netns", "expected EXDEV, child status %#x",
		   status);
}

int main(int argc, char **argv)
{
	int offline = -1, i, lfd;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--offline-cpu"))
			offline = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--mode"))
			mode = atoi(argv[i + 1]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	dev = open(FASTSOCKET_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		perror(FASTSOCKET_DEVICE_PATH);
		return 2;
	}
	lfd = tcp_socket(AF_INET, 1, 1);
	if (lfd < 0) {
		perror("listening socket");
		return 2;
	}
	if (mode == 0) {
		check("spawn with enable_listen_spawn=0", spawn(lfd, 0),
		      EOPNOTSUPP);
		check("register with enable_listen_spawn=0", reg(lfd, 0),
		      EOPNOTSUPP);
		return check_done();
	}
	fd_kinds(lfd);
	struct_fields(lfd);
	cpus(lfd, offline);
	sockets();
	register_cases();
	other_netns(lfd);
	check("valid spawn still works", spawn(lfd, 0), 0);
	return check_done();
}
