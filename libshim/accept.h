/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * accept.h - accept and accept4 on a managed listening fd.
 */
#ifndef FASTSOCKET_ACCEPT_H
#define FASTSOCKET_ACCEPT_H

#include "real.h"

/* real: fs_real_accept or fs_real_accept4 (real.h), used when the
 * worker has no local listener. */
int fs_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags,
	      fs_accept_fn real);

#endif /* FASTSOCKET_ACCEPT_H */
