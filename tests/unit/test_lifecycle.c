// SPDX-License-Identifier: GPL-2.0
/*
 * Listener lifecycle: what bind, listen, dup, dup2, dup3, F_DUPFD, close,
 * close_range, shutdown, fork and thread exit do to listeners and their
 * local listeners (bind.c, fdops.c, local.c, init.c).
 */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "cpu.h"
#include "fdmap.h"
#include "accept.h"
#include "bind.h"
#include "fdops.h"
#include "init.h"
#include "listener.h"
#include "local.h"
#include "park.h"
#include "shim.h"
#include "testing.h"
#include "real.h"

static struct fs_listener *lst(int fd)
{
	fs_ent e = fs_fdmap_get(fd);

	assert_int_equal(fs_ent_kind(e), FS_K_LISTEN);
	return &fs_listeners[fs_ent_idx(e)];
}

static int nfds(int fd)
{
	return atomic_load(&lst(fd)->nfds);
}

static int reuseport(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &len), 0);
	return v;
}

/* The calling thread's local listener fd for listening fd, or -1. */
static int local_fd(int fd)
{
	struct fs_local *loc = fs_wait_local(fs_fdmap_get(fd), fd);

	return loc ? atomic_load(&loc->fd) : -1;
}

static void bind_manages_tcp(void **state)
{
	int port, l4, l6;

	(void)state;
	l4 = t_listener(AF_INET, true, &port);
	assert_int_equal(reuseport(l4), 1);
	assert_int_equal(atomic_load(&lst(l4)->state), FS_LST_LISTENING);
	assert_int_equal(lst(l4)->flags & FS_LST_APP_REUSEPORT, 0);
	assert_int_equal(nfds(l4), 1);
	assert_int_equal(lst(l4)->backlog, 128);
	fs_close(l4);
	if (!t_have_ipv6())
		return;
	l6 = t_listener(AF_INET6, true, &port);
	assert_int_equal(reuseport(l6), 1);
	assert_int_equal(atomic_load(&fs_nlisteners), 1);
	fs_close(l6);
	assert_int_equal(atomic_load(&fs_nlisteners), 0);
}

