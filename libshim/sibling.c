// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sibling.c - userspace fallback: CPU-local sibling sockets.
 */
#include "sibling.h"

#include <errno.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "real.h"

#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

enum opt_type { O_INT, O_BUF, O_TV, O_LINGER, O_STR };

struct opt {
	int family;		/* 0: any; else only for this family */
	int level, name;
	enum opt_type type;
	bool must;		/* cannot copy a changed value: no sibling */
	const char *label;
};

/*
 * What an accepted connection inherits from the listener that accepted
 * it, and what decides whether the sibling may join the original's group.
 */
static const struct opt opts[] = {
	{ 0, SOL_SOCKET, SO_REUSEADDR, O_INT, true, "SO_REUSEADDR" },
	{ 0, SOL_SOCKET, SO_BINDTODEVICE, O_STR, true, "SO_BINDTODEVICE" },
	{ 0, SOL_SOCKET, SO_MARK, O_INT, true, "SO_MARK" },
	{ 0, SOL_SOCKET, SO_PRIORITY, O_INT, true, "SO_PRIORITY" },
	{ 0, SOL_SOCKET, SO_KEEPALIVE, O_INT, true, "SO_KEEPALIVE" },
	{ 0, SOL_SOCKET, SO_RCVBUF, O_BUF, false, "SO_RCVBUF" },
	{ 0, SOL_SOCKET, SO_SNDBUF, O_BUF, false, "SO_SNDBUF" },
	{ 0, SOL_SOCKET, SO_RCVLOWAT, O_INT, false, "SO_RCVLOWAT" },
	{ 0, SOL_SOCKET, SO_RCVTIMEO, O_TV, true, "SO_RCVTIMEO" },
	{ 0, SOL_SOCKET, SO_SNDTIMEO, O_TV, true, "SO_SNDTIMEO" },
	{ 0, SOL_SOCKET, SO_LINGER, O_LINGER, true, "SO_LINGER" },
	{ 0, SOL_SOCKET, SO_OOBINLINE, O_INT, true, "SO_OOBINLINE" },
	{ 0, IPPROTO_TCP, TCP_NODELAY, O_INT, true, "TCP_NODELAY" },
	{ 0, IPPROTO_TCP, TCP_MAXSEG, O_INT, true, "TCP_MAXSEG" },
	{ 0, IPPROTO_TCP, TCP_KEEPIDLE, O_INT, true, "TCP_KEEPIDLE" },
	{ 0, IPPROTO_TCP, TCP_KEEPINTVL, O_INT, true, "TCP_KEEPINTVL" },
	{ 0, IPPROTO_TCP, TCP_KEEPCNT, O_INT, true, "TCP_KEEPCNT" },
	{ 0, IPPROTO_TCP, TCP_DEFER_ACCEPT, O_INT, true, "TCP_DEFER_ACCEPT" },
	{ 0, IPPROTO_TCP, TCP_FASTOPEN, O_INT, true, "TCP_FASTOPEN" },
	{ 0, IPPROTO_TCP, TCP_USER_TIMEOUT, O_INT, true, "TCP_USER_TIMEOUT" },
	{ 0, IPPROTO_TCP, TCP_NOTSENT_LOWAT, O_INT, false, "TCP_NOTSENT_LOWAT" },
	{ 0, IPPROTO_TCP, TCP_WINDOW_CLAMP, O_INT, false, "TCP_WINDOW_CLAMP" },
	{ 0, IPPROTO_TCP, TCP_SYNCNT, O_INT, true, "TCP_SYNCNT" },
	{ 0, IPPROTO_TCP, TCP_LINGER2, O_INT, true, "TCP_LINGER2" },
	{ 0, IPPROTO_TCP, TCP_CONGESTION, O_STR, true, "TCP_CONGESTION" },
	{ AF_INET, IPPROTO_IP, IP_FREEBIND, O_INT, true, "IP_FREEBIND" },
	{ AF_INET, IPPROTO_IP, IP_TRANSPARENT, O_INT, true, "IP_TRANSPARENT" },
	{ AF_INET, IPPROTO_IP, IP_TOS, O_INT, true, "IP_TOS" },
	{ AF_INET, IPPROTO_IP, IP_TTL, O_INT, true, "IP_TTL" },
	{ AF_INET, IPPROTO_IP, IP_MTU_DISCOVER, O_INT, true, "IP_MTU_DISCOVER" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, O_INT, true, "IPV6_V6ONLY" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_FREEBIND, O_INT, true, "IPV6_FREEBIND" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_TRANSPARENT, O_INT, true, "IPV6_TRANSPARENT" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_TCLASS, O_INT, true, "IPV6_TCLASS" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, O_INT, true, "IPV6_UNICAST_HOPS" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, O_INT, true, "IPV6_MTU_DISCOVER" },
};

