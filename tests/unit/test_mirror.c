// SPDX-License-Identifier: GPL-2.0
/*
 * Epoll mirroring decisions, and what the application sees through epoll,
 * poll, select and accept when a local listener is in play.
 */
#include "support.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fdmap.h"
#include "accept.h"
#include "bind.h"
#include "fdops.h"
#include "init.h"
#include "listener.h"
#include "local.h"
#include "orphan.h"
#include "park.h"
#include "shim.h"
#include "testing.h"
#include "epoll.h"
#include "mirror.h"
#include "pollsel.h"
#include "real.h"

/* The library gives the application its events through
 * fs_epoll_after_wait() (mirrored registrations carry a tag). */
static int t_epoll_wait(int ep, struct epoll_event *ev, int max, int ms)
{
	return fs_epoll_after_wait(ep, ev, epoll_wait(ep, ev, max, ms), max);
}
#define epoll_wait t_epoll_wait

static int local_fd(int fd)
{
	struct fs_local *loc = fs_wait_local(fs_fdmap_get(fd), fd);

	return loc ? atomic_load(&loc->fd) : -1;
}

static struct fs_local *local_of(int fd)
{
	return fs_wait_local(fs_fdmap_get(fd), fd);
}

/* ---- the decision --------------------------------------------------- */

static void expect(int op, bool have, bool mirrored, bool caller, bool local,
		   bool undo, int act, int rec)
{
	struct fs_mirror_step s;

	fs_mirror_decide(op, have, mirrored, caller, local, &s);
	assert_int_equal(s.undo, undo);
	assert_int_equal(s.act, act);
	assert_int_equal(s.rec, rec);
}

static void decide(void **state)
{
	(void)state;
	/* ADD: record it; mirror when the caller has a local listener. */
	expect(EPOLL_CTL_ADD, false, false, false, true, false, FS_MIRROR_ADD, FS_REC_SET);
	expect(EPOLL_CTL_ADD, false, false, false, false, false, FS_MIRROR_NONE, FS_REC_SET);
	/* ... a leftover record with a local listener in the set: undo it. */
	expect(EPOLL_CTL_ADD, true, true, true, true, true, FS_MIRROR_ADD, FS_REC_SET);
	expect(EPOLL_CTL_ADD, true, false, false, true, false, FS_MIRROR_ADD, FS_REC_SET);

	/* MOD: follow a mirrored record, whoever asks. */
	expect(EPOLL_CTL_MOD, true, true, true, true, false, FS_MIRROR_MOD, FS_REC_UPDATE);
	expect(EPOLL_CTL_MOD, true, true, false, false, false, FS_MIRROR_MOD, FS_REC_UPDATE);
	/* ... a pending record: its owner, now with a local, mirrors. */
	expect(EPOLL_CTL_MOD, true, false, true, true, false, FS_MIRROR_ADD, FS_REC_UPDATE);
	expect(EPOLL_CTL_MOD, true, false, false, true, false, FS_MIRROR_NONE, FS_REC_UPDATE);
	expect(EPOLL_CTL_MOD, true, false, true, false, false, FS_MIRROR_NONE, FS_REC_UPDATE);
	/* ... no record (registered before listen()): like ADD. */
	expect(EPOLL_CTL_MOD, false, false, false, true, false, FS_MIRROR_ADD, FS_REC_SET);
	expect(EPOLL_CTL_MOD, false, false, false, false, false, FS_MIRROR_NONE, FS_REC_SET);

	/* DEL: remove the mirror, drop the record. */
	expect(EPOLL_CTL_DEL, true, true, false, true, false, FS_MIRROR_DEL, FS_REC_DROP);
	expect(EPOLL_CTL_DEL, true, false, true, true, false, FS_MIRROR_NONE, FS_REC_DROP);
	expect(EPOLL_CTL_DEL, false, false, false, true, false, FS_MIRROR_NONE, FS_REC_KEEP);

	/* Anything else: nothing. */
	expect(99, true, true, true, true, false, FS_MIRROR_NONE, FS_REC_KEEP);
}

/* ---- epoll ---------------------------------------------------------- */

