// SPDX-License-Identifier: GPL-2.0
/*
 * CPU choice: least loaded, within the allowed set, ties to the lowest
 * CPU; the plan for each mode; the shared load table across processes.
 */
#include "support.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "cpu.h"
#include "exec.h"
#include "shim.h"

static cpu_set_t set_of(const char *list)
{
	char err[FS_ERR_MAX];
	cpu_set_t s;

	assert_int_equal(fs_parse_cpus(list, &s, err, sizeof(err)), 0);
	return s;
}

static void only(void **state)
{
	cpu_set_t s;

	(void)state;
	s = set_of("3");
	assert_int_equal(fs_cpu_only(&s), 3);
	s = set_of("0");
	assert_int_equal(fs_cpu_only(&s), 0);
	s = set_of("1023");
	assert_int_equal(fs_cpu_only(&s), 1023);
	s = set_of("0-1");
	assert_int_equal(fs_cpu_only(&s), -1);
	CPU_ZERO(&s);
	assert_int_equal(fs_cpu_only(&s), -1);
}

static void least_loaded(void **state)
{
	uint32_t counts[8] = { 3, 1, 2, 1, 0, 5, 0, 0 };
	cpu_set_t s;

	(void)state;
	s = set_of("0-3");
	assert_int_equal(fs_cpu_least_loaded(&s, counts, 8), 1);	/* tie 1,3: lowest */
	s = set_of("0,2");
	assert_int_equal(fs_cpu_least_loaded(&s, counts, 8), 2);
	s = set_of("0-7");
	assert_int_equal(fs_cpu_least_loaded(&s, counts, 8), 4);
	s = set_of("5");
	assert_int_equal(fs_cpu_least_loaded(&s, counts, 8), 5);	/* only choice */
	s = set_of("5-7");
	assert_int_equal(fs_cpu_least_loaded(&s, counts, 8), 6);
	s = set_of("8-9");	/* outside the counts */
	assert_int_equal(fs_cpu_least_loaded(&s, counts, 8), -1);
	CPU_ZERO(&s);
	assert_int_equal(fs_cpu_least_loaded(&s, counts, 8), -1);
}

static void least_loaded_all_equal(void **state)
{
	uint32_t counts[4] = { 7, 7, 7, 7 };
	cpu_set_t s = set_of("1-3");

	(void)state;
	assert_int_equal(fs_cpu_least_loaded(&s, counts, 4), 1);
}

static void plan_mode0(void **state)
{
	struct fs_cpu_plan p;
	cpu_set_t aff = set_of("0-3"), allowed = set_of("0-3");

	(void)state;
	fs_cpu_plan(0, &aff, NULL, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_NONE);
	assert_non_null(p.why);
}

static void plan_mode1(void **state)
{
	struct fs_cpu_plan p;
	cpu_set_t allowed = set_of("0-3"), aff;

	(void)state;
	aff = set_of("0-3");	/* not pinned */
	fs_cpu_plan(1, &aff, NULL, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_NONE);
	assert_string_equal(p.why, "FASTSOCKET_MODE=1 and the worker is not pinned to one CPU");

	aff = set_of("2");	/* pinned by the application */
	fs_cpu_plan(1, &aff, NULL, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_KEEP);
	assert_int_equal(p.cpu, 2);

	allowed = set_of("0-1");	/* but not to an allowed CPU */
	fs_cpu_plan(1, &aff, NULL, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_NONE);
	assert_string_equal(p.why, "the worker's CPU is not in FASTSOCKET_CPUS");
}

