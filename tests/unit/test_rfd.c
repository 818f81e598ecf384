// SPDX-License-Identifier: GPL-2.0
/*
 * RFD port blocks: FASTSOCKET_RFD_LAYOUT parsing, the uapi owner
 * function, and fs_rfd_connect() and fs_rfd_pick() against fake system
 * calls (what it sets, how often, the fallback, ENOPROTOOPT, what it
 * leaves alone).
 */
#include "support.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/fastsocket.h>

#include "config.h"
#include "cpu.h"
#include "init.h"
#include "real.h"
#include "rfd.h"
#include "shim.h"

static char err[FS_ERR_MAX];

/* ---- the owner function --------------------------------------------- */

static void owner_edges(void **state)
{
	(void)state;
	/* 32768-60999/4: B = 7058, the last 0 ports nobody's (28232 = 4*7058) */
	assert_int_equal(fastsocket_rfd_owner(32768, 32768, 7058, 4), 0);
	assert_int_equal(fastsocket_rfd_owner(32768 + 7057, 32768, 7058, 4), 0);
	assert_int_equal(fastsocket_rfd_owner(32768 + 7058, 32768, 7058, 4), 1);
	assert_int_equal(fastsocket_rfd_owner(60999, 32768, 7058, 4), 3);
	assert_int_equal(fastsocket_rfd_owner(61000, 32768, 7058, 4), -1);
	assert_int_equal(fastsocket_rfd_owner(32767, 32768, 7058, 4), -1);
	assert_int_equal(fastsocket_rfd_owner(0, 32768, 7058, 4), -1);
	/* 10 ports in 3 blocks of 3: port lo+9 is past the last whole one */
	assert_int_equal(fastsocket_rfd_owner(108, 100, 3, 3), 2);
	assert_int_equal(fastsocket_rfd_owner(109, 100, 3, 3), -1);
	/* the top of the port space, no overflow */
	assert_int_equal(fastsocket_rfd_owner(65535, 1, 65535, 1), 0);
	assert_int_equal(fastsocket_rfd_owner(65535, 65535, 1, 1), 0);
	assert_int_equal(fastsocket_rfd_owner(65535, 32768, 16384, 2), 1);
	/* empty layouts own nothing */
	assert_int_equal(fastsocket_rfd_owner(40000, 32768, 0, 4), -1);
	assert_int_equal(fastsocket_rfd_owner(40000, 32768, 7058, 0), -1);
}

/* Every port of the layout is in exactly its block, across a whole range. */
static void owner_matches_blocks(void **state)
{
	const unsigned int lo = 1000, b = 7, n = 5;

	(void)state;
	for (unsigned int p = 0; p < 65536; p++) {
		int want = p >= lo && p < lo + b * n ? (int)((p - lo) / b) : -1;

		assert_int_equal(fastsocket_rfd_owner((__u16)p, lo, b, n), want);
	}
}

/* ---- FASTSOCKET_RFD_LAYOUT ------------------------------------------ */

static void expect_layout(const char *s, unsigned int lo, unsigned int hi,
			  unsigned int block, unsigned int n)
{
	struct fs_rfd_layout l;

	memset(&l, 0xff, sizeof(l));
	assert_int_equal(fs_parse_rfd_layout(s, &l, err, sizeof(err)), 0);
	assert_int_equal(l.lo, lo);
	assert_int_equal(l.hi, hi);
	assert_int_equal(l.block, block);
	assert_int_equal(l.ncpus, n);
}

static void layout_good(void **state)
{
	(void)state;
	expect_layout("32768-60999/4", 32768, 60999, 7058, 4);
	expect_layout("32768-60999/2", 32768, 60999, 14116, 2);
	expect_layout("32768-65535/4", 32768, 65535, 8192, 4);
	expect_layout(" 32768 - 65535 / 4 ", 32768, 65535, 8192, 4);
	expect_layout("40000-40015/2", 40000, 40015, 8, 2);
	expect_layout("40000-40009/3", 40000, 40009, 3, 3);	/* 1 left over */
	expect_layout("1-65535/1", 1, 65535, 65535, 1);
	expect_layout("5000-5000/1", 5000, 5000, 1, 1);
	expect_layout("1-1024/1024", 1, 1024, 1, 1024);
	expect_layout("040000-040015/02", 40000, 40015, 8, 2);
}