union optval {
	int i;
	struct timeval tv;
	struct linger lg;
	char s[IFNAMSIZ > 16 ? IFNAMSIZ : 16];
};

static int copy_one(const struct opt *o, int src, int dst, char *why,
		    size_t whylen)
{
	union optval a, b;
	socklen_t alen = sizeof(a), blen = sizeof(b);
	const void *val = &a;
	socklen_t vlen = alen;
	int half;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (getsockopt(src, o->level, o->name, &a, &alen) < 0)
		return 0;	/* not readable here (old kernel): nothing to copy */
	if (getsockopt(dst, o->level, o->name, &b, &blen) < 0)
		blen = 0;
	if (alen == blen && memcmp(&a, &b, alen) == 0)
		return 0;	/* the same as a fresh socket's */
	switch (o->type) {
	case O_BUF:
		/* The kernel reports twice what was asked for. */
		half = a.i / 2;
		val = &half;
		vlen = sizeof(half);
		break;
	case O_STR:
		vlen = (socklen_t)strnlen(a.s, alen);
		break;
	default:
		vlen = alen;
		break;
	}
	if (setsockopt(dst, o->level, o->name, val, vlen) == 0)
		return 0;
	int err = errno;

	if (o->type == O_BUF) {
		int force = o->name == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;

		if (setsockopt(dst, o->level, force, val, vlen) == 0)
			return 0;
	}
	if (!o->must)
		return 0;
	snprintf(why, whylen, "cannot copy %s: %s", o->label, strerror(err));
	return -err;
}

static int copy_filter(int src, int dst, char *why, size_t whylen)
{
	socklen_t n = 0;
	struct sock_fprog prog;
	int rc = 0;

	if (getsockopt(src, SOL_SOCKET, SO_GET_FILTER, NULL, &n) < 0) {
		if (errno == EACCES) {
			snprintf(why, whylen,
				 "cannot copy the socket's eBPF filter");
			return -EACCES;
		}
		return 0;
	}
	if (n == 0)
		return 0;
	prog.len = (unsigned short)n;
	prog.filter = calloc(n, sizeof(struct sock_filter));
	if (!prog.filter) {
		snprintf(why, whylen, "cannot copy the socket filter: %s",
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	if (getsockopt(src, SOL_SOCKET, SO_GET_FILTER, prog.filter, &n) < 0 ||
	    setsockopt(dst, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
		       sizeof(prog)) < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot copy the socket filter: %s",
			 strerror(errno));
	}
	free(prog.filter);
	return rc;
}

int fs_sibling_copy_options(int src, int dst, int family, char *why,
			 size_t whylen)
{
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		int rc;

		if (opts[i].family && opts[i].family != family)
			continue;
		rc = copy_one(&opts[i], src, dst, why, whylen);
		if (rc < 0)
			return rc;
	}
	return copy_filter(src, dst, why, whylen);
}

static const char *bind_hint(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return " (a port below 1024 and a worker without CAP_NET_BIND_SERVICE, e.g. after dropping privileges)";
	case EADDRINUSE:
		return " (SO_REUSEPORT needs the same user as the listening socket's: was it made before dropping privileges?)";
	default:
		return "";
	}
}

int fs_sibling_spawn(int lfd, int cpu, int backlog, int *local_fd, char *why,
		  size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int one = 1, s, rc;

	*local_fd = -1;
	if (getsockname(lfd, (struct sockaddr *)&ss, &sslen) < 0) {
		rc = -errno;
		snprintf(why, whylen, "getsockname: %s", strerror(errno));
		return rc;
	}
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		   IPPROTO_TCP);
	if (s < 0) {
		rc = -errno;
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return rc;
	}
	if (setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		rc = -errno;
		snprintf(why, whylen, "SO_REUSEPORT: %s", strerror(errno));
		goto fail;
	}
	if (setsockopt(s, SOL_SOCKET, SO_INCOMING_CPU, &cpu, sizeof(cpu)) < 0) {
		rc = -errno;
		snprintf(why, whylen, "SO_INCOMING_CPU: %s", strerror(errno));
		goto fail;
	}
	rc = fs_sibling_copy_options(lfd, s, ss.ss_family, why, whylen);
	if (rc < 0)
		goto fail;
	if (fs_real.bind(s, (struct sockaddr *)&ss, sslen) < 0) {
		rc = -errno;
		snprintf(why, whylen, "bind: %s%s", strerror(errno),
			 bind_hint(errno));
		goto fail;
	}
	if (fs_real.listen(s, backlog) < 0) {
		rc = -errno;
		snprintf(why, whylen, "listen: %s", strerror(errno));
		goto fail;
	}
	*local_fd = s;
	return 0;
fail:
	fs_real.close(s);
	return rc;
}
