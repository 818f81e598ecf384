// SPDX-License-Identifier: GPL-2.0
/*
 * fs_testcli - loopback clients for the host integration test.
 *
 * For every CPU it may run on, a child pinned to that CPU (so on loopback
 * the SYN is processed there) makes --per-cpu connections, one after the
 * other, to 127.0.0.1 (or ::1) port --port and reads fs_testsrv's line.
 * Prints one summary line of key=value pairs:
 *	total ok failed local client_cpu workers accept_cpus
 * local: the accepting worker ran on the connection's SO_INCOMING_CPU;
 * client_cpu: SO_INCOMING_CPU was the client's CPU. Bounded: 5 s timeouts
 * on every socket call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CPUS 64
#define MAX_WORKERS 64

struct result {
	int ok, failed, local, client_cpu;
	int worker[MAX_WORKERS];
	int accept_cpu[MAX_CPUS];
};

static int port, per_cpu = 200;
static bool v6;

/*
 * The server closes first, so it would keep the TIME_WAIT, and a client
 * port reused within 60 s would meet it: a SYN the module leaves to the
 * kernel ("existing"), whose reuseport pick may be another CPU's
 * listener. After the server's FIN, a reset ends its side at once and
 * leaves no TIME_WAIT on either; the server, already gone back to its
 * wait, is not held up (it was, when it waited for the client's FIN
 * instead: its local listener, out of poll or accept for that long,
 * lost SYNs as unwatched).
 */
static void abort_after_eof(int s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char buf[64];

	while (read(s, buf, sizeof(buf)) > 0)
		;
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s);
}

static int one_connection(int cpu, struct result *r, int *complaints)
{
	struct timeval tv = { 5, 0 };
	char buf[128];
	size_t got = 0;
	int s, acpu, icpu, worker, rc;

	s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (v6) {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_port = htons((uint16_t)port),
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT };

		rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	}
	if (rc < 0)
		goto fail;
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(s, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = '\0';
	if (sscanf(buf, "%d %d %d", &acpu, &icpu, &worker) != 3) {
		errno = EPROTO;
		goto fail;
	}
	abort_after_eof(s);
	r->ok++;
	if (acpu == icpu)
		r->local++;
	if (icpu == cpu)
		r->client_cpu++;
	if (worker >= 0 && worker < MAX_WORKERS)
		r->worker[worker]++;
	if (acpu >= 0 && acpu < MAX_CPUS)
		r->accept_cpu[acpu]++;
	return 0;
fail:
	if ((*complaints)++ < 5)
		fprintf(stderr, "fs_testcli: CPU %d: %s\n", cpu, strerror(errno));
	close(s);
	r->failed++;
	return -1;
}

int main(int argc, char **argv)
{
	struct result total;
	cpu_set_t aff;
	int pipes[MAX_CPUS][2], cpus[MAX_CPUS], ncpu = 0, workers = 0, acpus = 0;
	pid_t pids[MAX_CPUS];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--per-cpu") && i + 1 < argc)
			per_cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--v6"))
			v6 = true;
		else {
			fprintf(stderr, "usage: fs_testcli --port N [--per-cpu N] [--v6]\n");
			return 2;
		}
	}
	if (port <= 0 || per_cpu <= 0)
		return 2;
	if (sched_getaffinity(0, sizeof(aff), &aff) < 0)
		return 2;
	for (int c = 0; c < MAX_CPUS; c++)
		if (CPU_ISSET(c, &aff))
			cpus[ncpu++] = c;

	for (int i = 0; i < ncpu; i++) {
		if (pipe(pipes[i]) < 0)
			return 2;
		pids[i] = fork();
		if (pids[i] < 0)
			return 2;
		if (pids[i] == 0) {
			struct result r;
			cpu_set_t one;
			int complaints = 0;

			memset(&r, 0, sizeof(r));
			CPU_ZERO(&one);
			CPU_SET(cpus[i], &one);
			if (sched_setaffinity(0, sizeof(one), &one) < 0)
				_exit(2);
			for (int k = 0; k < per_cpu; k++)
				one_connection(cpus[i], &r, &complaints);
			if (write(pipes[i][1], &r, sizeof(r)) != sizeof(r))
				_exit(2);
			_exit(0);
		}
		close(pipes[i][1]);
	}
	memset(&total, 0, sizeof(total));
	for (int i = 0; i < ncpu; i++) {
		struct result r;
		int st;

		if (read(pipes[i][0], &r, sizeof(r)) != sizeof(r)) {
			memset(&r, 0, sizeof(r));
			r.failed = per_cpu;
		}
		waitpid(pids[i], &st, 0);
		total.ok += r.ok;
		total.failed += r.failed;
		total.local += r.local;
		total.client_cpu += r.client_cpu;
		for (int w = 0; w < MAX_WORKERS; w++)
			total.worker[w] += r.worker[w];
		for (int c = 0; c < MAX_CPUS; c++)
			total.accept_cpu[c] += r.accept_cpu[c];
	}
	for (int w = 0; w < MAX_WORKERS; w++)
		workers += total.worker[w] > 0;
	for (int c = 0; c < MAX_CPUS; c++)
		acpus += total.accept_cpu[c] > 0;
	printf("total=%d ok=%d failed=%d local=%d client_cpu=%d workers=%d accept_cpus=%d\n",
	       total.ok + total.failed, total.ok, total.failed, total.local,
	       total.client_cpu, workers, acpus);
	return 0;
}
