// SPDX-License-Identifier: GPL-2.0
/*
 * The fd table itself (fdmap.c). What bind, listen, dup, close, fork and
 * thread exit do to listeners is test_lifecycle.c.
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

/* ---- the table ------------------------------------------------------ */

struct visit_ctx {
	int *order;
	int *n;
};

static void visit(int fd, fs_ent ent, void *ctx)
{
	struct visit_ctx *c = ctx;

	(void)ent;
	c->order[(*c->n)++] = fd;
}

static void table_basics(void **state)
{
	fs_ent e = fs_ent_make(FS_K_LISTEN, 17, 0xdeadbeef);
	int order[4], n = 0;

	(void)state;
	assert_int_equal(fs_ent_kind(e), FS_K_LISTEN);
	assert_int_equal(fs_ent_idx(e), 17);
	assert_int_equal(fs_ent_gen(e), 0xdeadbeef);

	assert_int_equal(fs_fdmap_get(5), 0);
	assert_int_equal(fs_fdmap_set(5, e), 0);
	assert_true(fs_fdmap_get(5) == e);
	assert_true(fs_fdmap_xchg(5, 0) == e);
	assert_int_equal(fs_fdmap_get(5), 0);

	/* Chunk edges, far fds, out of range. */
	const int fds[] = { 0, 1023, 1024, 1025, 65535, 1 << 20,
			    (int)FS_FD_MAX - 1 };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		assert_int_equal(fs_fdmap_set(fds[i], e + i), 0);
		assert_true(fs_fdmap_get(fds[i]) == e + i);
	}
	assert_int_equal(fs_fdmap_set((int)FS_FD_MAX, e), -1);
	assert_int_equal(fs_fdmap_get((int)FS_FD_MAX), 0);
	assert_int_equal(fs_fdmap_set(-1, e), -1);
	assert_int_equal(fs_fdmap_get(-1), 0);
	assert_int_equal(fs_fdmap_get(1026), 0);

	/* Compare-and-swap. */
	assert_false(fs_fdmap_cas(1024, e, 0));
	assert_true(fs_fdmap_cas(1024, e + 2, e));
	assert_true(fs_fdmap_get(1024) == e);

	/* foreach: the range, in order. */
	fs_fdmap_reset();
	fs_fdmap_set(3, e);
	fs_fdmap_set(1024, e);
	fs_fdmap_set(2000, e);
	fs_fdmap_set(1 << 20, e);
	struct visit_ctx ctx = { order, &n };
	fs_fdmap_foreach(4, -1, visit, &ctx);
	assert_int_equal(n, 3);
	assert_int_equal(order[0], 1024);
	assert_int_equal(order[1], 2000);
	assert_int_equal(order[2], 1 << 20);
	n = 0;
	fs_fdmap_foreach(0, 1024, visit, &ctx);
	assert_int_equal(n, 2);
	assert_int_equal(order[0], 3);
	fs_fdmap_reset();
	assert_int_equal(fs_fdmap_get(3), 0);
}

/* ---- bind and listen ------------------------------------------------ */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(table_basics, t_reset, t_reset),
	};

	t_init();
	return cmocka_run_group_tests_name("fdmap", tests, NULL, NULL);
}
