// SPDX-License-Identifier: GPL-2.0
/*
 * fsktest: drives /dev/fastsocket directly for the VM tests.
 *
 *   fsktest info
 *   fsktest server [options]   listening socket + workers with local listeners
 *   fsktest client [options]   bounded connections from one CPU, one at a
 *                              time or --inflight N at once
 *   fsktest spawn-as-user UID PORT   root binds PORT, a child setuid(UID) spawns
 *
 * Every run is bounded by a count and a timeout; results are printed as
 * key=value lines the shell tests parse.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fastsocket.h>

#include "fsk-check.h"

#define MAX_WORKERS 64

static void die(const char *what)
{
	fprintf(stderr, "fsktest: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static int fsk_spawn(int fd, int cpu, int *out_cpu)
{
	struct fastsocket_spawn s = { .fd = fd, .cpu = cpu };
	int dev = open(FASTSOCKET_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	int ret;

	if (dev < 0)
		return -1;
	ret = ioctl(dev, FASTSOCKET_IOC_SPAWN, &s);
	close(dev);
	if (ret)
		return -1;
	if (out_cpu)
		*out_cpu = s.cpu;
	watch(s.local_fd);
	return s.local_fd;
}

static int cmd_info(void)
{
	struct fastsocket_info info;
	int dev = open(FASTSOCKET_DEVICE_PATH, O_RDWR);

	if (dev < 0)
		die(FASTSOCKET_DEVICE_PATH);
	memset(&info, 0, sizeof(info));
	if (ioctl(dev, FASTSOCKET_IOC_INFO, &info))
		die("FASTSOCKET_IOC_INFO");
	printf("abi_version=%u\nfeatures=%#x\nenable_listen_spawn=%u\n"
	       "enable_fast_epoll=%u\nenable_receive_flow_deliver=%u\n"
	       "nr_cpu_ids=%u\n", info.abi_version, info.features,
	       info.enable_listen_spawn, info.enable_fast_epoll,
	       info.enable_receive_flow_deliver, info.nr_cpu_ids);
	return 0;
}

/* An address from "4", "6", "dual" or a literal; port in host order. */
static socklen_t make_addr(const char *spec, int port,
			   struct sockaddr_storage *ss, int *v6only)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	*v6only = -1;
	if (!strcmp(spec, "4"))
		spec = "0.0.0.0";
	if (!strcmp(spec, "6")) {
		spec = "::";
		*v6only = 1;
	} else if (!strcmp(spec, "dual")) {
		spec = "::";
		*v6only = 0;
	}
	if (inet_pton(AF_INET, spec, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return sizeof(*in);
	}
	if (inet_pton(AF_INET6, spec, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return sizeof(*in6);
	}
	fprintf(stderr, "fsktest: bad address %s\n", spec);
	exit(2);
}

/* State shared by all workers (processes or threads). */
struct shared {
	atomic_int ready;
	atomic_long accepted, via_local, via_orig, cpu_match;
	atomic_long per_worker[MAX_WORKERS];
	atomic_int stop;
};

struct server {
	const char *addr;
	int port, workers, expect, timeout, backlog;
	bool threads, reuseport, spawn_optional;
	int respawn_every;	/* close and re-spawn the local listener */
	const char *spawn;	/* none, cpu, current, auto */
	int cpus[MAX_WORKERS], ncpus;
	int listen_fd;
	struct shared *sh;
};

static int server_listen(struct server *srv)
{
	struct sockaddr_storage ss;
	int one = 1, v6only, fd;
	socklen_t len = make_addr(srv->addr, srv->port, &ss, &v6only);

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (srv->reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		die("SO_REUSEPORT");
	if (v6only >= 0 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
		die("IPV6_V6ONLY");
	if (bind(fd, (struct sockaddr *)&ss, len))
		die("bind");
	if (listen(fd, srv->backlog))
		die("listen");
	return fd;
}

/* Accept everything pending on @fd; count where it came from. */
static void drain(struct server *srv, int w, int fd, bool local)
{
	struct shared *sh = srv->sh;
	int c, in_cpu;
	socklen_t len;

	while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		len = sizeof(in_cpu);
		if (getsockopt(c, SOL_SOCKET, SO_INCOMING_CPU, &in_cpu, &len))
			in_cpu = -1;
		atomic_fetch_add(&sh->accepted, 1);
		atomic_fetch_add(&sh->per_worker[w], 1);
		atomic_fetch_add(local ? &sh->via_local : &sh->via_orig, 1);
		if (in_cpu == sched_getcpu())
			atomic_fetch_add(&sh->cpu_match, 1);
		close(c);
	}
}

/* The worker's local listener, or -1 (spawn "none", or optional and failed). */
static int worker_spawn(struct server *srv, int w, int cpu)
{
	int local, got_cpu = -1, req;

	if (!strcmp(srv->spawn, "none"))
		return -1;
	req = !strcmp(srv->spawn, "cpu") ? cpu :
	      !strcmp(srv->spawn, "current") ? FASTSOCKET_CPU_CURRENT :
	      FASTSOCKET_CPU_AUTO;
	local = fsk_spawn(srv->listen_fd, req, &got_cpu);
	if (local < 0) {
		if (srv->spawn_optional)
			return -1;
		die("FASTSOCKET_IOC_SPAWN");
	}
	if (!srv->respawn_every)
		fprintf(stderr, "worker %d: local listener fd %d on cpu %d (running on %d)\n",
			w, local, got_cpu, sched_getcpu());
	return local;
}

static void worker(struct server *srv, int w)
{
	int cpu = srv->ncpus ? srv->cpus[w % srv->ncpus] : w;
	long mine = 0, last = 0;
	struct pollfd pfd[2];
	int local;

	if (strcmp(srv->spawn, "auto"))
		pin(cpu);
	local = worker_spawn(srv, w, cpu);
	fcntl(srv->listen_fd, F_SETFL, O_NONBLOCK);
	atomic_fetch_add(&srv->sh->ready, 1);
	pfd[1] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
	while (!atomic_load(&srv->sh->stop)) {
		pfd[0] = (struct pollfd){ .fd = local, .events = POLLIN };
		if (poll(pfd, 2, 100) > 0) {
			if (local >= 0)
				drain(srv, w, local, true);
			drain(srv, w, srv->listen_fd, false);
		}
		mine = atomic_load(&srv->sh->per_worker[w]);
		if (srv->respawn_every && mine - last >= srv->respawn_every) {
			last = mine;
			if (local >= 0)
				close(local);
			local = worker_spawn(srv, w, cpu);
		}
	}
	if (local >= 0)
		close(local);
}

static void *worker_thread(void *arg)
{
	struct server *srv = ((void **)arg)[0];
	long w = (long)((void **)arg)[1];

	worker(srv, (int)w);
	return NULL;
}

static void parse_cpus(struct server *srv, char *list)
{
	char *tok, *save;

	for (tok = strtok_r(list, ",", &save); tok && srv->ncpus < MAX_WORKERS;
	     tok = strtok_r(NULL, ",", &save))
		srv->cpus[srv->ncpus++] = atoi(tok);
}

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* Until --expect connections, --timeout, or SIGTERM (then report). */
static void server_wait(struct server *srv, const char *ready_file)
{
	double end = now() + srv->timeout;
	bool announced = false;
	FILE *f;

	signal(SIGTERM, on_term);
	while (now() < end && !got_term) {
		if (!announced && atomic_load(&srv->sh->ready) == srv->workers) {
			announced = true;
			if (ready_file) {
				f = fopen(ready_file, "w");
				if (f)
					fclose(f);
			}
			printf("ready\n");
			fflush(stdout);
		}
		if (srv->expect && atomic_load(&srv->sh->accepted) >= srv->expect)
			break;
		usleep(20000);
	}
	atomic_store(&srv->sh->stop, 1);
}

static int cmd_server(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", 1, 0, 'a' }, { "port", 1, 0, 'p' },
		{ "workers", 1, 0, 'w' }, { "threads", 0, 0, 't' },
		{ "spawn", 1, 0, 's' }, { "cpus", 1, 0, 'c' },
		{ "expect", 1, 0, 'e' }, { "timeout", 1, 0, 'T' },
		{ "ready", 1, 0, 'r' }, { "no-reuseport", 0, 0, 'N' },
		{ "backlog", 1, 0, 'b' }, { "spawn-optional", 0, 0, 'O' },
		{ "respawn-every", 1, 0, 'R' }, { 0 }
	};
	struct server srv = { .addr = "4", .port = 8080, .workers = 2,
			      .timeout = 60, .backlog = 1024, .reuseport = true,
			      .spawn = "cpu" };
	pthread_t tids[MAX_WORKERS];
	void *args[MAX_WORKERS][2];
	const char *ready_file = NULL;
	pid_t pids[MAX_WORKERS];
	long w, lost = 0;
	int o, status;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'a': srv.addr = optarg; break;
		case 'p': srv.port = atoi(optarg); break;
		case 'w': srv.workers = atoi(optarg); break;
		case 't': srv.threads = true; break;
		case 's': srv.spawn = optarg; break;
		case 'c': parse_cpus(&srv, optarg); break;
		case 'e': srv.expect = atoi(optarg); break;
		case 'T': srv.timeout = atoi(optarg); break;
		case 'r': ready_file = optarg; break;
		case 'N': srv.reuseport = false; break;
		case 'b': srv.backlog = atoi(optarg); break;
		case 'O': srv.spawn_optional = true; break;
		case 'R': srv.respawn_every = atoi(optarg); break;
		default: return 2;
		}
	}
	if (srv.workers < 1 || srv.workers > MAX_WORKERS)
		return fprintf(stderr, "fsktest: 1..%d workers\n", MAX_WORKERS), 2;
	srv.sh = mmap(NULL, sizeof(*srv.sh), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (srv.sh == MAP_FAILED)
		die("mmap");
	srv.listen_fd = server_listen(&srv);
	for (w = 0; w < srv.workers; w++) {
		if (srv.threads) {
			args[w][0] = &srv;
			args[w][1] = (void *)w;
			if (pthread_create(&tids[w], NULL, worker_thread, args[w]))
				die("pthread_create");
			continue;
		}
		pids[w] = fork();
		if (pids[w] < 0)
			die("fork");
		if (pids[w] == 0) {
			worker(&srv, (int)w);
			_exit(0);
		}
	}
	server_wait(&srv, ready_file);
	for (w = 0; w < srv.workers; w++) {
		if (srv.threads) {
			pthread_join(tids[w], NULL);
		} else if (waitpid(pids[w], &status, 0) < 0 ||
			   !WIFEXITED(status) || WEXITSTATUS(status)) {
			lost++;	/* killed on purpose by some tests */
		}
	}
	drain(&srv, 0, srv.listen_fd, false);
	printf("accepted=%ld\nvia_local=%ld\nvia_orig=%ld\ncpu_match=%ld\nworkers_lost=%ld\n",
	       atomic_load(&srv.sh->accepted), atomic_load(&srv.sh->via_local),
	       atomic_load(&srv.sh->via_orig), atomic_load(&srv.sh->cpu_match),
	       lost);
	for (w = 0; w < srv.workers; w++)
		printf("worker%ld=%ld\n", w, atomic_load(&srv.sh->per_worker[w]));
	return 0;
}

