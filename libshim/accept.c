// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * accept.c - accept on a managed listening fd: the worker's local
 * listener and the original in turn.
 */
#include "accept.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "epoll.h"
#include "fdmap.h"
#include "listener.h"
#include "local.h"
#include "orphan.h"
#include "log.h"
#include "shim.h"

/* The listening socket's SO_RCVTIMEO in ms, or -1 for none. */
static int rcvtimeo_ms(int fd)
{
	struct timeval tv = { 0, 0 };
	socklen_t len = sizeof(tv);

	if (fs_real.getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) < 0 ||
	    (tv.tv_sec == 0 && tv.tv_usec == 0))
		return -1;
	return (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

/*
 * The blocking wait (poll) was interrupted by a signal. A blocking
 * accept() is restarted after a handler with SA_RESTART, unless the
 * socket has SO_RCVTIMEO (then Linux returns EINTR whatever the flag);
 * poll() never is. Which signal it was is not known here: restart only
 * if every handler installed has SA_RESTART (a handler without it may
 * have been the one; then EINTR, as the application asked).
 */
static bool restart_after_signal(bool has_timeout)
{
	if (has_timeout)
		return false;
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sigaction(sig, NULL, &sa) < 0)
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

/* Where the blocking wait's dup goes: high, out of the way of the fd
 * numbers the application's next accept and socket calls get. */
static int hold_min(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur < 256)
		return 0;
	return (int)(rl.rlim_cur / 2);
}

static bool again(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK;
}

#define STEAL_MAX	8

/*
 * Take a connection from another thread's local listener of the same
 * listener (see accept_both). Under the lock, so none of them is closed
 * (and its fd number reused) meanwhile.
 */
static int steal(struct fs_local *loc, bool idle_only, struct sockaddr *addr,
		 socklen_t *alen, int flags)
{
	int fds[STEAL_MAX], n, r = -1;

	if (!fs_lock_and_reap())
		return -1;
	n = fs_locals_others(loc, idle_only, fds, STEAL_MAX);
	for (int i = 0; i < n && r < 0; i++) {
		r = fs_real.accept4(fds[i], addr, alen, flags);
		if (r < 0 && again(errno))
			fs_orphan_drained(fds[i]);
	}
	fs_unlock();
	if (r < 0)
		errno = EAGAIN;
	return r;
}

/*
 * Blocking accept, both queues empty: wait until the local listener lfd,
 * the original *fd or another thread's local listener of it is ready.
 * 1: go round again; 0: only the original is ready, accept on it
 * (blocking, as the application asked); -1: error (EAGAIN at the
 * deadline). *timeout is -2 until the deadline is known.
 */
static int wait_both(int *fd, int lfd, struct fs_local *loc, int *hold,
		     int *timeout, int64_t *deadline)
{
	struct pollfd p[2 + STEAL_MAX] = {
		{ .fd = lfd, .events = POLLIN },
		{ .fd = *fd, .events = POLLIN },
	};
	int others[STEAL_MAX], no = 0, wait = -1, n;
	bool other = false;

	if (fs_lock_and_reap()) {
		no = fs_locals_others(loc, false, others, STEAL_MAX);
		fs_unlock();
	}
	for (int i = 0; i < no; i++) {
		p[2 + i].fd = others[i];
		p[2 + i].events = POLLIN;
	}
	if (*hold < 0) {
		/*
		 * A thread blocked in accept() keeps the socket alive if
		 * another thread closes its fd meanwhile, and gets the next
		 * connection. Waiting in poll() does not: wait, and accept,
		 * on a private dup of it instead.
		 */
		*hold = fs_real.fcntl(*fd, F_DUPFD_CLOEXEC, hold_min());
		if (*hold >= 0) {
			*fd = *hold;
			p[1].fd = *fd;
		}
	}
	if (*timeout == -2) {
		*timeout = rcvtimeo_ms(*fd);
		if (*timeout >= 0)
			*deadline = fs_now_ms() + *timeout;
	}
	if (*timeout >= 0) {
		int64_t left = *deadline - fs_now_ms();

		wait = left > 0 ? (int)left : 0;
	}
	n = fs_real.poll(p, (nfds_t)(2 + no), wait);
	if (n < 0 && errno == EINTR && restart_after_signal(*timeout >= 0))
		return 1;
	if (n < 0)
		return -1;
	if (n == 0) {
		errno = EAGAIN;
		return -1;
	}
	for (int i = 0; i < no; i++)
		other |= (p[2 + i].revents & POLLIN) != 0;
	if (p[1].revents && !(p[0].revents & POLLIN) && !other)
		return 0;
	return 1;
}

/* This thread's latest epoll wait saw the original ready with the local
 * listener (epoll.c): both are worth a call, taken in turn. */
static bool original_known_ready(struct fs_local *loc)
{
	return atomic_load_explicit(&loc->original_ready_at,
				    memory_order_relaxed) == fs_wait_token();
}

/* This thread's latest epoll wait saw the original empty (epoll.c):
 * unless it is the periodic probe's turn, it need not be tried. */
static bool original_known_empty(struct fs_local *loc, bool original_first)
{
	return !original_first &&
	       atomic_load_explicit(&loc->original_empty_at,
				    memory_order_relaxed) == fs_wait_token();
}

/* This thread's latest epoll wait saw the original ready without the
 * local listener (epoll.c): until it waits again, the original alone. */
static bool local_known_empty(struct fs_local *loc)
{
	return atomic_load_explicit(&loc->local_empty_at,
				    memory_order_relaxed) == fs_wait_token();
}

/*
 * One non-blocking accept on the local listener lfd. *done: r is the
 * answer (a connection or an error to return); else it was empty.
 */