static void expect_layout_bad(const char *s, const char *msg)
{
	struct fs_rfd_layout l, before;

	memset(&l, 0x5a, sizeof(l));
	before = l;
	assert_int_equal(fs_parse_rfd_layout(s, &l, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
	assert_memory_equal(&l, &before, sizeof(l));
}

static void layout_bad(void **state)
{
	(void)state;
	expect_layout_bad("auto", "FASTSOCKET_RFD_LAYOUT: \"auto\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("32768-60999", "FASTSOCKET_RFD_LAYOUT: \"32768-60999\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("32768/4-60999", "FASTSOCKET_RFD_LAYOUT: \"32768/4-60999\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("32768:7058:4", "FASTSOCKET_RFD_LAYOUT: \"32768:7058:4\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("-60999/4", "FASTSOCKET_RFD_LAYOUT: \"-60999/4\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("32768-60999/", "FASTSOCKET_RFD_LAYOUT: \"32768-60999/\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("32768-60999/4x", "FASTSOCKET_RFD_LAYOUT: \"32768-60999/4x\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("32768-60999/-4", "FASTSOCKET_RFD_LAYOUT: \"32768-60999/-4\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("32768--60999/4", "FASTSOCKET_RFD_LAYOUT: \"32768--60999/4\": not LO-HI/N (e.g. 32768-60999/4)");
	expect_layout_bad("0-100/1", "FASTSOCKET_RFD_LAYOUT: \"0-100/1\": a port is out of range (1-65535)");
	expect_layout_bad("60000-65536/2", "FASTSOCKET_RFD_LAYOUT: \"60000-65536/2\": a port is out of range (1-65535)");
	expect_layout_bad("1-99999999999/2", "FASTSOCKET_RFD_LAYOUT: \"1-99999999999/2\": a port is out of range (1-65535)");
	expect_layout_bad("40000-30000/2", "FASTSOCKET_RFD_LAYOUT: \"40000-30000/2\": a backwards range");
	expect_layout_bad("32768-60999/0", "FASTSOCKET_RFD_LAYOUT: \"32768-60999/0\": the number of CPUs is out of range (1-1024)");
	expect_layout_bad("1-65535/1025", "FASTSOCKET_RFD_LAYOUT: \"1-65535/1025\": the number of CPUs is out of range (1-1024)");
	expect_layout_bad("40000-40002/4", "FASTSOCKET_RFD_LAYOUT: \"40000-40002/4\": fewer ports (3) than CPUs");
}

/* fs_config_init(): a bad value is one line and the shim is off. */
static void layout_init_one_line(void **state)
{
	int p[2], st;
	char out[512];
	ssize_t n, got = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		setenv("FASTSOCKET_RFD_LAYOUT", "4-2/1", 1);
		fs_config_init();
		_exit(fs_cfg.valid || fs_cfg.rfd ? 0 : 1);
	}
	close(p[1]);
	while ((n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	assert_string_equal(out, "fastsocket: FASTSOCKET_RFD_LAYOUT: \"4-2/1\": a backwards range; running unaccelerated\n");
}

/* ---- fs_rfd_connect() against fakes --------------------------------- */

static int n_setsockopt, n_connect, fail_connects, setsockopt_errno;
static uint32_t last_range[8];

static int fake_setsockopt(int fd, int level, int name, const void *val,
			   socklen_t len)
{
	(void)fd;
	assert_int_equal(level, IPPROTO_IP);
	assert_int_equal(name, IP_LOCAL_PORT_RANGE);
	assert_int_equal(len, sizeof(uint32_t));
	if (setsockopt_errno) {
		errno = setsockopt_errno;
		return -1;
	}
	memcpy(&last_range[n_setsockopt++ % 8], val, sizeof(uint32_t));
	return 0;
}

static int fake_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	(void)fd;
	(void)sa;
	(void)len;
	n_connect++;
	if (fail_connects > 0) {
		fail_connects--;
		errno = EADDRNOTAVAIL;
		return -1;
	}
	errno = EINPROGRESS;
	return -1;
}

static int (*saved_setsockopt)(int, int, int, const void *, socklen_t);
static cpu_set_t saved_aff;

static int rfd_setup(void **state)
{
	(void)state;
	t_config(1);
	fs_rfd_reset();
	assert_int_equal(fs_parse_rfd_layout("40000-40799/4", &fs_cfg.rfd_layout,
					     err, sizeof(err)), 0);
	fs_cfg.rfd = true;
	fs_rfd_init("/dev/null");	/* no range to check against */
	assert_true(fs_rfd_on);
	saved_setsockopt = fs_real.setsockopt;
	fs_real.setsockopt = fake_setsockopt;
	n_setsockopt = n_connect = fail_connects = setsockopt_errno = 0;
	sched_getaffinity(0, sizeof(saved_aff), &saved_aff);
	return 0;
}

static int rfd_teardown(void **state)
{
	(void)state;
	fs_real.setsockopt = saved_setsockopt;
	sched_setaffinity(0, sizeof(saved_aff), &saved_aff);
	fs_rfd_reset();
	fs_cfg.rfd = false;
	return 0;
}

static struct sockaddr_in dst = {
	.sin_family = AF_INET,
	.sin_port = 0x5000,
};

static int do_connect(int fd)
{
	return fs_rfd_connect(fd, (struct sockaddr *)&dst, sizeof(dst),
			      fake_connect);
}

static void pin(int cpu)
{
	assert_int_equal(fs_cpu_pin(cpu), 0);
}

/* The highest CPU we may use that has a block of a 4-CPU layout (so not
 * only CPU 0's range is checked), or skip the test. */
static int highest_cpu_with_block(void)
{
	int cpu = -1;

	for (int c = 0; c < 4; c++)
		if (CPU_ISSET(c, &t_affinity))
			cpu = c;
	if (cpu < 0)
		skip();
	return cpu;
}

static void connect_sets_block(void **state)
{
	int cpu = highest_cpu_with_block();

	(void)state;
	pin(cpu);
	fs_rfd_socket(7, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(do_connect(7), -1);
	assert_int_equal(errno, EINPROGRESS);	/* passed through as it came */
	assert_int_equal(n_setsockopt, 1);
	assert_int_equal(n_connect, 1);
	uint32_t lo = 40000 + (uint32_t)cpu * 200;

	assert_int_equal(last_range[0], (lo + 199) << 16 | lo);
	/* connect() again (EALREADY, EISCONN): no second setsockopt */
	assert_int_equal(do_connect(7), -1);
	assert_int_equal(n_setsockopt, 1);
	assert_int_equal(n_connect, 2);
	fs_rfd_forget(7);
}

static void connect_fallback_once(void **state)
{
	struct fs_rfd_stats st;

	(void)state;
	pin(0);
	fs_rfd_socket(8, AF_INET6, SOCK_STREAM, IPPROTO_TCP);
	fail_connects = 1;
	assert_int_equal(do_connect(8), -1);
	assert_int_equal(errno, EINPROGRESS);
	assert_int_equal(n_setsockopt, 2);
	assert_int_equal(last_range[1], 0);	/* cleared: the full range */
	assert_int_equal(n_connect, 2);
	fs_rfd_stats(&st);
	assert_int_equal(st.set, 1);
	assert_int_equal(st.fallback, 1);

	/* full range exhausted too: EADDRNOTAVAIL, one retry only */
	fs_rfd_socket(9, AF_INET, SOCK_STREAM, 0);
	fail_connects = 5;
	assert_int_equal(do_connect(9), -1);
	assert_int_equal(errno, EADDRNOTAVAIL);
	assert_int_equal(n_connect, 4);
	fs_rfd_stats(&st);
	assert_int_equal(st.fallback, 2);
}

/* A Fast Open send: bytes sent on success, EADDRNOTAVAIL on a full block. */
static ssize_t fake_send(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	n_connect++;
	if (fail_connects > 0) {
		fail_connects--;
		errno = EADDRNOTAVAIL;
		return -1;
	}
	return 5;
}

static void fastopen_send_counts_bytes(void **state)
{
	struct fs_rfd_stats st;

	(void)state;
	pin(0);
	fs_rfd_socket(10, AF_INET, SOCK_STREAM, 0);
	/* Bytes sent are success: no fallback. */
	assert_int_equal(fs_rfd_pick(10, (struct sockaddr *)&dst, sizeof(dst),
				     fake_send, NULL), 5);
	assert_int_equal(n_setsockopt, 1);
	assert_int_equal(last_range[0], 40199U << 16 | 40000U);
	assert_int_equal(n_connect, 1);
	/* A full block: once more on the full range. */
	fs_rfd_socket(11, AF_INET, SOCK_STREAM, 0);
	fail_connects = 1;
	assert_int_equal(fs_rfd_pick(11, (struct sockaddr *)&dst, sizeof(dst),
				     fake_send, NULL), 5);
	assert_int_equal(n_setsockopt, 3);
	assert_int_equal(last_range[2], 0);
	assert_int_equal(n_connect, 3);
	fs_rfd_stats(&st);
	assert_int_equal(st.set, 2);
	assert_int_equal(st.fallback, 1);
}

static void connect_leaves_alone(void **state)
{
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = 0x3930 };
	uint32_t range = 1;
	int one = 1, zero = 0;

	(void)state;
	pin(0);
	/* not TCP, not made by socket(), forgotten */
	fs_rfd_socket(10, AF_INET, SOCK_DGRAM, 0);
	fs_rfd_socket(11, AF_UNIX, SOCK_STREAM, 0);
	fs_rfd_socket(12, AF_INET, SOCK_STREAM, IPPROTO_SCTP);
	fs_rfd_socket(13, AF_INET, SOCK_STREAM, 0);
	fs_rfd_forget(13);
	/* bound to a port; bound to 0 (too late); app range */
	fs_rfd_socket(14, AF_INET, SOCK_STREAM, 0);
	fs_rfd_bound(14, (struct sockaddr *)&me, sizeof(me));
	me.sin_port = 0;
	fs_rfd_socket(15, AF_INET, SOCK_STREAM, 0);
	fs_rfd_bound(15, (struct sockaddr *)&me, sizeof(me));
	fs_rfd_socket(16, AF_INET, SOCK_STREAM, 0);
	fs_rfd_setsockopt(16, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range,
			  sizeof(range));
	for (int fd = 10; fd <= 16; fd++)
		do_connect(fd);
	/* an fd never seen */
	do_connect(4000);
	assert_int_equal(n_setsockopt, 0);
	assert_int_equal(n_connect, 8);

	/* IP_BIND_ADDRESS_NO_PORT then bind(0): the port comes at connect */
	fs_rfd_socket(17, AF_INET, SOCK_STREAM, 0);
	fs_rfd_setsockopt(17, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			  sizeof(one));
	fs_rfd_bound(17, (struct sockaddr *)&me, sizeof(me));
	do_connect(17);
	assert_int_equal(n_setsockopt, 1);
	/* ... unless it was switched off again before the bind */
	fs_rfd_socket(18, AF_INET, SOCK_STREAM, 0);
	fs_rfd_setsockopt(18, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			  sizeof(one));
	fs_rfd_setsockopt(18, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &zero,
			  sizeof(zero));
	fs_rfd_bound(18, (struct sockaddr *)&me, sizeof(me));
	do_connect(18);
	assert_int_equal(n_setsockopt, 1);

	/* AF_UNSPEC (disconnect) passes through */
	struct sockaddr un = { .sa_family = AF_UNSPEC };

	fs_rfd_socket(19, AF_INET, SOCK_STREAM, 0);
	fs_rfd_connect(19, &un, sizeof(un), fake_connect);
	assert_int_equal(n_setsockopt, 1);
}

static void connect_not_pinned_or_beyond(void **state)
{
	(void)state;
	if (CPU_COUNT(&t_affinity) < 2)
		skip();
	assert_int_equal(fs_cpu_setaffinity(&t_affinity), 0);
	fs_rfd_socket(20, AF_INET, SOCK_STREAM, 0);
	do_connect(20);
	assert_int_equal(n_setsockopt, 0);
	assert_int_equal(n_connect, 1);
	/* a layout of one block: only CPU 0 has one */
	fs_cfg.rfd_layout.ncpus = 1;
	fs_rfd_init("/dev/null");
	for (int c = 1; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &t_affinity))
			continue;
		pin(c);
		fs_rfd_socket(21, AF_INET, SOCK_STREAM, 0);
		do_connect(21);
		assert_int_equal(n_setsockopt, 0);
		break;
	}
	fs_cfg.rfd_layout.ncpus = 4;
}