static void epoll_add_mirrors(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
				  .data.u64 = 42 }, got[4], rec;
	pid_t owner;
	int local, lfd, c, a, n;

	(void)state;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	lfd = local_fd(l);	/* made by the ADD: the first wait */
	assert_true(lfd >= 0);
	assert_int_equal(local_of(l)->cpu, sched_getcpu());
	assert_true(fs_mirror_lookup(ep, l, &owner, &local, &rec));
	assert_int_equal(owner, (pid_t)syscall(SYS_gettid));
	assert_true(local >= 0);
	assert_int_equal(rec.events, EPOLLIN | EPOLLEXCLUSIVE);
	assert_int_equal(rec.data.u64, 42);

	/* A connection from this CPU waits on the local listener, and
	 * epoll reports it with the listening fd's data. */
	c = t_connect(AF_INET, port);
	n = epoll_wait(ep, got, 4, 5000);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].data.u64, 42);
	errno = 0;
	assert_int_equal(accept4(l, NULL, NULL, SOCK_NONBLOCK), -1);
	assert_int_equal(errno, EAGAIN);	/* not on the original */
	a = fs_accept(l, NULL, NULL, 0, fs_real_accept);	/* but accept(l) has it */
	assert_true(a >= 0);
	close(a);
	close(c);
	assert_int_equal(epoll_wait(ep, got, 4, 0), 0);
	fs_close(ep);
	fs_close(l);
}

static void epoll_mod_and_del(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, got[4];
	int c, a;

	(void)state;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	ev.data.u64 = 2;
	ev.events = EPOLLIN | EPOLLET;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_MOD, l, &ev), 0);
	c = t_connect(AF_INET, port);
	assert_int_equal(epoll_wait(ep, got, 4, 5000), 1);
	assert_int_equal(got[0].data.u64, 2);
	assert_int_equal(got[0].events & EPOLLIN, EPOLLIN);
	a = fs_accept(l, NULL, NULL, 0, fs_real_accept);
	assert_true(a >= 0);
	close(a);
	close(c);

	/* DEL: neither fd reports any more; accept still finds the
	 * connection on the local listener. */
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL), 0);
	assert_false(fs_mirror_lookup(ep, l, NULL, NULL, NULL));
	c = t_connect(AF_INET, port);
	assert_int_equal(epoll_wait(ep, got, 4, 200), 0);
	a = -1;
	for (int i = 0; i < 200 && a < 0; i++) {
		a = fs_accept(l, NULL, NULL, 0, fs_real_accept);
		if (a < 0)
			usleep(5000);
	}
	assert_true(a >= 0);
	close(a);
	close(c);

	/* The app's errors are the app's: nothing mirrored on failure. */
	errno = 0;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_MOD, l, &ev), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(fs_mirror_lookup(ep, l, NULL, NULL, NULL));
	fs_close(ep);
	fs_close(l);
}

/*
 * A local listener no epoll set reads any more is closed at the first
 * wait after a grace (nginx with accept_mutex on deletes the listening fd
 * while another worker holds the mutex): its CPU's connections must
 * reach the original, which the waiting workers watch. A delete and
 * re-add (nginx rotating EPOLLEXCLUSIVE wake-ups, the mutex coming back)
 * keeps it. The next wait on the listening fd makes it again.
 */
static void epoll_unwatched_local_closed(void **state)
{
	int port, l = t_listener(AF_INET, true, &port);
	int ep = epoll_create1(0), ep2 = epoll_create1(0), lfd, lfd2, local, c, a;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 5 }, got[2];
	struct pollfd none = { .fd = -1 };

	(void)state;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	assert_int_equal(fs_epoll_ctl(ep2, EPOLL_CTL_ADD, l, &ev), 0);
	lfd = atomic_load(&local_of(l)->fd);
	assert_true(lfd >= 0);

	/* Still read in ep2: kept. */
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL), 0);
	fs_reap_unwatched();
	assert_true(t_fd_open(lfd));
	assert_true(fs_mirror_lookup(ep2, l, NULL, &local, NULL));
	assert_true(local >= 0);

	/* Deleted from the last set and added back before any wait: kept. */
	fs_unwatched_set_grace(0);
	assert_int_equal(fs_epoll_ctl(ep2, EPOLL_CTL_DEL, l, NULL), 0);
	assert_int_equal(fs_epoll_ctl(ep2, EPOLL_CTL_ADD, l, &ev), 0);
	assert_true(atomic_load(&fs_unwatched_n) > 0);
	fs_reap_unwatched();
	assert_int_equal(atomic_load(&fs_unwatched_n), 0);
	assert_true(t_fd_open(lfd));
	assert_int_equal(atomic_load(&local_of(l)->fd), lfd);

	/* MOD without EPOLLIN in the last set: nobody reads it. A wait
	 * (here poll() on nothing) within the grace keeps it, the first
	 * wait after closes it. */
	fs_unwatched_set_grace(60000);
	ev.events = EPOLLOUT;
	assert_int_equal(fs_epoll_ctl(ep2, EPOLL_CTL_MOD, l, &ev), 0);
	assert_int_equal(fs_ppoll(&none, 1, 0, NULL, NULL, fs_real_poll), 0);
	assert_true(t_fd_open(lfd));
	fs_unwatched_set_grace(0);
	assert_int_equal(fs_ppoll(&none, 1, 0, NULL, NULL, fs_real_poll), 0);
	assert_false(t_fd_open(lfd));
	assert_int_equal(atomic_load(&fs_unwatched_n), 0);
	assert_true(fs_mirror_lookup(ep2, l, NULL, &local, NULL));
	assert_int_equal(local, -1);
	assert_int_equal(fs_epoll_ctl(ep2, EPOLL_CTL_DEL, l, NULL), 0);

	/* Meanwhile this CPU's connections go to the original. */
	c = t_connect(AF_INET, port);
	a = -1;
	for (int i = 0; i < 200 && a < 0; i++) {
		a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
		if (a < 0)
			usleep(5000);
	}
	assert_true(a >= 0);
	close(a);
	close(c);

	/* The next wait on it (epoll ADD) makes and mirrors a new one. */
	ev.events = EPOLLIN;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	assert_true(fs_mirror_lookup(ep, l, NULL, &local, NULL));
	assert_true(local >= 0);
	lfd2 = atomic_load(&local_of(l)->fd);
	assert_true(lfd2 >= 0);
	c = t_connect(AF_INET, port);
	assert_int_equal(epoll_wait(ep, got, 2, 5000), 1);
	assert_int_equal(got[0].data.u64, 5);
	a = fs_accept(l, NULL, NULL, 0, fs_real_accept);
	assert_true(a >= 0);
	close(a);
	close(c);
	fs_close(ep);
	fs_close(ep2);
	fs_close(l);
}

