// SPDX-License-Identifier: GPL-2.0
#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "accept.h"
#include "bind.h"
#include "fdops.h"
#include "init.h"
#include "listener.h"
#include "local.h"
#include "park.h"
#include "shim.h"
#include "testing.h"
#include "real.h"

cpu_set_t t_affinity;

void t_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	fs_real.bind = bind;
	fs_real.listen = listen;
	fs_real.accept = accept;
	fs_real.accept4 = accept4;
	fs_real.close = close;
	fs_real.shutdown = shutdown;
	fs_real.dup = dup;
	fs_real.dup2 = dup2;
	fs_real.dup3 = dup3;
	fs_real.fcntl = fcntl;
	fs_real.epoll_ctl = epoll_ctl;
	fs_real.epoll_create = epoll_create;
	fs_real.epoll_create1 = epoll_create1;
	fs_real.ioctl = ioctl;
	fs_real.epoll_wait = epoll_wait;
	fs_real.epoll_pwait = epoll_pwait;
	fs_real.epoll_pwait2 = epoll_pwait2;
	fs_real.poll = poll;
	fs_real.ppoll = ppoll;
	fs_real.select = select;
	fs_real.pselect = pselect;
	fs_real.close_range = close_range;
	fs_real.closefrom = closefrom;
	sched_getaffinity(0, sizeof(t_affinity), &t_affinity);
	unsetenv("FASTSOCKET_MODE");
	unsetenv("FASTSOCKET_PORTS");
	unsetenv("FASTSOCKET_CPUS");
	unsetenv("FASTSOCKET_LOG");
	fs_shim_init();
}

void t_config(int mode)
{
	char err[FS_ERR_MAX];
	char m[2] = { (char)('0' + mode), 0 };

	t_init();
	fs_config_parse(&fs_cfg, m, NULL, NULL, getenv("T_LOG"), &t_affinity,
			err, sizeof(err));
}

int t_reset(void **state)
{
	(void)state;
	t_init();
	fs_shim_reset();
	fs_unwatched_set_grace(FS_UNWATCHED_GRACE_MS);
	fs_park_set_drain(FS_PARK_DRAIN_MS);
	sched_setaffinity(0, sizeof(t_affinity), &t_affinity);
	t_config(2);
	return 0;
}

static void fill_addr(int family, int port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_addr = in6addr_loopback;
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*a);
	}
}

int t_free_port(int family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int s = socket(family, SOCK_STREAM, 0), port;

	fill_addr(family, 0, &ss, &len);
	assert_int_equal(bind(s, (struct sockaddr *)&ss, len), 0);
	len = sizeof(ss);
	assert_int_equal(getsockname(s, (struct sockaddr *)&ss, &len), 0);
	port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					: ((struct sockaddr_in *)&ss)->sin_port);
	close(s);
	return port;
}

int t_listener(int family, bool nonblock, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int s = socket(family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);

	assert_true(s >= 0);
	*port = t_free_port(family);
	fill_addr(family, *port, &ss, &len);
	assert_int_equal(fs_bind(s, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(fs_listen(s, 128), 0);
	return s;
}

int t_connect(int family, int port)
{
	struct sockaddr_storage ss;
	struct timeval tv = { 5, 0 };
	socklen_t len;
	int s = socket(family, SOCK_STREAM, 0);

	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	fill_addr(family, port, &ss, &len);
	assert_int_equal(connect(s, (struct sockaddr *)&ss, len), 0);
	return s;
}

bool t_fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

bool t_have_ipv6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (s >= 0)
		close(s);
	return ok;
}