/*
 * Loopback clients bind a random 127.x.y.z source: with one source address
 * the server's TIME_WAIT sockets (it closes first) would soon collide with
 * reused client ports, and the kernel answers some of those SYNs with a
 * reset whatever listener is in use.
 */
static void bind_spread_source(int fd, const struct sockaddr_storage *dst)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)dst;
	struct sockaddr_in src = { .sin_family = AF_INET };

	if (dst->ss_family != AF_INET ||
	    (ntohl(in->sin_addr.s_addr) >> 24) != 127)
		return;
	src.sin_addr.s_addr = htonl(0x7f000000 | (1 + random() % 0xfffffe));
	bind(fd, (struct sockaddr *)&src, sizeof(src));
}

/*
 * What a client saw. SO_INCOMING_CPU is the CPU that last processed a
 * segment of the connection: the SYN-ACK after connect, the server's FIN
 * after the response; "_cpu" counts those equal to the pinned CPU.
 */
struct client_stats {
	long ok, failed, resets, connect_cpu, response_cpu;
};

static bool on_cpu(int fd, int cpu)
{
	socklen_t len = sizeof(int);
	int in = -1;

	return cpu >= 0 &&
	       !getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &in, &len) &&
	       in == cpu;
}

static void client_failed(struct client_stats *st, const char *step,
			  int err, bool data)
{
	fprintf(stderr, "fsktest client: connection failed: %s: %s\n", step,
		data ? "unexpected data" : strerror(err));
	st->failed++;
	if (err == ECONNRESET || err == ECONNREFUSED)
		st->resets++;
}