/* Registered before listen(): mirrored on the first wait after it. */
static void epoll_pending_until_spawn(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 }, got[2];
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int ep = epoll_create1(0), port = t_free_port(AF_INET), local, c, a;

	(void)state;
	sa.sin_port = htons((uint16_t)port);
	assert_int_equal(fs_bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	assert_true(fs_mirror_lookup(ep, l, NULL, &local, NULL));
	assert_int_equal(local, -1);	/* pending */
	assert_int_equal(fs_listen(l, 16), 0);
	errno = 0;
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept), -1);	/* the first wait */
	assert_int_equal(errno, EAGAIN);
	assert_true(fs_mirror_lookup(ep, l, NULL, &local, NULL));
	assert_true(local >= 0);
	c = t_connect(AF_INET, port);
	assert_int_equal(epoll_wait(ep, got, 2, 5000), 1);
	assert_int_equal(got[0].data.u64, 7);
	a = fs_accept(l, NULL, NULL, 0, fs_real_accept);
	assert_true(a >= 0);
	close(a);
	close(c);
	fs_close(ep);
	fs_close(l);
}

/*
 * An epoll set made before fork is shared with the child: the parent's
 * local listener mirrored into it stays in the child, as an orphan it
 * can accept from, and the child makes none of its own for that
 * listener (the parent could not accept from it).
 */
static void epoll_fork_child_shares_parents(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), ep = epoll_create1(0), st;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 9 };
	pid_t pid;

	(void)state;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	assert_true(local_fd(l) >= 0);
	pid = fork();
	if (pid == 0) {
		pid_t owner;
		int local, bad = 0;

		if (!fs_mirror_lookup(ep, l, &owner, &local, NULL))
			_exit(1);
		if (owner != getpid() || local < 0)
			bad |= 2;	/* the child's, still mirrored */
		if (local_fd(l) >= 0)
			bad |= 4;	/* none of its own */
		if (!fs_local_orphan_of(fs_fdmap_get(l)))
			bad |= 8;	/* the parent's, kept */
		_exit(bad);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	fs_close(ep);
	fs_close(l);
}

static void epoll_close_forgets(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), ep = epoll_create1(0), ep2;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 3 };

	(void)state;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
	assert_true(fs_mirror_lookup(ep, l, NULL, NULL, NULL));
	assert_int_equal(fs_ent_kind(fs_fdmap_get(ep)), FS_K_EPOLL);
	fs_close(ep);
	assert_int_equal(fs_fdmap_get(ep), 0);
	ep2 = epoll_create1(0);
	assert_int_equal(ep2, ep);	/* the same number, a new instance */
	assert_false(fs_mirror_lookup(ep2, l, NULL, NULL, NULL));
	ev.data.u64 = 4;
	assert_int_equal(fs_epoll_ctl(ep2, EPOLL_CTL_ADD, l, &ev), 0);
	assert_true(fs_mirror_lookup(ep2, l, NULL, NULL, &ev));
	assert_int_equal(ev.data.u64, 4);
	fs_close(ep2);
	fs_close(l);
}

/* ---- poll and select ------------------------------------------------ */

