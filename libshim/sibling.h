/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sibling.h - the userspace fallback: a CPU-local listener made without the
 * module.
 *
 * A sibling of the listening socket: a new TCP socket with SO_REUSEPORT
 * and SO_INCOMING_CPU set to the worker's CPU, the options of the
 * original that accepted connections inherit, bound to the original's
 * address and listening with its backlog. It joins the original's
 * SO_REUSEPORT group; kernels with the SO_INCOMING_CPU reuseport fix (6.2,
 * backported to Debian's 6.1) then hand it the connections whose SYN was
 * processed on that CPU.
 */
#ifndef FASTSOCKET_SIBLING_H
#define FASTSOCKET_SIBLING_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Make the sibling of listening socket lfd for cpu. Returns 0 and the new
 * non-blocking, close-on-exec fd in *local_fd, or a negative errno and a
 * human explanation in why[whylen].
 */
int fs_sibling_spawn(int lfd, int cpu, int backlog, int *local_fd, char *why,
		  size_t whylen);

/*
 * Copy the options of src that matter to dst (a fresh socket of the same
 * family). 0, or a negative errno with why filled when an option src has
 * changed from its default cannot be given to dst.
 */
int fs_sibling_copy_options(int src, int dst, int family, char *why,
			 size_t whylen);

/*
 * 0, or -EOPNOTSUPP with why filled when listening socket src has what
 * no sibling may lack and none can be given: a socket filter, a ULP.
 */
int fs_sibling_refuses(int src, char *why, size_t whylen);

/*
 * net.ipv4.tcp_migrate_req is 1 here: a closed listener's queued
 * connections move to another member of its group instead of a reset.
 */
bool fs_sibling_migrate_req(void);

/*
 * May a local listener (sibling or module copy) take fd number fd? The
 * application's own fds come first (D28): only while at least half of
 * RLIMIT_NOFILE is free. *limit: the limit, for messages.
 */
bool fs_fd_in_room(int fd, unsigned long long *limit);

#endif /* FASTSOCKET_SIBLING_H */