static int accept_local(int fd, int lfd, struct sockaddr *addr,
			socklen_t *alen, int flags, bool *done)
{
	int r = fs_real.accept4(lfd, addr, alen, flags);

	*done = true;
	if (r >= 0)
		return r;
	if (again(errno)) {
		*done = false;
		return -1;
	}
	if (errno == EBADF || errno == ENOTSOCK || errno == EINVAL) {
		/* Not ours any more: use the original. */
		fs_debug("local listener fd %d: %s", lfd, strerror(errno));
		return fs_real.accept4(fd, addr, alen, flags);
	}
	return -1;
}

/*
 * Accept on listening fd (listener l, NULL if unknown) for a worker with
 * local listener loc, without blocking first: the local listener, then
 * the original only if the local one is empty, or first on every
 * FS_ORIGINAL_EVERY-th accept, so that a busy local listener holds the
 * original's connections (the kernel queues some there: CPUs without a
 * worker, TIME_WAIT reuse, cookies) for at most that many accepts. An
 * epoll wait that saw the local listener ready and not the original
 * resets the count (epoll.c): such a wait is a probe the application
 * already paid for, so a server that waits between accepts (nginx) makes
 * no probe; one that saw both ready lets the two take turns, neither call
 * wasted; one that saw the original ready and not the local listener
 * has the original tried alone until the next wait. The original is
 * tried only if its fd is non-blocking (cached: fs_listener_nonblock()).
 *
 * Both empty: EAGAIN for a non-blocking fd; for a blocking one, poll both
 * until SO_RCVTIMEO's deadline (computed once, so signals and spurious
 * wake-ups do not extend it) and go round again; if only the original is
 * ready, do the application's blocking accept on it. A local listener
 * that is no longer the shim's (EBADF and kin) hands over to the
 * original.
 *
 * Local listeners are per thread, but the application's listening socket
 * is one queue for all its threads. So when both are empty, the caller
 * also takes from other threads' local listeners of the same socket:
 * from those whose owner never accepts (it only waits: a poll thread that
 * hands the work to an accepting one), and, before blocking, from all of
 * them, which the blocking wait watches too (a busy blocking worker's
 * connections go to an idle one, as from one queue). A thread whose
 * queues are empty pays a lock-free scan; the lock and the extra accepts
 * only when another local listener qualifies.
 */
static int accept_both(int fd, struct fs_listener *l, struct fs_local *loc,
		       struct sockaddr *addr, socklen_t *alen, int flags,
		       int *hold)
{
	int nonblock = -1, timeout = -2;
	int64_t deadline = 0;

	for (;;) {
		int lfd = atomic_load_explicit(&loc->fd, memory_order_acquire);
		bool original_first, local_empty, done;
		int r;

		if (lfd < 0)
			return fs_real.accept4(fd, addr, alen, flags);
		local_empty = local_known_empty(loc);
		original_first = local_empty ||
				 atomic_fetch_add_explicit(&loc->since_original, 1,
							   memory_order_relaxed) + 1 >=
				 FS_ORIGINAL_EVERY ||
				 (original_known_ready(loc) && (loc->flip++ & 1) == 0);
		if (!original_first) {
			r = accept_local(fd, lfd, addr, alen, flags, &done);
			if (done)
				return r;
		}
		if (nonblock < 0) {
			nonblock = fs_listener_nonblock(l, fd, false);
			if (nonblock < 0)
				return -1;
		}
		if (nonblock && !original_known_empty(loc, original_first)) {
			atomic_store_explicit(&loc->since_original, 0,
					      memory_order_relaxed);
			r = fs_real.accept4(fd, addr, alen, flags);
			if (r >= 0 || !again(errno))
				return r;
			atomic_store_explicit(&loc->original_ready_at, 0,
					      memory_order_relaxed);
		}
		if (original_first && !(local_empty && nonblock)) {
			r = accept_local(fd, lfd, addr, alen, flags, &done);
			if (done)
				return r;
		}
		if (fs_locals_others(loc, nonblock, NULL, STEAL_MAX) > 0) {
			r = steal(loc, nonblock, addr, alen, flags);
			if (r >= 0)
				return r;
		}
		if (nonblock) {
			errno = EAGAIN;
			return -1;
		}
		/* About to sleep: the cache must not make a non-blocking
		 * socket block (another process may have changed it). */
		if (timeout == -2) {
			nonblock = fs_listener_nonblock(l, fd, true);
			if (nonblock < 0)
				return -1;
			if (nonblock)
				continue;
		}
		r = wait_both(&fd, lfd, loc, hold, &timeout, &deadline);
		if (r < 0)
			return -1;
		if (r == 0)
			return fs_real.accept4(fd, addr, alen, flags);
	}
}

int fs_accept(int fd, struct sockaddr *addr, socklen_t *alen, int flags,
	      fs_accept_fn real)
{
	fs_ent e = fs_fdmap_get(fd);
	struct fs_local *loc = NULL;
	int r;

	if (fs_ent_kind(e) == FS_K_LISTEN) {
		loc = fs_wait_local(e, fd);
		/* No local listener of its own, but an orphan of this
		 * listener (a thread that ended, the parent's in a shared
		 * epoll set): take from it and the original in turn. */
		if (!loc)
			loc = fs_local_orphan_of(e);
	}
	if (loc && !fs_local_is_orphan(loc) &&
	    !atomic_load_explicit(&loc->accepted, memory_order_relaxed))
		atomic_store(&loc->accepted, true);
	if (loc) {
		int hold = -1, err;

		r = accept_both(fd, fs_listener_known(e), loc, addr, alen,
				flags, &hold);
		err = errno;
		if (hold >= 0)
			fs_real.close(hold);
		errno = err;
	} else {
		r = real(fd, addr, alen, flags);
	}
	if (r >= 0)
		fs_forget_stale(r);
	return r;
}
