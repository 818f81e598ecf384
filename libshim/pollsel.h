/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pollsel.h - poll, ppoll, select and pselect on a listening fd also wait
 * on the caller's local listener.
 */
#ifndef FASTSOCKET_POLLSEL_H
#define FASTSOCKET_POLLSEL_H

#include "real.h"

/* real: fs_real_poll or fs_real_ppoll (real.h). */
int fs_ppoll(struct pollfd *fds, nfds_t n, int timeout_ms,
	     const struct timespec *ts, const sigset_t *mask, fs_poll_fn real);

/* real: fs_real_select or fs_real_pselect (real.h). */
int fs_pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv,
	       const struct timespec *ts, const sigset_t *mask,
	       fs_select_fn real);

#endif /* FASTSOCKET_POLLSEL_H */