static void poll_reports_local_as_listener(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), p[2], c, a;
	struct pollfd fds[3];

	(void)state;
	assert_int_equal(pipe(p), 0);
	fds[0] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = l, .events = POLLIN };
	fds[2] = (struct pollfd){ .fd = -1, .events = POLLIN, .revents = 0x5a5a };
	assert_int_equal(fs_ppoll(fds, 2, 0, NULL, NULL, fs_real_poll), 0);
	assert_true(local_fd(l) >= 0);	/* the poll was the first wait */
	c = t_connect(AF_INET, port);
	assert_int_equal(fs_ppoll(fds, 2, 5000, NULL, NULL, fs_real_poll), 1);
	assert_int_equal(fds[0].revents, 0);
	assert_int_equal(fds[1].revents, POLLIN);
	assert_int_equal(fds[2].revents, 0x5a5a);	/* past n: untouched */
	struct timespec ts = { 5, 0 };
	fds[1].revents = 0;
	assert_int_equal(fs_ppoll(fds, 2, 0, &ts, NULL, fs_real_ppoll), 1);
	assert_int_equal(fds[1].revents, POLLIN);
	a = fs_accept(l, NULL, NULL, 0, fs_real_accept);
	assert_true(a >= 0);
	close(a);
	close(c);
	assert_int_equal(fs_ppoll(fds, 2, 0, NULL, NULL, fs_real_poll), 0);
	close(p[0]);
	close(p[1]);
	fs_close(l);
}

static void select_reports_local_as_listener(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), lfd, c, a;
	struct timeval tv = { 0, 0 };
	fd_set r;

	(void)state;
	FD_ZERO(&r);
	FD_SET(l, &r);
	assert_int_equal(fs_pselect(l + 1, &r, NULL, NULL, &tv, NULL, NULL, fs_real_select), 0);
	lfd = local_fd(l);
	assert_true(lfd >= 0);
	c = t_connect(AF_INET, port);
	FD_ZERO(&r);
	FD_SET(l, &r);
	tv.tv_sec = 5;
	assert_int_equal(fs_pselect(l + 1, &r, NULL, NULL, &tv, NULL, NULL, fs_real_select), 1);
	assert_true(FD_ISSET(l, &r));
	assert_false(FD_ISSET(lfd, &r));
	a = fs_accept(l, NULL, NULL, 0, fs_real_accept);
	assert_true(a >= 0);
	close(a);
	close(c);
	fs_close(l);
}

/* ---- the held DEL (nginx's reorder pair) ----------------------------- */

/* Is lfd registered in epoll set ep? (MOD answers ENOENT if not.) */
static bool in_set(int ep, int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, lfd, &ev) == 0)
		fail_msg("in_set: MOD must not succeed on a mirrored fd here");
	return errno != ENOENT;
}

/* The local listener's registration, read back without changing it: a
 * second ADD says EEXIST while it is there. */
static bool registered(int ep, int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
		return false;
	}
	return errno == EEXIST;
}

struct pair {
	int l, ep, lfd;
	struct epoll_event ev;
};

/* A listener in epoll set ep (made through the shim's epoll_create when
 * private) with events, mirrored. */
static void pair_setup(struct pair *p, bool private, uint32_t events)
{
	int port;

	p->l = t_listener(AF_INET, true, &port);
	p->ep = private ? fs_epoll_create(epoll_create1(0)) : epoll_create1(0);
	assert_true(p->ep >= 0);
	p->ev = (struct epoll_event){ .events = events, .data.u64 = 99 };
	assert_int_equal(fs_epoll_ctl(p->ep, EPOLL_CTL_ADD, p->l, &p->ev), 0);
	p->lfd = local_fd(p->l);
	assert_true(p->lfd >= 0);
	assert_true(registered(p->ep, p->lfd));
}

static void pair_done(struct pair *p)
{
	fs_epoll_flush();
	fs_close(p->ep);
	fs_close(p->l);
}

/* DEL then the same ADD: the local listener's registration is never
 * touched; a wait after it sees one listener, as before. */
static void held_del_readd(void **state)
{
	struct pair p;
	int local;

	(void)state;
	(void)in_set;
	pair_setup(&p, true, EPOLLIN | EPOLLEXCLUSIVE);
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_DEL, p.l, NULL), 0);
	assert_true(atomic_load(&fs_epoll_held));
	assert_true(registered(p.ep, p.lfd));	/* held, not made */
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_ADD, p.l, &p.ev), 0);
	assert_false(atomic_load(&fs_epoll_held));
	assert_true(registered(p.ep, p.lfd));
	assert_true(fs_mirror_lookup(p.ep, p.l, NULL, &local, NULL));
	assert_true(local >= 0);
	/* And the DEL still works as a DEL once flushed. */
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_DEL, p.l, NULL), 0);
	fs_epoll_flush();	/* what any other interposed call does */
	assert_false(atomic_load(&fs_epoll_held));
	assert_false(registered(p.ep, p.lfd));
	assert_false(fs_mirror_lookup(p.ep, p.l, NULL, &local, NULL));
	pair_done(&p);
}