static int try_bind(int type, int family, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(family, type, 0);

	assert_true(s >= 0);
	assert_int_equal(fs_bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	return s;
}

static void bind_passes_through(void **state)
{
	char err[FS_ERR_MAX];
	int s;

	(void)state;
	/* UDP. */
	s = try_bind(SOCK_DGRAM, AF_INET, t_free_port(AF_INET));
	assert_int_equal(fs_fdmap_get(s), 0);
	assert_int_equal(reuseport(s), 0);
	fs_close(s);

	/* Port 0: an ephemeral port, as clients bind. */
	s = try_bind(SOCK_STREAM, AF_INET, 0);
	assert_int_equal(fs_fdmap_get(s), 0);
	assert_int_equal(reuseport(s), 0);
	fs_close(s);

	/* Unix socket. */
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/fs-unit-%d.sock", getpid());
	unlink(un.sun_path);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(fs_bind(s, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(fs_fdmap_get(s), 0);
	fs_close(s);
	unlink(un.sun_path);

	/* A port not in FASTSOCKET_PORTS. */
	int port = t_free_port(AF_INET);
	char list[16];
	snprintf(list, sizeof(list), "%d", port == 65535 ? 1 : port + 1);
	assert_int_equal(fs_config_parse(&fs_cfg, "2", list, NULL, NULL,
					 &t_affinity, err, sizeof(err)), 0);
	s = try_bind(SOCK_STREAM, AF_INET, port);
	assert_int_equal(fs_fdmap_get(s), 0);
	assert_int_equal(reuseport(s), 0);
	fs_close(s);

	/* Mode 0, and an invalid configuration: nothing at all. */
	t_config(0);
	s = try_bind(SOCK_STREAM, AF_INET, t_free_port(AF_INET));
	assert_int_equal(fs_fdmap_get(s), 0);
	assert_int_equal(reuseport(s), 0);
	fs_close(s);
	fs_config_parse(&fs_cfg, "2", "x", NULL, NULL, &t_affinity, err,
			sizeof(err));
	assert_false(fs_cfg.valid);
	s = try_bind(SOCK_STREAM, AF_INET, t_free_port(AF_INET));
	assert_int_equal(fs_fdmap_get(s), 0);
	assert_int_equal(reuseport(s), 0);
	fs_close(s);
}

/* A failed bind leaves the socket as it was. */
static void bind_failure_restores(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int plain = socket(AF_INET, SOCK_STREAM, 0), s;

	(void)state;
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	assert_int_equal(bind(plain, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(plain, 8), 0);
	s = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	assert_int_equal(fs_bind(s, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_int_equal(reuseport(s), 0);
	assert_int_equal(fs_fdmap_get(s), 0);
	close(s);
	close(plain);
}

/* An app socket with SO_REUSEPORT on a port of its own: like any other. */
static void app_reuseport_lone_socket(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	(void)state;
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	assert_int_equal(fs_bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fs_listen(s, 16), 0);
	assert_true(lst(s)->flags & FS_LST_APP_REUSEPORT);
	assert_false(lst(s)->flags & FS_LST_PER_WORKER);
	assert_true(local_fd(s) >= 0);
	fs_close(s);
}

/*
 * Several app sockets with SO_REUSEPORT on one address (nginx "listen
 * ... reuseport": one per worker, all made by the master): per-worker
 * sockets. The worker is pinned; without the module it gets no local
 * listener (the module would register its own socket, test_dev.c).
 */
static void app_reuseport_per_worker(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s1 = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	int s2 = socket(AF_INET, SOCK_STREAM, 0);
	cpu_set_t now;

	(void)state;
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	setsockopt(s1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(s2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	assert_int_equal(fs_bind(s1, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fs_bind(s2, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fs_listen(s1, 16), 0);
	assert_false(lst(s1)->flags & FS_LST_PER_WORKER);
	assert_int_equal(fs_listen(s2, 16), 0);
	assert_true(lst(s1)->flags & FS_LST_PER_WORKER);
	assert_true(lst(s2)->flags & FS_LST_PER_WORKER);
	fs_close(s1);	/* nginx: a worker closes the others' sockets */
	assert_int_equal(local_fd(s2), -1);
	sched_getaffinity(0, sizeof(now), &now);
	assert_int_equal(CPU_COUNT(&now), 1);	/* pinned, mode 2 */
	fs_close(s2);
}

/*
 * Listening sockets inherited across exec (nginx's binary upgrade): the
 * shim never saw their bind. One with SO_REUSEPORT is managed (local
 * listeners can join its group); one without passes through.
 */
static void inherited_listener_adopted(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int rp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int plain = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int bound = socket(AF_INET, SOCK_STREAM, 0), one = 1, lfd;

	(void)state;
	setsockopt(rp, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	assert_int_equal(bind(rp, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(rp, 16), 0);
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	assert_int_equal(bind(plain, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(plain, 16), 0);
	setsockopt(bound, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	assert_int_equal(bind(bound, (struct sockaddr *)&a, sizeof(a)), 0);

	fs_adopt_inherited();
	assert_int_equal(fs_ent_kind(fs_fdmap_get(rp)), FS_K_LISTEN);
	assert_non_null(fs_listener_live(fs_fdmap_get(rp)));
	/* Who set SO_REUSEPORT is unknown: taken as the application. */
	assert_true(lst(rp)->flags & FS_LST_APP_REUSEPORT);
	assert_int_equal(fs_fdmap_get(plain), 0);	/* cannot be joined */
	assert_int_equal(fs_fdmap_get(bound), 0);	/* not listening */
	/* Its TCP-MD5 keys or IPsec policy cannot be read back: without the
	 * module, no sibling for it; the worker passes through. */
	assert_true(lst(rp)->flags & FS_LST_INHERITED);
	lfd = local_fd(rp);
	assert_int_equal(lfd, -1);
	fs_adopt_inherited();	/* again: nothing changes */
	assert_int_equal(local_fd(rp), -1);
	fs_close(rp);
	close(plain);
	close(bound);
}

/* ---- dup and close -------------------------------------------------- */

static void dup_and_close(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), d, d2, d3, lfd, c, a;
	fs_ent e = fs_fdmap_get(l);
	struct fs_listener *L = lst(l);

	(void)state;
	lfd = local_fd(l);
	assert_true(lfd >= 0);
	assert_int_equal(fs_ent_kind(fs_fdmap_get(lfd)), FS_K_LOCAL);

	d = fs_dup(l);
	assert_true(fs_fdmap_get(d) == e);
	d2 = fs_fcntl_dupfd(l, F_DUPFD, 100);
	assert_true(d2 >= 100);
	assert_true(fs_fdmap_get(d2) == e);
	d3 = fs_fcntl_dupfd(l, F_DUPFD_CLOEXEC, 0);
	assert_true(fs_fdmap_get(d3) == e);
	assert_true(fcntl(d3, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(atomic_load(&L->nfds), 4);

	/* Closing one fd keeps the socket's state and local listener. */
	assert_int_equal(fs_close(l), 0);
	assert_int_equal(fs_fdmap_get(l), 0);
	assert_int_equal(atomic_load(&L->nfds), 3);
	assert_true(t_fd_open(lfd));
	assert_int_equal(local_fd(d), lfd);	/* the same socket, the same local */

	/* A connection from this (pinned) thread is accepted through d. */
	c = t_connect(AF_INET, port);
	for (int i = 0; i < 100; i++) {
		a = fs_accept(d, NULL, NULL, SOCK_CLOEXEC, fs_real_accept4);
		if (a >= 0)
			break;
		usleep(10000);
	}
	assert_true(a >= 0);
	close(a);
	close(c);

	fs_close(d);
	fs_close(d2);
	assert_true(t_fd_open(lfd));
	assert_int_equal(atomic_load(&L->state), FS_LST_LISTENING);
	fs_close(d3);	/* the last: the local listener goes too */
	assert_false(t_fd_open(lfd));
	assert_int_equal(fs_fdmap_get(lfd), 0);
	assert_int_equal(atomic_load(&L->state), FS_LST_FREE);
	assert_int_equal(atomic_load(&fs_nlisteners), 0);
}

static void dup2_and_dup3(void **state)
{
	int p1, p2, l1 = t_listener(AF_INET, true, &p1), l2 = t_listener(AF_INET, true, &p2);
	int x = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
	struct fs_listener *A = lst(l1), *B = lst(l2);
	fs_ent ea = fs_fdmap_get(l1), eb = fs_fdmap_get(l2);

	(void)state;
	/* dup3 onto an unmanaged fd: it becomes a name of A. */
	assert_int_equal(fs_dup3(l1, x, O_CLOEXEC, fs_real_dup3), x);
	assert_true(fs_fdmap_get(x) == ea);
	assert_true(fcntl(x, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(atomic_load(&A->nfds), 2);

	/* dup2 of B over it: A loses a name, B gains one. */
	assert_int_equal(fs_dup3(l2, x, 0, fs_real_dup2), x);
	assert_true(fs_fdmap_get(x) == eb);
	assert_int_equal(atomic_load(&A->nfds), 1);
	assert_int_equal(atomic_load(&B->nfds), 2);

	/* Onto itself: nothing changes; dup3 refuses. */
	assert_int_equal(fs_dup3(l1, l1, 0, fs_real_dup2), l1);
	assert_int_equal(atomic_load(&A->nfds), 1);
	errno = 0;
	assert_int_equal(fs_dup3(l1, l1, 0, fs_real_dup3), -1);
	assert_int_equal(errno, EINVAL);
	assert_true(fs_fdmap_get(l1) == ea);

	/* An unmanaged fd over a managed one. */
	assert_int_equal(fs_dup3(u, l2, 0, fs_real_dup2), l2);
	assert_int_equal(fs_fdmap_get(l2), 0);
	assert_int_equal(atomic_load(&B->nfds), 1);

	/* A failed dup2 changes nothing. */
	errno = 0;
	assert_int_equal(fs_dup3(9999, x, 0, fs_real_dup2), -1);
	assert_int_equal(errno, EBADF);
	assert_true(fs_fdmap_get(x) == eb);

	fs_close(x);
	assert_int_equal(atomic_load(&B->state), FS_LST_FREE);
	fs_close(l1);
	assert_int_equal(atomic_load(&A->state), FS_LST_FREE);
	fs_close(l2);
	fs_close(u);
}

/* The app closes or replaces the shim's own fd (closing every fd...). */
static void app_clobbers_local(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), lfd, lfd2, u;

	(void)state;
	lfd = local_fd(l);
	assert_true(lfd >= 0);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(fs_dup3(u, lfd, 0, fs_real_dup2), lfd);
	assert_int_equal(fs_fdmap_get(lfd), 0);	/* the app's fd now */
	lfd2 = local_fd(l);			/* made again on the next wait */
	assert_true(lfd2 >= 0);
	assert_true(lfd2 != lfd);
	assert_true(t_fd_open(lfd));
	fs_close(lfd);
	fs_close(u);

	assert_int_equal(fs_close(lfd2), 0);	/* a plain close of it */
	assert_int_equal(fs_fdmap_get(lfd2), 0);
	lfd = local_fd(l);
	assert_true(lfd >= 0);
	assert_int_equal(fs_ent_kind(fs_fdmap_get(lfd)), FS_K_LOCAL);
	fs_close(l);
	assert_false(t_fd_open(lfd));
}

static void close_range_and_closefrom(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), lfd = local_fd(l);
	int hi = l > lfd ? l : lfd, d;
	struct fs_listener *L = lst(l);

	(void)state;
	/* CLOSE_RANGE_CLOEXEC closes nothing. */
	assert_int_equal(fs_close_range((unsigned int)l, (unsigned int)hi,
					CLOSE_RANGE_CLOEXEC), 0);
	assert_int_equal(fs_ent_kind(fs_fdmap_get(l)), FS_K_LISTEN);
	assert_true(t_fd_open(lfd));

	assert_int_equal(fs_close_range((unsigned int)(l < lfd ? l : lfd),
					(unsigned int)hi, 0), 0);
	assert_int_equal(fs_fdmap_get(l), 0);
	assert_int_equal(fs_fdmap_get(lfd), 0);
	assert_false(t_fd_open(l));
	assert_false(t_fd_open(lfd));
	assert_int_equal(atomic_load(&L->state), FS_LST_FREE);

	/* closefrom: the same, from a high fd. */
	l = t_listener(AF_INET, true, &port);
	d = fs_fcntl_dupfd(l, F_DUPFD, 900);
	L = lst(d);
	fs_close(l);
	lfd = local_fd(d);
	assert_true(lfd >= 0 && lfd < 900);
	fs_closefrom(900);
	assert_false(t_fd_open(d));
	assert_false(t_fd_open(lfd));
	assert_int_equal(atomic_load(&L->state), FS_LST_FREE);
}

/* ---- shutdown, fork, threads ---------------------------------------- */

static void shutdown_and_listen_again(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), lfd = local_fd(l), lfd2;

	(void)state;
	assert_true(lfd >= 0);
	assert_int_equal(fs_shutdown(l, SHUT_WR), 0);	/* no effect */
	assert_true(t_fd_open(lfd));
	assert_int_equal(fs_shutdown(l, SHUT_RD), 0);	/* stops listening */
	assert_false(t_fd_open(lfd));
	assert_int_equal(atomic_load(&lst(l)->state), FS_LST_SHUT);
	assert_int_equal(local_fd(l), -1);
	assert_int_equal(fs_listen(l, 32), 0);
	lfd2 = local_fd(l);
	assert_true(lfd2 >= 0);
	assert_int_equal(lst(l)->backlog, 32);
	fs_close(l);
	assert_false(t_fd_open(lfd2));
}

static void fork_child_gets_its_own(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), lfd = local_fd(l), st;
	fs_ent e = fs_fdmap_get(l);
	pid_t pid;

	(void)state;
	assert_true(lfd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = 0, mine;

		if (fs_fdmap_get(l) != e)
			bad |= 1;	/* the child keeps the bookkeeping */
		if (t_fd_open(lfd) || fs_fdmap_get(lfd))
			bad |= 2;	/* the parent's local is not the child's */
		mine = local_fd(l);
		if (mine < 0)
			bad |= 4;	/* the child makes its own */
		fs_close(l);
		if (mine >= 0 && t_fd_open(mine))
			bad |= 8;
		_exit(bad);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(t_fd_open(lfd));	/* the parent's is untouched */
	assert_int_equal(local_fd(l), lfd);
	fs_close(l);
}

struct thread_arg {
	int l, lfd;
	cpu_set_t aff;
};

static void *thread_waits(void *p)
{
	struct thread_arg *a = p;

	a->lfd = local_fd(a->l);
	sched_getaffinity(0, sizeof(a->aff), &a->aff);
	return NULL;
}

static void thread_exit_closes_its_local(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), mine = local_fd(l);
	struct thread_arg a = { .l = l, .lfd = -1 };
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, thread_waits, &a), 0);
	pthread_join(t, NULL);
	assert_true(a.lfd >= 0);
	assert_true(a.lfd != mine);		/* one per thread */
	assert_int_equal(CPU_COUNT(&a.aff), 1);	/* pinned */
	assert_false(t_fd_open(a.lfd));		/* closed when it exited */
	assert_true(t_fd_open(mine));
	fs_close(l);
}

/* An fd closed behind the shim's back, its number reused. */
static void stale_entry_forgotten(void **state)
{
	int port, l = t_listener(AF_INET, true, &port), s;
	fs_ent old = fs_fdmap_get(l);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	(void)state;
	close(l);	/* libc's close: the shim does not see it */
	s = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(s, l);
	assert_int_equal(fs_ent_kind(fs_fdmap_get(s)), FS_K_LISTEN);
	a.sin_port = htons((uint16_t)t_free_port(AF_INET));
	assert_int_equal(fs_bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	/* The old listener is gone, the fd is a new managed socket. */
	assert_null(fs_listener_known(old));
	assert_true(fs_fdmap_get(s) != old);
	assert_int_equal(atomic_load(&lst(s)->state), FS_LST_BOUND);
	assert_int_equal(atomic_load(&lst(s)->nfds), 1);
	fs_close(s);
	assert_int_equal(atomic_load(&fs_nlisteners), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bind_manages_tcp, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(bind_passes_through, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(bind_failure_restores, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(app_reuseport_lone_socket, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(app_reuseport_per_worker, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(inherited_listener_adopted, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(dup_and_close, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(dup2_and_dup3, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(app_clobbers_local, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(close_range_and_closefrom, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(shutdown_and_listen_again, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(fork_child_gets_its_own, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(thread_exit_closes_its_local, t_reset, t_reset),
		cmocka_unit_test_setup_teardown(stale_entry_forgotten, t_reset, t_reset),
	};

	t_init();
	return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