/* One connection: connect, wait for the server's close. */
static void one_connection(const struct sockaddr_storage *ss, socklen_t len,
			   int cpu, struct client_stats *st)
{
	struct timeval tv = { .tv_sec = 20 };
	const char *step = "socket";
	char buf[16];
	ssize_t n = 0;
	int fd;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	bind_spread_source(fd, ss);
	step = "connect";
	if (connect(fd, (const struct sockaddr *)ss, len))
		goto fail;
	st->connect_cpu += on_cpu(fd, cpu);
	step = "read";
	n = read(fd, buf, sizeof(buf));
	if (n)
		goto fail;
	st->response_cpu += on_cpu(fd, cpu);
	st->ok++;
	close(fd);
	return;
fail:
	client_failed(st, step, errno, n > 0);
	if (fd >= 0)
		close(fd);
}

/* --inflight: up to MAX_INFLIGHT non-blocking connections at once. */
#define MAX_INFLIGHT 1024

struct slot {
	int fd;			/* -1: free */
	bool connected;		/* else connecting */
	double deadline;	/* 20 s per connection, as one_connection() */
};

static void slot_close(int ep, struct slot *sl)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, sl->fd, NULL);
	close(sl->fd);
	sl->fd = -1;
}

/* Start a connection in @sl; false if it failed at once (counted). */
static bool slot_open(int ep, struct slot *sl, const struct sockaddr_storage *ss,
		      socklen_t len, struct client_stats *st)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = sl };

	sl->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sl->fd < 0) {
		client_failed(st, "socket", errno, false);
		return false;
	}
	bind_spread_source(sl->fd, ss);
	if (connect(sl->fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS) {
		client_failed(st, "connect", errno, false);
		close(sl->fd);
		sl->fd = -1;
		return false;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sl->fd, &ev))
		die("epoll_ctl");
	sl->connected = false;
	sl->deadline = now() + 20;
	return true;
}

