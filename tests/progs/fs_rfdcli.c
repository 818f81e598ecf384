// SPDX-License-Identifier: GPL-2.0
/*
 * fs_rfdcli - outgoing connections from pinned threads, for the RFD host
 * test (tests/host/t-rfd.sh).
 *
 * One thread per CPU it may run on, pinned there; once all are pinned,
 * each opens --per-cpu connections to its own loopback listener (so the
 * threads never compete for a 4-tuple) and keeps them all open until
 * every thread is done, then reads each one's local port. Listeners are
 * made with raw system calls, out of the shim's sight, on ports below
 * the ephemeral range (run it in a fresh network namespace).
 *
 * --layout LO-HI/N	the layout to judge ports by (FASTSOCKET_RFD_LAYOUT's
 *			syntax); default: FASTSOCKET_RFD_LAYOUT
 * --bind explicit|zero|noport
 *			bind each socket first: to its own port 20000+ (kept?),
 *			to port 0, or to port 0 with IP_BIND_ADDRESS_NO_PORT
 * --app-range LO-HI	set IP_LOCAL_PORT_RANGE itself before connect
 * --nonblock		non-blocking connect (EINPROGRESS, then poll)
 * --fastopen sendto|sendmsg|sendmmsg
 *			connect with one byte through sendto(), sendmsg() or
 *			sendmmsg() with MSG_FASTOPEN instead of connect()
 * --listen-first	first listen on 127.0.0.1:9999 through libc, as a
 *			proxy listens before it connects: the shim probes the
 *			module then and takes its port blocks (--layout then
 *			says what the test expects the module's to be)
 * -6			IPv6 (::1)
 *
 * Prints one line of key=value pairs:
 *	threads conns failed inblock owned_other unowned kept inrange
 *	range_kept einprogress
 * inblock: local port in the block of the thread's CPU; owned_other: in
 * another CPU's block; unowned: in none; kept: explicit port kept;
 * inrange: in --app-range; range_kept: getsockopt(IP_LOCAL_PORT_RANGE)
 * still the application's value after connect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/fastsocket.h>

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_THREADS 64

enum bind_how { B_NONE, B_EXPLICIT, B_ZERO, B_NOPORT };
enum open_how { O_CONNECT, O_SENDTO, O_SENDMSG, O_SENDMMSG };

static int per_cpu = 100, family = AF_INET, bind_how = B_NONE;
static int open_how = O_CONNECT;
static bool nonblock, listen_first;
static unsigned int lay_lo, lay_block, lay_n;
static unsigned int app_lo, app_hi;
static pthread_barrier_t pinned, done;

struct worker {
	pthread_t t;
	int cpu, index, lport;
	int *fds;
	int conns, failed, inblock, owned_other, unowned, kept, inrange;
	int range_kept, einprogress;
};

static void die(const char *what)
{
	fprintf(stderr, "fs_rfdcli: %s: %s\n", what, strerror(errno));
	exit(2);
}

static socklen_t addr_of(int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons((uint16_t)port);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s4->sin_port = htons((uint16_t)port);
	return sizeof(*s4);
}

static int port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* A listener the shim never sees: raw system calls. */
static int raw_listener(int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_of(port, &ss);
	int fd = (int)syscall(SYS_socket, family, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (syscall(SYS_bind, fd, &ss, len) < 0)
		die("bind listener");
	if (syscall(SYS_listen, fd, per_cpu + 64) < 0)
		die("listen");
	return fd;
}

/* connect(), or a TCP Fast Open connect carrying one byte: 0 or -1. */
static int open_one(int fd, struct sockaddr_storage *ss, socklen_t len)
{
	static char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = {
		.msg_name = ss, .msg_namelen = len, .msg_iov = &iov,
		.msg_iovlen = 1,
	};

	switch (open_how) {
	case O_SENDTO:
		return sendto(fd, &byte, 1, MSG_FASTOPEN,
			      (struct sockaddr *)ss, len) == 1 ? 0 : -1;
	case O_SENDMSG:
		return sendmsg(fd, &m, MSG_FASTOPEN) == 1 ? 0 : -1;
	case O_SENDMMSG: {
		struct mmsghdr mm = { .msg_hdr = m };

		return sendmmsg(fd, &mm, 1, MSG_FASTOPEN) == 1 &&
		       mm.msg_len == 1 ? 0 : -1;
	}
	default:
		return connect(fd, (struct sockaddr *)ss, len);
	}
}

static int connect_one(struct worker *w, int i)
{
	struct sockaddr_storage ss, me;
	socklen_t len, ml = sizeof(me);
	int fd, one = 1, bport = 0;

	fd = socket(family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	if (app_hi) {
		uint32_t v = app_hi << 16 | app_lo;

		if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v,
			       sizeof(v)) < 0)
			goto fail;
	}
	if (bind_how == B_NOPORT &&
	    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		       sizeof(one)) < 0)
		goto fail;
	if (bind_how != B_NONE) {
		bport = bind_how == B_EXPLICIT ?
			20000 + w->index * 1000 + i : 0;
		len = addr_of(bport, &ss);
		if (bind(fd, (struct sockaddr *)&ss, len) < 0)
			goto fail;
	}
	len = addr_of(w->lport, &ss);
	if (open_one(fd, &ss, len) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t el = sizeof(err);

		if (!nonblock || errno != EINPROGRESS)
			goto fail;
		w->einprogress++;
		if (poll(&p, 1, 5000) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
			goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0)
		goto fail;
	int p = port_of(&me);
	int owner = fastsocket_rfd_owner((__u16)p, (__u16)lay_lo, lay_block,
					 lay_n);

	if (owner == w->cpu)
		w->inblock++;
	else if (owner >= 0)
		w->owned_other++;
	else
		w->unowned++;
	if (bind_how == B_EXPLICIT && p == bport)
		w->kept++;
	if (app_hi) {
		uint32_t v = 0;
		socklen_t vl = sizeof(v);

		if ((unsigned int)p >= app_lo && (unsigned int)p <= app_hi)
			w->inrange++;
		if (getsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, &vl) == 0 &&
		    v == (app_hi << 16 | app_lo))
			w->range_kept++;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		fprintf(stderr, "fs_rfdcli: cannot pin to CPU %d\n", w->cpu);
		exit(2);
	}
	/* Every thread pinned before any connects: none of them sees an
	 * affinity change after its first connect (the syscall count). */
	pthread_barrier_wait(&pinned);
	for (int i = 0; i < per_cpu; i++) {
		w->fds[i] = connect_one(w, i);
		if (w->fds[i] < 0)
			w->failed++;
		else
			w->conns++;
	}
	pthread_barrier_wait(&done);
	for (int i = 0; i < per_cpu; i++)
		if (w->fds[i] >= 0)
			close(w->fds[i]);
	return NULL;
}

