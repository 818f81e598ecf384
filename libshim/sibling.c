// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sibling.c - userspace fallback: CPU-local sibling sockets.
 */
#include "sibling.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

#ifndef SO_RCVMARK
#define SO_RCVMARK 75
#endif
#ifndef TCP_TX_DELAY
#define TCP_TX_DELAY 37
#endif

enum opt_type { O_INT, O_BUF, O_TV, O_LINGER, O_STR, O_RAW };

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
	{ 0, SOL_SOCKET, SO_TIMESTAMP_OLD, O_INT, true, "SO_TIMESTAMP" },
	{ 0, SOL_SOCKET, SO_TIMESTAMPNS_OLD, O_INT, true, "SO_TIMESTAMPNS" },
	{ 0, SOL_SOCKET, SO_BUSY_POLL, O_INT, true, "SO_BUSY_POLL" },
	{ 0, SOL_SOCKET, SO_MAX_PACING_RATE, O_RAW, true, "SO_MAX_PACING_RATE" },
	{ 0, SOL_SOCKET, SO_DONTROUTE, O_INT, true, "SO_DONTROUTE" },
	{ 0, SOL_SOCKET, SO_ZEROCOPY, O_INT, true, "SO_ZEROCOPY" },
	{ 0, SOL_SOCKET, SO_RCVMARK, O_INT, true, "SO_RCVMARK" },
	{ 0, IPPROTO_TCP, TCP_CORK, O_INT, true, "TCP_CORK" },
	{ 0, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, O_INT, true, "TCP_THIN_LINEAR_TIMEOUTS" },
	{ 0, IPPROTO_TCP, TCP_INQ, O_INT, true, "TCP_INQ" },
	{ 0, IPPROTO_TCP, TCP_TX_DELAY, O_INT, true, "TCP_TX_DELAY" },
	{ 0, IPPROTO_TCP, TCP_SAVE_SYN, O_INT, true, "TCP_SAVE_SYN" },
	{ 0, IPPROTO_TCP, TCP_FASTOPEN_KEY, O_RAW, true, "TCP_FASTOPEN_KEY" },
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
	{ AF_INET, IPPROTO_IP, IP_PKTINFO, O_INT, true, "IP_PKTINFO" },
	{ AF_INET, IPPROTO_IP, IP_RECVTOS, O_INT, true, "IP_RECVTOS" },
	{ AF_INET, IPPROTO_IP, IP_RECVTTL, O_INT, true, "IP_RECVTTL" },
	{ AF_INET, IPPROTO_IP, IP_RECVERR, O_INT, true, "IP_RECVERR" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, O_INT, true, "IPV6_V6ONLY" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_FREEBIND, O_INT, true, "IPV6_FREEBIND" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_TRANSPARENT, O_INT, true, "IPV6_TRANSPARENT" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_TCLASS, O_INT, true, "IPV6_TCLASS" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, O_INT, true, "IPV6_UNICAST_HOPS" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, O_INT, true, "IPV6_MTU_DISCOVER" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_RECVPKTINFO, O_INT, true, "IPV6_RECVPKTINFO" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_RECVTCLASS, O_INT, true, "IPV6_RECVTCLASS" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, O_INT, true, "IPV6_RECVHOPLIMIT" },
	{ AF_INET6, IPPROTO_IPV6, IPV6_RECVERR, O_INT, true, "IPV6_RECVERR" },
};

union optval {
	int i;
	struct timeval tv;
	struct linger lg;
	char s[IFNAMSIZ > 16 ? IFNAMSIZ : 16];
	unsigned char raw[64];	/* TCP_FASTOPEN_KEY: up to two 16-byte keys */
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
	if (fs_real.getsockopt(src, o->level, o->name, &a, &alen) < 0)
		return 0;	/* not readable here (old kernel): nothing to copy */
	if (fs_real.getsockopt(dst, o->level, o->name, &b, &blen) < 0)
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
	if (fs_real.setsockopt(dst, o->level, o->name, val, vlen) == 0)
		return 0;
	int err = errno;

	if (o->type == O_BUF) {
		int force = o->name == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;

		if (fs_real.setsockopt(dst, o->level, force, val, vlen) == 0)
			return 0;
	}
	if (!o->must)
		return 0;
	snprintf(why, whylen, "cannot copy %s: %s", o->label, strerror(err));
	return -err;
}

/*
 * What a sibling cannot have, so the listener must have no sibling: a
 * socket filter (classic or eBPF: copying it would be possible for a
 * classic one, but one set later could not follow, and an eBPF one not
 * at all), a ULP. TCP-MD5/AO keys and IPsec policies cannot be read back
 * at all: sockopt.c learns of them when the application sets them.
 * 0, or -EOPNOTSUPP with why filled.
 */
int fs_sibling_refuses(int src, char *why, size_t whylen)
{
	char ulp[32];
	socklen_t n = 0, ulen = sizeof(ulp);

	if (fs_real.getsockopt(src, SOL_SOCKET, SO_GET_FILTER, NULL, &n) < 0 ?
	    errno == EACCES : n != 0) {
		snprintf(why, whylen, "the listening socket has a socket filter");
		return -EOPNOTSUPP;
	}
	memset(ulp, 0, sizeof(ulp));
	if (fs_real.getsockopt(src, IPPROTO_TCP, TCP_ULP, ulp, &ulen) == 0 && ulp[0]) {
		snprintf(why, whylen, "the listening socket has the ULP \"%.16s\"",
			 ulp);
		return -EOPNOTSUPP;
	}
	return 0;
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
	return fs_sibling_refuses(src, why, whylen);
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
	unsigned long long limit;
	int one = 1, s, rc;

	*local_fd = -1;
	if (getsockname(lfd, (struct sockaddr *)&ss, &sslen) < 0) {
		rc = -errno;
		snprintf(why, whylen, "getsockname: %s", strerror(errno));
		return rc;
	}
	s = fs_real.socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		   IPPROTO_TCP);
	if (s < 0) {
		rc = -errno;
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return rc;
	}
	if (!fs_fd_in_room(s, &limit)) {
		snprintf(why, whylen,
			 "fd %d: fewer than half of RLIMIT_NOFILE (%llu) free",
			 s, limit);
		fs_real.close(s);
		return -EMFILE;
	}
	if (fs_real.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		rc = -errno;
		snprintf(why, whylen, "SO_REUSEPORT: %s", strerror(errno));
		goto fail;
	}
	if (fs_real.setsockopt(s, SOL_SOCKET, SO_INCOMING_CPU, &cpu, sizeof(cpu)) < 0) {
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

bool fs_fd_in_room(int fd, unsigned long long *limit)
{
	struct rlimit rl;

	*limit = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return true;
	*limit = (unsigned long long)rl.rlim_cur;
	return fd >= 0 && (rlim_t)fd < rl.rlim_cur / 2;
}

bool fs_sibling_migrate_req(void)
{
	char c = '0';
	int fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = '0';
	fs_real.close(fd);
	return c == '1';
}