/* An older kernel: said once, and no more setsockopt from then on. */
static void connect_enoprotoopt(void **state)
{
	(void)state;
	pin(0);
	setsockopt_errno = ENOPROTOOPT;
	fs_rfd_socket(22, AF_INET, SOCK_STREAM, 0);
	fs_rfd_socket(23, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(do_connect(22), -1);
	assert_int_equal(errno, EINPROGRESS);
	assert_int_equal(n_connect, 1);
	setsockopt_errno = 0;
	do_connect(23);
	assert_int_equal(n_setsockopt, 0);	/* not even tried */
	assert_int_equal(n_connect, 2);
}

/* A layout outside net.ipv4.ip_local_port_range leaves RFD off. */
static void init_checks_netns_range(void **state)
{
	char path[] = "/tmp/t_rfd_rangeXXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "32768\t60999\n", 12), 12);
	close(fd);
	assert_int_equal(fs_parse_rfd_layout("32768-60999/4", &fs_cfg.rfd_layout,
					     err, sizeof(err)), 0);
	fs_rfd_init(path);
	assert_true(fs_rfd_on);
	assert_int_equal(fs_parse_rfd_layout("32768-65535/4", &fs_cfg.rfd_layout,
					     err, sizeof(err)), 0);
	fs_rfd_init(path);
	assert_false(fs_rfd_on);
	/* 60999 is beyond the last whole block of 32767-61000/4: fine */
	assert_int_equal(fs_parse_rfd_layout("32767-61002/4", &fs_cfg.rfd_layout,
					     err, sizeof(err)), 0);
	fs_rfd_init(path);
	assert_false(fs_rfd_on);
	assert_int_equal(fs_parse_rfd_layout("32768-61002/4", &fs_cfg.rfd_layout,
					     err, sizeof(err)), 0);
	fs_rfd_init(path);	/* blocks end at 32768+4*7058-1 = 60999 */
	assert_true(fs_rfd_on);
	unlink(path);
}

/* The module's port blocks (FASTSOCKET_FEAT_RFD_PORTS) when no
 * FASTSOCKET_RFD_LAYOUT is given; the environment's win when it is. */
static void module_layout_adopted(void **state)
{
	struct fastsocket_info info = {
		.features = FASTSOCKET_FEAT_SPAWN | FASTSOCKET_FEAT_RFD_PORTS,
		.enable_receive_flow_deliver = FASTSOCKET_RFD_PORTS,
		.rfd_port_lo = 50000, .rfd_block = 100, .rfd_ncpus = 4,
	};
	int cpu = highest_cpu_with_block();

	(void)state;
	/* rfd_setup turned on 40000-40799/4 from the environment */
	assert_true(fs_lock());
	fs_rfd_adopt(&info);
	fs_unlock();
	pin(cpu);
	fs_rfd_socket(7, AF_INET, SOCK_STREAM, 0);
	do_connect(7);
	assert_int_equal(last_range[0], (40000 + (uint32_t)cpu * 200 + 199) << 16 |
					(40000 + (uint32_t)cpu * 200));
	/* without the environment's layout: the module's */
	fs_rfd_reset();
	fs_cfg.rfd = false;
	fs_rfd_init("/dev/null");
	assert_false(fs_rfd_on);
	info.features = FASTSOCKET_FEAT_SPAWN;	/* module without blocks */
	assert_true(fs_lock());
	fs_rfd_adopt(&info);
	assert_false(fs_rfd_on);
	info.features |= FASTSOCKET_FEAT_RFD_PORTS;
	info.rfd_ncpus = 0;			/* nonsense: refused */
	fs_rfd_adopt(&info);
	assert_false(fs_rfd_on);
	info.rfd_ncpus = 4;
	fs_rfd_adopt(&info);
	fs_unlock();
	assert_true(fs_rfd_on);
	fs_rfd_socket(8, AF_INET, SOCK_STREAM, 0);
	do_connect(8);
	assert_int_equal(n_setsockopt, 2);
	assert_int_equal(last_range[1], (50000 + (uint32_t)cpu * 100 + 99) << 16 |
					(50000 + (uint32_t)cpu * 100));
	fs_rfd_forget(7);
	fs_rfd_forget(8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(owner_edges),
		cmocka_unit_test(owner_matches_blocks),
		cmocka_unit_test(layout_good),
		cmocka_unit_test(layout_bad),
		cmocka_unit_test(layout_init_one_line),
		cmocka_unit_test_setup_teardown(connect_sets_block, rfd_setup, rfd_teardown),
		cmocka_unit_test_setup_teardown(connect_fallback_once, rfd_setup, rfd_teardown),
		cmocka_unit_test_setup_teardown(fastopen_send_counts_bytes, rfd_setup, rfd_teardown),
		cmocka_unit_test_setup_teardown(connect_leaves_alone, rfd_setup, rfd_teardown),
		cmocka_unit_test_setup_teardown(connect_not_pinned_or_beyond, rfd_setup, rfd_teardown),
		cmocka_unit_test_setup_teardown(connect_enoprotoopt, rfd_setup, rfd_teardown),
		cmocka_unit_test_setup_teardown(init_checks_netns_range, rfd_setup, rfd_teardown),
		cmocka_unit_test_setup_teardown(module_layout_adopted, rfd_setup, rfd_teardown),
	};

	return cmocka_run_group_tests_name("rfd", tests, NULL, NULL);
}