/* DEL then an ADD with other events or data: the held DEL is made first,
 * then the ADD mirrored with the new events. */
static void held_del_other_add(void **state)
{
	struct pair p;
	struct epoll_event ev2;
	pid_t owner;
	int local;

	(void)state;
	pair_setup(&p, true, EPOLLIN);
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_DEL, p.l, NULL), 0);
	assert_true(atomic_load(&fs_epoll_held));
	ev2 = p.ev;
	ev2.data.u64 = 100;
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_ADD, p.l, &ev2), 0);
	assert_false(atomic_load(&fs_epoll_held));
	assert_true(fs_mirror_lookup(p.ep, p.l, &owner, &local, &ev2));
	assert_true(local >= 0);
	assert_int_equal(ev2.data.u64, 100);
	assert_true(registered(p.ep, p.lfd));
	pair_done(&p);
}

/* Not held where a re-ADD differs or others may look: edge-triggered,
 * one-shot, an epoll set made before the shim saw it (maybe shared),
 * one that existed at a fork, a local listener two records share. */
static void held_not_when_visible(void **state)
{
	static const uint32_t visible[] = { EPOLLIN | EPOLLET, EPOLLIN | EPOLLONESHOT };
	struct pair p;
	int d;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		pair_setup(&p, true, visible[i]);
		assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_DEL, p.l, NULL), 0);
		assert_false(atomic_load(&fs_epoll_held));
		assert_false(registered(p.ep, p.lfd));
		pair_done(&p);
	}

	pair_setup(&p, false, EPOLLIN);
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_DEL, p.l, NULL), 0);
	assert_false(atomic_load(&fs_epoll_held));
	assert_false(registered(p.ep, p.lfd));
	pair_done(&p);

	pair_setup(&p, true, EPOLLIN);
	assert_true(fs_lock_and_reap());
	fs_epoll_fork_prepare();
	fs_unlock();
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_DEL, p.l, NULL), 0);
	assert_false(atomic_load(&fs_epoll_held));
	assert_false(registered(p.ep, p.lfd));
	pair_done(&p);

	/* The listener and a dup of it in one set: one local listener, two
	 * records. DEL of the dup is not held (the mirror moves to the
	 * listener's record). */
	pair_setup(&p, true, EPOLLIN);
	d = fs_dup(p.l);
	assert_true(d >= 0);
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_ADD, d, &p.ev), 0);
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_DEL, d, NULL), 0);
	assert_false(atomic_load(&fs_epoll_held));
	assert_true(registered(p.ep, p.lfd));
	fs_close(d);
	pair_done(&p);
}

struct readd_arg {
	struct pair *p;
	int rc;
};

static void *readd_thread(void *arg)
{
	struct readd_arg *a = arg;

	a->rc = fs_epoll_ctl(a->p->ep, EPOLL_CTL_ADD, a->p->l, &a->p->ev);
	return NULL;
}

/* The same ADD from another thread is not the re-add: flushed first. */
static void held_other_thread_flushes(void **state)
{
	struct readd_arg a;
	struct pair p;
	pthread_t t;

	(void)state;
	pair_setup(&p, true, EPOLLIN);
	assert_int_equal(fs_epoll_ctl(p.ep, EPOLL_CTL_DEL, p.l, NULL), 0);
	assert_true(atomic_load(&fs_epoll_held));
	a.p = &p;
	assert_int_equal(pthread_create(&t, NULL, readd_thread, &a), 0);
	pthread_join(t, NULL);
	assert_int_equal(a.rc, 0);
	assert_false(atomic_load(&fs_epoll_held));
	/* The other thread's record waits for its own local listener; ours
	 * left the set. */
	assert_false(registered(p.ep, p.lfd));
	pair_done(&p);
}

/* ---- accept --------------------------------------------------------- */

/* A fake accept4: two queues, and a log of every call: 'L'/'O' a
 * connection from the local listener/original, 'l'/'o' EAGAIN there. */
static int fake_lfd, fake_ofd, fake_lq, fake_oq, fake_fcntls;
static char fake_log[512];
static size_t fake_n;