static void parse_layout(const char *s)
{
	unsigned int lo, hi, n;

	if (!s || sscanf(s, "%u-%u/%u", &lo, &hi, &n) != 3 || n == 0 ||
	    hi < lo) {
		fprintf(stderr, "fs_rfdcli: no layout (--layout LO-HI/N)\n");
		exit(2);
	}
	lay_lo = lo;
	lay_n = n;
	lay_block = (hi - lo + 1) / n;
}

/* A listener the shim sees (socket, bind, listen through libc). */
static void libc_listener(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(s, 16) < 0)
		die("libc listener");
}

int main(int argc, char **argv)
{
	struct worker w[MAX_THREADS];
	const char *layout = getenv("FASTSOCKET_RFD_LAYOUT");
	cpu_set_t aff;
	int nw = 0;
	struct worker sum = { 0 };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--per-cpu") && v) {
			per_cpu = atoi(v);
			i++;
		} else if (!strcmp(a, "--layout") && v) {
			layout = v;
			i++;
		} else if (!strcmp(a, "--bind") && v) {
			bind_how = !strcmp(v, "explicit") ? B_EXPLICIT :
				   !strcmp(v, "zero") ? B_ZERO :
				   !strcmp(v, "noport") ? B_NOPORT : -1;
			if (bind_how < 0) {
				fprintf(stderr, "fs_rfdcli: --bind explicit|zero|noport\n");
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--app-range") && v) {
			if (sscanf(v, "%u-%u", &app_lo, &app_hi) != 2 ||
			    app_lo > app_hi || app_hi > 65535) {
				fprintf(stderr, "fs_rfdcli: --app-range LO-HI\n");
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--fastopen") && v) {
			open_how = !strcmp(v, "sendto") ? O_SENDTO :
				   !strcmp(v, "sendmsg") ? O_SENDMSG :
				   !strcmp(v, "sendmmsg") ? O_SENDMMSG : -1;
			if (open_how < 0) {
				fprintf(stderr, "fs_rfdcli: --fastopen sendto|sendmsg|sendmmsg\n");
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--nonblock")) {
			nonblock = true;
		} else if (!strcmp(a, "--listen-first")) {
			listen_first = true;
		} else if (!strcmp(a, "-6")) {
			family = AF_INET6;
		} else {
			fprintf(stderr, "usage: fs_rfdcli [--per-cpu K] [--layout LO-HI/N] [--bind explicit|zero|noport] [--app-range LO-HI] [--nonblock] [--fastopen sendto|sendmsg|sendmmsg] [--listen-first] [-6]\n");
			return 2;
		}
	}
	parse_layout(layout);
	if (listen_first)
		libc_listener(9999);
	if (per_cpu < 1 || per_cpu > 900)
		per_cpu = 100;
	if (sched_getaffinity(0, sizeof(aff), &aff) < 0)
		die("sched_getaffinity");
	for (int c = 0; c < CPU_SETSIZE && nw < MAX_THREADS; c++) {
		if (!CPU_ISSET(c, &aff))
			continue;
		memset(&w[nw], 0, sizeof(w[nw]));
		w[nw].cpu = c;
		w[nw].index = nw;
		w[nw].lport = 10000 + nw;
		w[nw].fds = calloc((size_t)per_cpu, sizeof(int));
		if (!w[nw].fds)
			die("calloc");
		raw_listener(w[nw].lport);
		nw++;
	}
	pthread_barrier_init(&pinned, NULL, (unsigned int)nw);
	pthread_barrier_init(&done, NULL, (unsigned int)nw);
	for (int i = 0; i < nw; i++)
		if (pthread_create(&w[i].t, NULL, run, &w[i]) != 0)
			die("pthread_create");
	for (int i = 0; i < nw; i++) {
		pthread_join(w[i].t, NULL);
		sum.conns += w[i].conns;
		sum.failed += w[i].failed;
		sum.inblock += w[i].inblock;
		sum.owned_other += w[i].owned_other;
		sum.unowned += w[i].unowned;
		sum.kept += w[i].kept;
		sum.inrange += w[i].inrange;
		sum.range_kept += w[i].range_kept;
		sum.einprogress += w[i].einprogress;
	}
	printf("threads=%d conns=%d failed=%d inblock=%d owned_other=%d unowned=%d kept=%d inrange=%d range_kept=%d einprogress=%d\n",
	       nw, sum.conns, sum.failed, sum.inblock, sum.owned_other,
	       sum.unowned, sum.kept, sum.inrange, sum.range_kept,
	       sum.einprogress);
	return sum.failed ? 1 : 0;
}