static void plan_mode2(void **state)
{
	struct fs_cpu_plan p;
	cpu_set_t allowed = set_of("0-3"), aff, base, want;

	(void)state;
	aff = set_of("0-7");	/* free: pick among allowed */
	fs_cpu_plan(2, &aff, NULL, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_PICK);
	want = set_of("0-3");
	assert_true(CPU_EQUAL(&p.from, &want));

	aff = set_of("2-5");	/* restricted by the application */
	fs_cpu_plan(2, &aff, NULL, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_PICK);
	want = set_of("2-3");
	assert_true(CPU_EQUAL(&p.from, &want));

	aff = set_of("3");	/* the application pinned it: kept */
	fs_cpu_plan(2, &aff, NULL, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_KEEP);
	assert_int_equal(p.cpu, 3);

	/* Pinned by the shim in a parent: placed anew from before that. */
	base = set_of("0-7");
	fs_cpu_plan(2, &aff, &base, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_PICK);
	want = set_of("0-3");
	assert_true(CPU_EQUAL(&p.from, &want));

	aff = set_of("4-7");	/* nothing allowed */
	fs_cpu_plan(2, &aff, NULL, &allowed, &p);
	assert_int_equal(p.how, FS_CPU_NONE);
	assert_string_equal(p.why, "none of the worker's CPUs is in FASTSOCKET_CPUS");
}

static void load_spreads(void **state)
{
	struct fs_load *load = fs_load_new();
	cpu_set_t from = set_of("0-1");
	int slot[6], got[6];

	(void)state;
	assert_non_null(load);
	for (int i = 0; i < 4; i++)
		got[i] = fs_load_reserve(load, &from, getpid(), gettid(), &slot[i]);
	assert_int_equal(got[0], 0);
	assert_int_equal(got[1], 1);
	assert_int_equal(got[2], 0);
	assert_int_equal(got[3], 1);
	assert_int_equal(atomic_load(&load->count[0]), 2);
	assert_int_equal(atomic_load(&load->count[1]), 2);

	/* A worker on CPU 1 leaves: the next goes there. */
	fs_load_release(load, slot[1]);
	assert_int_equal(atomic_load(&load->count[1]), 1);
	got[4] = fs_load_reserve(load, &from, getpid(), gettid(), &slot[4]);
	assert_int_equal(got[4], 1);

	/* Releasing twice does not count twice. */
	fs_load_release(load, slot[4]);
	fs_load_release(load, slot[4]);
	assert_int_equal(atomic_load(&load->count[1]), 1);

	/* Only within the set given. */
	from = set_of("1");
	got[5] = fs_load_reserve(load, &from, getpid(), gettid(), &slot[5]);
	assert_int_equal(got[5], 1);
	CPU_ZERO(&from);
	assert_int_equal(fs_load_reserve(load, &from, getpid(), gettid(), &slot[5]), -1);
	fs_load_free(load);
}

/* Processes forked after the table was made share it. */
static void load_shared_across_fork(void **state)
{
	struct fs_load *load = fs_load_new();
	cpu_set_t from = set_of("0-3");
	pid_t pids[8];

	(void)state;
	for (int i = 0; i < 8; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			int slot;

			fs_load_reserve(load, &from, getpid(), gettid(), &slot);
			pause();	/* stay alive: the reservation holds */
			_exit(0);
		}
	}
	for (int tries = 0; tries < 500; tries++) {
		uint32_t sum = 0;

		for (int c = 0; c < 4; c++)
			sum += atomic_load(&load->count[c]);
		if (sum == 8)
			break;
		usleep(10000);
	}
	for (int c = 0; c < 4; c++)
		assert_int_equal(atomic_load(&load->count[c]), 2);

	/* Workers killed without a word: their CPUs come back. */
	for (int i = 0; i < 8; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	fs_load_reap(load);
	for (int c = 0; c < 4; c++)
		assert_int_equal(atomic_load(&load->count[c]), 0);
	fs_load_free(load);
}