static int fake_accept4(int fd, struct sockaddr *a, socklen_t *len, int flags)
{
	(void)a;
	(void)len;
	(void)flags;
	if (fake_n + 1 >= sizeof(fake_log))
		fail_msg("fake_accept4: log full");
	if (fd == fake_lfd && fake_lq > 0) {
		fake_lq--;
		fake_log[fake_n++] = 'L';
		return 1000;
	}
	if (fd == fake_ofd && fake_oq > 0) {
		fake_oq--;
		fake_log[fake_n++] = 'O';
		return 1000;
	}
	fake_log[fake_n++] = fd == fake_lfd ? 'l' : 'o';
	errno = EAGAIN;
	return -1;
}

static int (*saved_fcntl)(int, int, ...);

static int counting_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	fake_fcntls++;
	return saved_fcntl(fd, cmd, arg);
}

/* Accept until both fake queues (lq, oq) are empty, then once more. */
static void run_fake(int l, int lq, int oq)
{
	memset(fake_log, 0, sizeof(fake_log));
	fake_n = 0;
	fake_lq = lq;
	fake_oq = oq;
	for (int i = 0; i < lq + oq; i++)
		assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	errno = 0;
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), -1);
	assert_int_equal(errno, EAGAIN);
}

static int fake_setup(int *port)
{
	int l = t_listener(AF_INET, true, port);

	fake_ofd = l;
	fake_lfd = local_fd(l);
	assert_true(fake_lfd >= 0);
	atomic_store(&local_of(l)->since_original, 0);
	fake_fcntls = 0;
	saved_fcntl = fs_real.fcntl;
	fs_real.fcntl = counting_fcntl;
	fs_real.accept4 = fake_accept4;
	return l;
}

/*
 * The local listener first; the original when the local one is empty, and
 * first on every FS_ORIGINAL_EVERY-th accept; O_NONBLOCK read once.
 */
static void accept_local_first(void **state)
{
	int port, l;
	int (*saved)(int, struct sockaddr *, socklen_t *, int) = fs_real.accept4;
	char want[512];

	(void)state;
	l = fake_setup(&port);
	run_fake(l, 4, 4);	/* both busy: the local one until empty */
	assert_string_equal(fake_log, "LLLLlOlOlOlOlo");
	assert_int_equal(fake_fcntls, 1);	/* F_GETFL, once */
	run_fake(l, 6, 0);
	assert_string_equal(fake_log, "LLLLLLlo");
	run_fake(l, 0, 3);
	assert_string_equal(fake_log, "lOlOlOlo");
	assert_int_equal(fake_fcntls, 1);

	/* A busy local listener: the original waits FS_ORIGINAL_EVERY
	 * accepts at most; its probe finds it empty or takes one. */
	atomic_store(&local_of(l)->since_original, 0);
	run_fake(l, 2 * FS_ORIGINAL_EVERY + 1, 1);
	memset(want, 'L', 2 * FS_ORIGINAL_EVERY + 3);
	want[FS_ORIGINAL_EVERY - 1] = 'O';	/* the 64th accept */
	want[2 * FS_ORIGINAL_EVERY - 1] = 'o';	/* the 128th: empty, then L */
	want[2 * FS_ORIGINAL_EVERY + 3] = 'l';	/* the last: both empty */
	want[2 * FS_ORIGINAL_EVERY + 4] = 'o';
	want[2 * FS_ORIGINAL_EVERY + 5] = '\0';
	assert_string_equal(fake_log, want);
	assert_int_equal(fake_fcntls, 1);
	fs_real.accept4 = saved;
	fs_real.fcntl = saved_fcntl;
	fs_close(l);
}

/* fcntl(F_SETFL) and FIONBIO update the cached O_NONBLOCK: a listener
 * made blocking is waited on, not answered EAGAIN. */
static void accept_nonblock_cache(void **state)
{
	int port, l, off = 0, on = 1;
	int (*saved)(int, struct sockaddr *, socklen_t *, int) = fs_real.accept4;
	struct fs_listener *li;

	(void)state;
	l = fake_setup(&port);
	li = fs_listener_known(fs_fdmap_get(l));
	assert_non_null(li);
	run_fake(l, 1, 0);
	assert_int_equal(atomic_load(&li->nonblock), 1);
	assert_int_equal(fs_ioctl(l, FIONBIO, &off), 0);
	assert_int_equal(atomic_load(&li->nonblock), 0);
	assert_int_equal(fs_ioctl(l, FIONBIO, &on), 0);
	assert_int_equal(atomic_load(&li->nonblock), 1);
	assert_int_equal(fs_fcntl_setfl(l, saved_fcntl, O_RDWR), 0);
	assert_int_equal(atomic_load(&li->nonblock), 0);
	assert_int_equal(fs_fcntl_setfl(l, saved_fcntl, O_RDWR | O_NONBLOCK), 0);
	assert_int_equal(atomic_load(&li->nonblock), 1);
	/* A stale cache (changed behind the shim's back) that says blocking
	 * is checked before sleeping: EAGAIN, not a wait. */
	atomic_store(&li->nonblock, 0);
	fake_fcntls = 0;
	run_fake(l, 0, 0);
	assert_int_equal(fake_fcntls, 1);
	assert_int_equal(atomic_load(&li->nonblock), 1);
	fs_real.accept4 = saved;
	fs_real.fcntl = saved_fcntl;
	fs_close(l);
}