/* @sl is ready: its connect finished or its server closed. */
static void slot_event(int ep, struct slot *sl, int cpu, struct client_stats *st)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = sl };
	socklen_t elen = sizeof(int);
	char buf[16];
	int err = 0;
	ssize_t n;

	if (!sl->connected) {
		getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (err) {
			client_failed(st, "connect", err, false);
			slot_close(ep, sl);
			return;
		}
		st->connect_cpu += on_cpu(sl->fd, cpu);
		sl->connected = true;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, sl->fd, &ev))
			die("epoll_ctl");
		return;
	}
	n = read(sl->fd, buf, sizeof(buf));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n) {
		client_failed(st, "read", errno, n > 0);
	} else {
		st->response_cpu += on_cpu(sl->fd, cpu);
		st->ok++;
	}
	slot_close(ep, sl);
}

/* Fail the connections past their deadline; the number still open. */
static int slots_reap(int ep, struct slot *slots, int inflight,
		      struct client_stats *st)
{
	double t = now();
	int i, open = 0;

	for (i = 0; i < inflight; i++) {
		if (slots[i].fd < 0)
			continue;
		if (t > slots[i].deadline) {
			client_failed(st, slots[i].connected ? "read" : "connect",
				      ETIMEDOUT, false);
			slot_close(ep, &slots[i]);
			continue;
		}
		open++;
	}
	return open;
}

static bool client_stopped(const char *stop_file, double end)
{
	return now() >= end || (stop_file && !access(stop_file, F_OK));
}

