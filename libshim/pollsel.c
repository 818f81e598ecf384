// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pollsel.c - poll and select see the local listener as the listening
 * fd: it is added to the set for the call, and its readiness is folded
 * into the listening fd's.
 */
#include "pollsel.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fdmap.h"
#include "listener.h"
#include "local.h"
#include "log.h"
#include "park.h"

/* ---- poll ---------------------------------------------------------- */

#define POLL_STACK	64
#define READ_EVENTS	(POLLIN | POLLRDNORM)
#define IDLE_MAX	4

static bool wants_local(const struct pollfd *p, fs_ent *e)
{
	if (p->fd < 0 || !(p->events & READ_EVENTS))
		return false;
	*e = fs_fdmap_get(p->fd);
	return fs_ent_kind(*e) == FS_K_LISTEN;
}

/*
 * The index map: the caller's n entries are copied first, unchanged, and
 * each listening fd read for gets one extra entry after them, its local
 * listener; map[k] is the caller's index that extra entry k stands for.
 * After the call the extras' read events are OR'ed into those entries and
 * the count of ready entries is recomputed over the caller's n only, so
 * the application never sees an fd it did not pass.
 */
int fs_ppoll(struct pollfd *fds, nfds_t n, int timeout_ms,
	     const struct timespec *ts, const sigset_t *mask, fs_poll_fn real)
{
	struct pollfd pstack[POLL_STACK], *p = pstack;
	nfds_t mstack[POLL_STACK], *map = mstack, extra = 0, k = 0;
	fs_ent e;
	int rc, err;

	fs_wait_hook();
	if (atomic_load_explicit(&fs_nlisteners, memory_order_relaxed) == 0 ||
	    !fds || n == 0)
		return real(fds, n, timeout_ms, ts, mask);
	for (nfds_t i = 0; i < n; i++)
		if (wants_local(&fds[i], &e))
			extra++;
	if (!extra)
		return real(fds, n, timeout_ms, ts, mask);
	if (n + extra > POLL_STACK) {
		p = malloc((n + extra) * sizeof(*p));
		map = malloc(extra * sizeof(*map));
		if (!p || !map) {
			free(p);
			free(map);
			return real(fds, n, timeout_ms, ts, mask);
		}
	}
	memcpy(p, fds, n * sizeof(*p));
	for (nfds_t i = 0; i < n; i++) {
		struct fs_local *loc;
		int lfd;

		if (!wants_local(&fds[i], &e))
			continue;
		loc = fs_wait_local(e, fds[i].fd);
		lfd = loc ? atomic_load(&loc->fd) : -1;
		if (lfd < 0)
			continue;
		p[n + k].fd = lfd;
		p[n + k].events = fds[i].events & READ_EVENTS;
		p[n + k].revents = 0;
		map[k++] = i;
		/* Other threads' idle local listeners of the same socket (one
		 * that only waits, an orphan): their connections are this
		 * socket's too, and accept takes from them (accept.c). */
		if (p == pstack && n + k + IDLE_MAX <= POLL_STACK) {
			int o[IDLE_MAX], no = fs_locals_others(loc, true, o,
							       IDLE_MAX);

			for (int j = 0; j < no; j++) {
				p[n + k].fd = o[j];
				p[n + k].events = fds[i].events & READ_EVENTS;
				p[n + k].revents = 0;
				map[k++] = i;
			}
		}
	}
	rc = real(p, n + k, timeout_ms, ts, mask);
	if (rc < 0 && errno == EINVAL && k > 0) {
		/* The extra entries took nfds over RLIMIT_NOFILE: this call
		 * goes without them, as the application made it. */
		if (p != pstack) {
			free(p);
			free(map);
		}
		return real(fds, n, timeout_ms, ts, mask);
	}
	err = errno;
	if (rc >= 0) {
		rc = 0;
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = p[i].revents;
		for (nfds_t j = 0; j < k; j++)
			fds[map[j]].revents |= (short)(p[n + j].revents &
						       fds[map[j]].events &
						       READ_EVENTS);
		for (nfds_t i = 0; i < n; i++)
			if (fds[i].revents)
				rc++;
	}
	if (p != pstack) {
		free(p);
		free(map);
	}
	errno = err;
	return rc;
}