/* Add listening fd l to epoll set ep: its record, mirrored already. */
static struct fs_mirror *add_mirrored(int ep, int l, struct epoll_event *ev)
{
	struct fs_mirror *r;

	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_ADD, l, ev), 0);
	r = fs_mirror_find(fs_epoll_id(ep, false), l);
	assert_non_null(r);
	assert_true(r->local >= 0);
	return r;
}

/*
 * A level-triggered wait that reported the local listener without the
 * listening fd, and fewer events than it could, saw the original empty:
 * accept's probe count starts again. Not for a full result (the original
 * may be beyond it), both reported, or an edge-triggered registration.
 */
static void wait_resets_original_probe(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 }, got[4];
	struct fs_mirror *r;
	struct fs_local *loc;

	(void)state;
	r = add_mirrored(ep, l, &ev);
	loc = local_of(l);

	atomic_store(&loc->since_original, 50);
	got[0] = (struct epoll_event){ EPOLLIN, { .u64 = fs_mirror_tag(r) } };
	assert_int_equal(fs_epoll_after_wait(ep, got, 1, 1), 1);
	assert_int_equal(got[0].data.u64, 77);
	assert_int_equal(atomic_load(&loc->since_original), 50);	/* full */

	got[0] = (struct epoll_event){ EPOLLIN, { .u64 = fs_mirror_tag(r) } };
	got[1] = (struct epoll_event){ EPOLLIN, { .u64 = 77 } };
	assert_int_equal(fs_epoll_after_wait(ep, got, 2, 4), 1);
	assert_int_equal(atomic_load(&loc->since_original), 50);	/* both */

	got[0] = (struct epoll_event){ EPOLLIN, { .u64 = fs_mirror_tag(r) } };
	assert_int_equal(fs_epoll_after_wait(ep, got, 1, 4), 1);
	assert_int_equal(atomic_load(&loc->since_original), 0);

	/* Until this thread waits again, an empty local listener is the
	 * answer: the original is not tried (the next wait reports it). */
	int (*saved)(int, struct sockaddr *, socklen_t *, int) = fs_real.accept4;

	fake_ofd = l;
	fake_lfd = atomic_load(&loc->fd);
	fake_n = 0;
	memset(fake_log, 0, sizeof(fake_log));
	fake_lq = 0;
	fake_oq = 1;
	fs_real.accept4 = fake_accept4;
	errno = 0;
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), -1);
	assert_int_equal(errno, EAGAIN);
	assert_string_equal(fake_log, "l");
	assert_int_equal(fs_epoll_after_wait(ep, got, 0, 4), 0);
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	assert_string_equal(fake_log, "llO");

	/* A wait that saw both ready: they take turns, the original first;
	 * the one call wasted, when the original ran dry, ends the turns. */
	got[0] = (struct epoll_event){ EPOLLIN, { .u64 = fs_mirror_tag(r) } };
	got[1] = (struct epoll_event){ EPOLLIN, { .u64 = 77 } };
	assert_int_equal(fs_epoll_after_wait(ep, got, 2, 4), 1);
	fake_n = 0;
	memset(fake_log, 0, sizeof(fake_log));
	fake_lq = 3;
	fake_oq = 2;
	for (int i = 0; i < 5; i++)
		assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	assert_string_equal(fake_log, "OLOLoL");
	fake_lq = 1;
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	assert_string_equal(fake_log, "OLOLoLL");
	fs_real.accept4 = saved;

	ev.events = EPOLLIN | EPOLLET;
	assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_MOD, l, &ev), 0);
	atomic_store(&loc->since_original, 50);
	got[0] = (struct epoll_event){ EPOLLIN, { .u64 = fs_mirror_tag(r) } };
	assert_int_equal(fs_epoll_after_wait(ep, got, 1, 4), 1);
	assert_int_equal(atomic_load(&loc->since_original), 50);	/* ET */
	close(ep);
	fs_close(l);
}

/* Reset the fake queues and the log, for the next accepts. */
static void fake_queues(int lq, int oq)
{
	fake_n = 0;
	memset(fake_log, 0, sizeof(fake_log));
	fake_lq = lq;
	fake_oq = oq;
}

