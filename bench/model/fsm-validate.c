// SPDX-License-Identifier: GPL-2.0
/*
 * fsm-validate - workloads with known answers for the cost-model plugin,
 * run in a 2-vCPU guest booted with it (bench/model/validate checks the
 * phase lines the plugin writes). Each workload is one phase:
 *
 *   1 "pingpong"  two threads pinned to CPUs 0 and 1 hand one cache line
 *                 back and forth K times in all (K/2 each way): every
 *                 handoff is a write that invalidates the other's copy
 *                 and a read miss by the other, so 2K transfers (user).
 *   2 "private"   one thread, pinned, writing only its own 256 KiB buffer
 *                 R times: no transfers (user) beyond noise.
 *   3 "loop"      one thread, pinned, running a 4-instruction inline-asm
 *                 loop K times: 4K user instructions.
 *
 *   fsm-validate [PINGPONG_K [PRIVATE_ROUNDS [LOOP_K]]]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm-mark.h"

#define PRIVATE_BYTES (256 * 1024)

static struct {
	_Alignas(64) int turn;		/* alone in its line */
	char pad[60];
} shared;

static struct {
	_Alignas(64) int ready;
	char pad[60];
} start;

static unsigned long pingpong_k;

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "fsm-validate: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
		exit(1);
	}
}

/* Wait until turn == want, then hand the line over. */
static void pass(int want, int give)
{
	while (__atomic_load_n(&shared.turn, __ATOMIC_ACQUIRE) != want)
		__builtin_ia32_pause();
	__atomic_store_n(&shared.turn, give, __ATOMIC_RELEASE);
}

static void *pong(void *arg)
{
	unsigned long i;

	(void)arg;
	pin(1);
	__atomic_store_n(&start.ready, 1, __ATOMIC_RELEASE);
	for (i = 0; i < pingpong_k / 2; i++)
		pass(1, 0);
	return NULL;
}

static void pingpong(unsigned long k)
{
	pthread_t t;
	unsigned long i;

	pingpong_k = k;
	pin(0);
	shared.turn = 0;
	if (pthread_create(&t, NULL, pong, NULL)) {
		fprintf(stderr, "fsm-validate: pthread_create failed\n");
		exit(1);
	}
	while (!__atomic_load_n(&start.ready, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	fsm_phase_begin(1, "pingpong");
	for (i = 0; i < k / 2; i++)
		pass(0, 1);
	pass(0, 0);	/* the last handoff back has arrived */
	fsm_phase_end(1);
	pthread_join(t, NULL);
	printf("fsm-validate: pingpong: %lu handoffs between CPU 0 and CPU 1\n", k);
}

static void private_writes(unsigned long rounds)
{
	volatile uint64_t *buf;
	unsigned long r, i, n = PRIVATE_BYTES / sizeof(uint64_t);

	pin(1);
	buf = aligned_alloc(64, PRIVATE_BYTES);
	if (!buf) {
		fprintf(stderr, "fsm-validate: out of memory\n");
		exit(1);
	}
	for (i = 0; i < n; i++)	/* fault the pages in before the phase */
		buf[i] = 0;
	fsm_phase_begin(2, "private");
	for (r = 0; r < rounds; r++)
		for (i = 0; i < n; i++)
			buf[i] = r + i;
	fsm_phase_end(2);
	printf("fsm-validate: private: %lu rounds of %lu 8-byte stores on CPU 1\n", rounds, n);
	free((void *)buf);
}

static void loop(unsigned long k)
{
	unsigned long a = 0, b = 0, c = k;

	if (!k)
		return;
	pin(0);
	fsm_phase_begin(3, "loop");
	/* 4 instructions per iteration */
	__asm__ volatile(".p2align 4\n"
			 "1:\tadd $1, %0\n\t"
			 "add $3, %1\n\t"
			 "sub $1, %2\n\t"
			 "jnz 1b\n\t"
			 : "+r"(a), "+r"(b), "+r"(c)
			 :
			 : "cc");
	fsm_phase_end(3);
	printf("fsm-validate: loop: %lu iterations of 4 instructions on CPU 0 (a=%lu b=%lu)\n",
	       k, a, b);
}

static unsigned long arg(int argc, char **argv, int i, unsigned long def)
{
	char *end;
	unsigned long v;

	if (argc <= i)
		return def;
	v = strtoul(argv[i], &end, 0);
	if (*end || end == argv[i]) {
		fprintf(stderr, "usage: fsm-validate [PINGPONG_K [PRIVATE_ROUNDS [LOOP_K]]]\n");
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long k = arg(argc, argv, 1, 100000);

	/* pages of the marker buffer in before any phase */
	for (size_t i = 0; i < sizeof(fsm_mark_buf); i += 4096)
		(void)*(volatile unsigned char *)&fsm_mark_buf[i];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (k & 1)
		k++;
	pingpong(k);
	private_writes(arg(argc, argv, 2, 20));
	loop(arg(argc, argv, 3, 10000000));
	return 0;
}