/* A dead worker's CPU is taken by the next one, not a busy CPU. */
static void load_dead_worker_replaced(void **state)
{
	struct fs_load *load = fs_load_new();
	cpu_set_t from = set_of("0-1");
	int slot, st;
	pid_t pid;

	(void)state;
	assert_int_equal(fs_load_reserve(load, &from, getpid(), gettid(), &slot), 0);
	pid = fork();
	if (pid == 0) {
		int s;

		_exit(fs_load_reserve(load, &from, getpid(), gettid(), &s) == 1 ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* CPU 1's worker is gone: CPU 1 again, not CPU 0. */
	assert_int_equal(fs_load_reserve(load, &from, getpid(), gettid(), &slot), 1);
	fs_load_free(load);
}

static void pin(void **state)
{
	cpu_set_t now;
	int target = fs_cpu_only(&t_affinity) >= 0 ? fs_cpu_only(&t_affinity) : -1;

	(void)state;
	for (int c = 0; c < FS_MAX_CPUS && target < 0; c++)
		if (CPU_ISSET(c, &t_affinity))
			target = c;
	assert_int_equal(fs_cpu_pin(target), 0);
	sched_getaffinity(0, sizeof(now), &now);
	assert_int_equal(fs_cpu_only(&now), target);
	assert_int_equal(fs_cpu_pin(-1), -1);
	assert_int_equal(fs_cpu_pin(FS_MAX_CPUS), -1);
	sched_setaffinity(0, sizeof(t_affinity), &t_affinity);
}

/*
 * Before an exec the shim's pin gives way to the affinity from before it
 * (and comes back if the exec fails); an affinity the application set
 * after the pin, or a thread the shim never pinned, is left alone.
 */
static void exec_unpin(void **state)
{
	struct fs_exec_pin p;
	cpu_set_t now, two;
	int first = -1, second = -1;

	(void)state;
	for (int c = 0; c < FS_MAX_CPUS; c++) {
		if (!CPU_ISSET(c, &t_affinity))
			continue;
		if (first < 0)
			first = c;
		else if (second < 0)
			second = c;
	}
	if (second < 0)
		skip();	/* one CPU: pinned and unpinned look the same */
	fs_self.shim_pinned = false;
	fs_self.cpu = -1;
	assert_int_equal(fs_cpu_pin(first), 0);
	fs_exec_unpin(&p);
	assert_false(p.unpinned);	/* not the shim's pin */

	fs_self.shim_pinned = true;
	fs_self.cpu = first;
	fs_self.base = t_affinity;
	fs_exec_unpin(&p);
	assert_true(p.unpinned);
	sched_getaffinity(0, sizeof(now), &now);
	assert_true(CPU_EQUAL(&now, &t_affinity));
	fs_exec_repin(&p);
	sched_getaffinity(0, sizeof(now), &now);
	assert_int_equal(fs_cpu_only(&now), first);

	/* The application moved itself since: its affinity, left alone. */
	CPU_ZERO(&two);
	CPU_SET(first, &two);
	CPU_SET(second, &two);
	if (!CPU_EQUAL(&two, &t_affinity)) {
		sched_setaffinity(0, sizeof(two), &two);
		fs_exec_unpin(&p);
		assert_false(p.unpinned);
	}
	assert_int_equal(fs_cpu_pin(second), 0);
	fs_exec_unpin(&p);
	assert_false(p.unpinned);	/* not the CPU the shim chose */

	fs_self.shim_pinned = false;
	fs_self.cpu = -1;
	sched_setaffinity(0, sizeof(t_affinity), &t_affinity);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(only),
		cmocka_unit_test(least_loaded),
		cmocka_unit_test(least_loaded_all_equal),
		cmocka_unit_test(plan_mode0),
		cmocka_unit_test(plan_mode1),
		cmocka_unit_test(plan_mode2),
		cmocka_unit_test(load_spreads),
		cmocka_unit_test(load_shared_across_fork),
		cmocka_unit_test(load_dead_worker_replaced),
		cmocka_unit_test(pin),
		cmocka_unit_test(exec_unpin),
	};

	t_init();
	return cmocka_run_group_tests_name("cpu", tests, NULL, NULL);
}
