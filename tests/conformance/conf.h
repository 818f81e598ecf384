/* SPDX-License-Identifier: GPL-2.0 */
/*
 * conf.h - helpers for the conformance cases: each case is run once
 * plainly and once under libfastsocket.so; what it prints on stdout
 * ("R: ..." lines) and its exit status must be the same.
 *
 * Clients connect from a thread pinned to a CPU: on loopback the SYN is
 * handled on the sending CPU, so CPU 0's clients reach the local listener
 * of the first worker (the shim places it on CPU 0) and CPU 1's reach the
 * original listener.
 */
#ifndef CONF_H
#define CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

extern int conf_port;	/* the case's TCP port */

void R(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t now_ms(void);
void sleep_ms(int ms);

/* A listening TCP socket on 127.0.0.1:port (or [::] with v6). */
int mklisten(int port, int backlog);
int mksock_bound(int port);		/* bound, not listening */
/* A non-blocking accept that makes the first wait (the local listener). */
void prime(int fd);
/* Connect from CPU cpu; fd or -errno. timeout_ms bounds the handshake. */
int connect_from(int cpu, int port, int timeout_ms);
/* n connections from cpu, kept open in fds (fds may be NULL: closed). */
int connect_n(int cpu, int port, int n, int *fds, int timeout_ms);
/* Same, with a socket option applied before connect (TCP-MD5). */
int connect_md5(int cpu, int port, const char *key, int timeout_ms);
/* Accept (non-blocking, poll()ing) until want or quiet_ms of nothing. */
int drain_poll(int fd, int want, int quiet_ms);
/* Same, through an epoll set. */
int drain_epoll(int epfd, int fd, int want, int quiet_ms);
int set_nonblock(int fd, bool on);
int ncpus_allowed(void);
/* Run fn in a new thread and wait for it. */
void in_thread(void *(*fn)(void *), void *arg);

#define CHECK(x) do { if ((x) < 0) { R("FAIL %s: %m", #x); return 1; } } while (0)

struct conf_case {
	const char *name;
	int (*fn)(void);
};
extern const struct conf_case cases_a[], cases_b[], cases_c[];

#endif
