/* SPDX-License-Identifier: GPL-2.0 */
/*
 * support.h - what the unit tests share: the shim's code is linked in
 * without interpose.c, fs_real points at libc, and the tests call the
 * fs_* entry points where an application would call libc.
 */
#ifndef FASTSOCKET_TEST_SUPPORT_H
#define FASTSOCKET_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdbool.h>
#include <sys/socket.h>

/* Fill fs_real with libc, run fs_shim_init() once, set a valid config. */
void t_init(void);

/* A valid configuration: mode, every port, the process's CPUs, log off. */
void t_config(int mode);

/*
 * Back to nothing managed, affinity as at start (spawning pins the
 * calling thread). For cmocka setup/teardown.
 */
int t_reset(void **state);

/* A free TCP port on loopback. */
int t_free_port(int family);

/*
 * A TCP socket bound through the shim (fs_bind) to a free loopback port
 * and listening through it (fs_listen); non-blocking if nonblock.
 * *port gets the port.
 */
int t_listener(int family, bool nonblock, int *port);

/* Connect to loopback port (blocking, 5 s timeouts); the fd. */
int t_connect(int family, int port);

/* Can this host bind to [::1]? (Some containers have no IPv6.) */
bool t_have_ipv6(void);

/* Is fd open? */
bool t_fd_open(int fd);

/* The process's CPUs at start. */
extern cpu_set_t t_affinity;

#endif