/* One wait whose result is the listening fd's own event only (data 77). */
static int wait_original_only(int ep, int max)
{
	struct epoll_event got[4] = { { EPOLLIN, { .u64 = 77 } } };

	assert_int_equal(fs_epoll_after_wait(ep, got, 1, max), 1);
	assert_int_equal(got[0].data.u64, 77);
	return 0;
}

/*
 * A level-triggered wait that reported the listening fd without its local
 * listener, and fewer events than it could: the local listener was
 * empty, so until this thread waits again accept tries the original
 * alone (no failed accept on the local listener per connection from a
 * CPU without a worker). Not for a full result, both reported, an
 * edge-triggered, one-shot or exclusive registration.
 */
static void wait_original_alone(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 }, got[4];
	int (*saved)(int, struct sockaddr *, socklen_t *, int) = fs_real.accept4;
	static const uint32_t others[] = { EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE };
	struct fs_mirror *r;
	struct fs_local *loc;

	(void)state;
	r = add_mirrored(ep, l, &ev);
	loc = local_of(l);
	fake_ofd = l;
	fake_lfd = atomic_load(&loc->fd);
	fs_real.accept4 = fake_accept4;

	wait_original_only(ep, 4);
	fake_queues(0, 1);
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	errno = 0;
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), -1);
	assert_int_equal(errno, EAGAIN);
	assert_string_equal(fake_log, "Oo");
	/* A connection on the local listener since: the next wait's. */
	fake_lq = 1;
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), -1);
	assert_string_equal(fake_log, "Ooo");
	assert_int_equal(fs_epoll_after_wait(ep, got, 0, 4), 0);
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	assert_string_equal(fake_log, "OooL");

	/* A full result: the local listener may be beyond it. */
	wait_original_only(ep, 1);
	fake_queues(0, 1);
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	assert_string_equal(fake_log, "lO");

	/* Both reported: they take turns (wait_resets_original_probe). */
	got[0] = (struct epoll_event){ EPOLLIN, { .u64 = 77 } };
	got[1] = (struct epoll_event){ EPOLLIN, { .u64 = fs_mirror_tag(r) } };
	assert_int_equal(fs_epoll_after_wait(ep, got, 2, 4), 1);
	assert_int_equal(got[0].data.u64, 77);
	fake_queues(1, 1);
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
	assert_string_equal(fake_log, "OL");

	/* Registrations whose absence says nothing. */
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		ev.events = EPOLLIN | others[i];
		if (others[i] == EPOLLEXCLUSIVE) {
			/* EXCLUSIVE is for ADD only. */
			assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL), 0);
			r = add_mirrored(ep, l, &ev);
		} else {
			assert_int_equal(fs_epoll_ctl(ep, EPOLL_CTL_MOD, l, &ev), 0);
		}
		wait_original_only(ep, 4);
		fake_queues(0, 1);
		assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept4), 1000);
		assert_string_equal(fake_log, "lO");
	}
	fs_real.accept4 = saved;
	close(ep);
	fs_close(l);
}

struct later {
	int port;
};

static void *connect_later(void *p)
{
	struct later *w = p;
	int c;

	usleep(100000);
	c = t_connect(AF_INET, w->port);
	usleep(300000);
	close(c);
	return NULL;
}

/* A blocking accept waits on both the local listener and the original. */
static void accept_blocking(void **state)
{
	int port, l = t_listener(AF_INET, false, &port), a;
	struct timeval tv = { 0, 200000 };
	struct later w;
	pthread_t t;
	struct timespec t0, t1;

	(void)state;
	assert_true(local_fd(l) >= 0);
	w.port = port;
	assert_int_equal(pthread_create(&t, NULL, connect_later, &w), 0);
	a = fs_accept(l, NULL, NULL, 0, fs_real_accept);
	assert_true(a >= 0);
	close(a);
	pthread_join(t, NULL);

	/* SO_RCVTIMEO on the listening socket still times accept out. */
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	assert_int_equal(fs_accept(l, NULL, NULL, 0, fs_real_accept), -1);
	assert_int_equal(errno, EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	fs_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decide),
		cmocka_unit_test_setup_teardown(epoll_add_mirrors, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(epoll_mod_and_del, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(epoll_unwatched_local_closed, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(epoll_pending_until_spawn, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(epoll_fork_child_shares_parents, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(epoll_close_forgets, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(poll_reports_local_as_listener, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(select_reports_local_as_listener, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(held_del_readd, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(held_del_other_add, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(held_not_when_visible, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(held_other_thread_flushes, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(accept_local_first, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(accept_nonblock_cache, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(wait_resets_original_probe, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(wait_original_alone, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(accept_blocking, t_reset, t_reset),
	};

	t_init();
	return cmocka_run_group_tests_name("mirror", tests, NULL, NULL);
}