static void run_inflight(const struct sockaddr_storage *ss, socklen_t len,
			 int cpu, long count, int inflight, double end,
			 const char *stop_file, struct client_stats *st)
{
	static struct slot slots[MAX_INFLIGHT];
	struct epoll_event evs[64];
	long started = 0;
	int ep, i, n, open;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (i = 0; i < inflight; i++)
		slots[i].fd = -1;
	do {
		for (i = 0; i < inflight; i++)
			while (slots[i].fd < 0 && started < count &&
			       !client_stopped(stop_file, end)) {
				started++;
				slot_open(ep, &slots[i], ss, len, st);
			}
		n = epoll_wait(ep, evs, 64, 1000);
		for (i = 0; i < n; i++)
			slot_event(ep, evs[i].data.ptr, cpu, st);
		open = slots_reap(ep, slots, inflight, st);
	} while (open || (started < count && !client_stopped(stop_file, end)));
	close(ep);
}

static int cmd_client(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", 1, 0, 'a' }, { "port", 1, 0, 'p' },
		{ "cpu", 1, 0, 'c' }, { "count", 1, 0, 'n' },
		{ "timeout", 1, 0, 'T' }, { "stop-file", 1, 0, 'S' },
		{ "inflight", 1, 0, 'i' }, { 0 }
	};
	const char *addr = "127.0.0.1", *stop_file = NULL;
	int port = 8080, cpu = -1, timeout = 60, inflight = 1, o, v6only;
	struct client_stats st = { 0 };
	struct sockaddr_storage ss;
	long count = 100;
	socklen_t len;
	double end;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': cpu = atoi(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'T': timeout = atoi(optarg); break;
		case 'S': stop_file = optarg; break;
		case 'i': inflight = atoi(optarg); break;
		default: return 2;
		}
	}
	if (inflight < 1 || inflight > MAX_INFLIGHT)
		return fprintf(stderr, "fsktest: --inflight 1..%d\n", MAX_INFLIGHT), 2;
	if (cpu >= 0)
		pin(cpu);
	srandom(getpid() ^ (unsigned int)(now() * 1e6));
	len = make_addr(addr, port, &ss, &v6only);
	end = now() + timeout;
	if (inflight > 1)
		run_inflight(&ss, len, cpu, count, inflight, end, stop_file, &st);
	else
		while (st.ok + st.failed < count && !client_stopped(stop_file, end))
			one_connection(&ss, len, cpu, &st);
	printf("ok=%ld\nfailed=%ld\nresets=%ld\n", st.ok, st.failed, st.resets);
	if (cpu >= 0)
		printf("connect_cpu=%ld\nresponse_cpu=%ld\n", st.connect_cpu,
		       st.response_cpu);
	return st.failed ||
	       (st.ok != count && !(stop_file && !access(stop_file, F_OK)));
}

/* A root-bound port, a worker that dropped to @uid spawns on it. */
static int cmd_spawn_as_user(int argc, char **argv)
{
	struct server srv = { .addr = "4", .backlog = 16, .reuseport = true };
	int status, local;
	pid_t pid;

	if (argc < 3)
		return fprintf(stderr, "usage: spawn-as-user UID PORT\n"), 2;
	srv.port = atoi(argv[2]);
	srv.listen_fd = server_listen(&srv);
	pid = fork();
	if (pid == 0) {
		if (setgid(atoi(argv[1])) || setuid(atoi(argv[1])))
			die("setuid");
		local = fsk_spawn(srv.listen_fd, 0, NULL);
		if (local < 0) {
			printf("spawn_errno=%d\n", errno);
			_exit(1);
		}
		printf("spawn_ok uid=%d local_fd=%d\n", getuid(), local);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		goto usage;
	if (!strcmp(argv[1], "info"))
		return cmd_info();
	if (!strcmp(argv[1], "server"))
		return cmd_server(argc - 1, argv + 1);
	if (!strcmp(argv[1], "client"))
		return cmd_client(argc - 1, argv + 1);
	if (!strcmp(argv[1], "spawn-as-user"))
		return cmd_spawn_as_user(argc - 1, argv + 1);
usage:
	fprintf(stderr, "usage: fsktest info|server|client|spawn-as-user ...\n");
	return 2;
}