/* ---- select -------------------------------------------------------- */

#define SELECT_PAIRS	64

/* Clear the bits of set from fd lo up. */
static void clear_from(fd_set *set, int lo)
{
	for (int fd = lo; fd < FD_SETSIZE; fd++)
		FD_CLR(fd, set);
}

/*
 * Give the application what the kernel would have written for nfds: the
 * words covering fds 0 .. nfds-1, no more (bits above stay as they were;
 * a set smaller than fd_set is not overrun).
 */
static void copy_out(fd_set *dst, const fd_set *src, int nfds)
{
	size_t bits = 8 * sizeof(unsigned long);
	size_t words = ((size_t)nfds + bits - 1) / bits;

	memcpy(dst, src, words * sizeof(unsigned long));
}

int fs_pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv,
	       const struct timespec *ts, const sigset_t *mask,
	       fs_select_fn real)
{
	struct { int fd, lfd; } pairs[SELECT_PAIRS];
	fd_set rr, wc, xc;
	int np = 0, top, rc, err;

	fs_wait_hook();
	if (atomic_load_explicit(&fs_nlisteners, memory_order_relaxed) == 0 ||
	    !r || nfds <= 0 || nfds > FD_SETSIZE)
		return real(nfds, r, w, x, tv, ts, mask);
	for (int fd = 0; fd < nfds && np < SELECT_PAIRS; fd++) {
		struct fs_local *loc;
		fs_ent e;
		int lfd;

		if (!FD_ISSET(fd, r))
			continue;
		e = fs_fdmap_get(fd);
		if (fs_ent_kind(e) != FS_K_LISTEN)
			continue;
		loc = fs_wait_local(e, fd);
		lfd = loc ? atomic_load(&loc->fd) : -1;
		if (lfd < 0)
			continue;
		if (lfd >= FD_SETSIZE) {
			/* select() cannot watch it, and its CPU's connections
			 * would wait there unseen: this worker gives it up
			 * and passes through for this listener. */
			fs_local_refuse(loc, "select() cannot watch a local listener at or above FD_SETSIZE");
			continue;
		}
		if (lfd < nfds && FD_ISSET(lfd, r))
			continue;	/* the app names that fd: leave it be */
		pairs[np].fd = fd;
		pairs[np].lfd = lfd;
		np++;
	}
	if (!np)
		return real(nfds, r, w, x, tv, ts, mask);
	top = nfds;
	rr = *r;
	clear_from(&rr, nfds);
	if (w) {
		wc = *w;
		clear_from(&wc, nfds);
	}
	if (x) {
		xc = *x;
		clear_from(&xc, nfds);
	}
	for (int i = 0; i < np; i++) {
		FD_SET(pairs[i].lfd, &rr);
		if (pairs[i].lfd + 1 > top)
			top = pairs[i].lfd + 1;
	}
	rc = real(top, &rr, w ? &wc : NULL, x ? &xc : NULL, tv, ts, mask);
	err = errno;
	if (rc >= 0) {
		for (int i = 0; i < np; i++) {
			if (!FD_ISSET(pairs[i].lfd, &rr))
				continue;
			FD_CLR(pairs[i].lfd, &rr);
			rc--;
			if (!FD_ISSET(pairs[i].fd, &rr)) {
				FD_SET(pairs[i].fd, &rr);
				rc++;
			}
		}
		copy_out(r, &rr, nfds);
		if (w)
			copy_out(w, &wc, nfds);
		if (x)
			copy_out(x, &xc, nfds);
	}
	errno = err;
	return rc;
}
