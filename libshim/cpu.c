// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cpu.c - choosing and pinning a CPU.
 */
#include "cpu.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FS_LOAD_MAGIC	0x66736c64u	/* "fsld" */

int fs_cpu_only(const cpu_set_t *set)
{
	int found = -1;

	if (CPU_COUNT(set) != 1)
		return -1;
	for (int c = 0; c < FS_MAX_CPUS; c++) {
		if (CPU_ISSET(c, set)) {
			found = c;
			break;
		}
	}
	return found;
}

void fs_cpu_plan(int mode, const cpu_set_t *aff, const cpu_set_t *shim_base,
		 const cpu_set_t *allowed, struct fs_cpu_plan *plan)
{
	int only = fs_cpu_only(aff);

	memset(plan, 0, sizeof(*plan));
	plan->how = FS_CPU_NONE;
	plan->cpu = -1;
	switch (mode) {
	case 1:
		if (only < 0) {
			plan->why = "FASTSOCKET_MODE=1 and the worker is not pinned to one CPU";
			return;
		}
		break;
	case 2:
		if (only >= 0 && !shim_base)
			break;	/* the application pinned it: keep that */
		CPU_AND(&plan->from, shim_base ? shim_base : aff, allowed);
		if (CPU_COUNT(&plan->from) == 0) {
			plan->why = "none of the worker's CPUs is in FASTSOCKET_CPUS";
			return;
		}
		plan->how = FS_CPU_PICK;
		return;
	default:
		plan->why = "FASTSOCKET_MODE=0";
		return;
	}
	if (!CPU_ISSET(only, allowed)) {
		plan->why = "the worker's CPU is not in FASTSOCKET_CPUS";
		return;
	}
	plan->how = FS_CPU_KEEP;
	plan->cpu = only;
}

int fs_cpu_least_loaded(const cpu_set_t *from, const uint32_t *counts,
			int ncounts)
{
	int best = -1;

	for (int c = 0; c < ncounts && c < FS_MAX_CPUS; c++) {
		if (!CPU_ISSET(c, from))
			continue;
		if (best < 0 || counts[c] < counts[best])
			best = c;
	}
	return best;
}

int fs_cpu_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= FS_MAX_CPUS) {
		errno = EINVAL;
		return -1;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return fs_cpu_setaffinity(&set);
}

_Atomic unsigned int fs_cpu_affinity_gen = 1;

int fs_cpu_setaffinity(const cpu_set_t *set)
{
	int rc = (int)syscall(SYS_sched_setaffinity, 0, sizeof(*set), set);

	if (rc == 0)
		fs_cpu_affinity_changed();
	return rc;
}

struct fs_load *fs_load_new(void)
{
	struct fs_load *load = mmap(NULL, sizeof(*load), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (load == MAP_FAILED)
		return NULL;
	load->magic = FS_LOAD_MAGIC;
	return load;
}

void fs_load_free(struct fs_load *load)
{
	if (load)
		munmap(load, sizeof(*load));
}

static bool thread_gone(pid_t pid, pid_t tid)
{
	int saved = errno;
	bool gone = syscall(SYS_tgkill, pid, tid, 0) < 0 && errno == ESRCH;

	errno = saved;
	return gone;
}

static void count_sub(struct fs_load *load, int cpu)
{
	uint32_t v = atomic_load(&load->count[cpu]);

	while (v > 0 &&
	       !atomic_compare_exchange_weak(&load->count[cpu], &v, v - 1))
		;
}

/* Give slot s back if it is held: uncount its CPU, then free it. */
static void slot_release(struct fs_load *load, struct fs_load_slot *s)
{
	int32_t held = FS_SLOT_HELD;
	int cpu;

	if (!atomic_compare_exchange_strong(&s->state, &held, FS_SLOT_REAPING))
		return;
	cpu = atomic_load(&s->cpu);
	if (cpu >= 0 && cpu < FS_MAX_CPUS)
		count_sub(load, cpu);
	atomic_store(&s->state, FS_SLOT_FREE);
}

void fs_load_reap(struct fs_load *load)
{
	for (int i = 0; i < FS_LOAD_SLOTS; i++) {
		struct fs_load_slot *s = &load->slot[i];

		if (atomic_load(&s->state) != FS_SLOT_HELD)
			continue;
		if (!thread_gone(atomic_load(&s->pid), atomic_load(&s->tid)))
			continue;
		slot_release(load, s);
	}
}

int fs_load_reserve(struct fs_load *load, const cpu_set_t *from, pid_t pid,
		    pid_t tid, int *slot)
{
	uint32_t snap[FS_MAX_CPUS];
	int cpu = -1;

	*slot = -1;
	fs_load_reap(load);
	for (int tries = 0; tries < 10000; tries++) {
		for (int c = 0; c < FS_MAX_CPUS; c++)
			snap[c] = CPU_ISSET(c, from) ?
				  atomic_load(&load->count[c]) : 0;
		cpu = fs_cpu_least_loaded(from, snap, FS_MAX_CPUS);
		if (cpu < 0)
			return -1;
		uint32_t seen = snap[cpu];

		if (atomic_compare_exchange_strong(&load->count[cpu], &seen,
						   seen + 1))
			break;
		cpu = -1;
	}
	if (cpu < 0) {
		/* Lost 10000 races in a row: take the last pick anyway. */
		cpu = fs_cpu_least_loaded(from, snap, FS_MAX_CPUS);
		atomic_fetch_add(&load->count[cpu], 1);
	}
	for (int i = 0; i < FS_LOAD_SLOTS; i++) {
		struct fs_load_slot *s = &load->slot[i];
		int32_t free_state = FS_SLOT_FREE;

		if (!atomic_compare_exchange_strong(&s->state, &free_state,
						    FS_SLOT_WRITING))
			continue;
		atomic_store(&s->pid, pid);
		atomic_store(&s->tid, tid);
		atomic_store(&s->cpu, cpu);
		atomic_store(&s->state, FS_SLOT_HELD);
		*slot = i;
		break;
	}
	return cpu;
}

void fs_load_release(struct fs_load *load, int slot)
{
	if (!load || slot < 0 || slot >= FS_LOAD_SLOTS)
		return;
	slot_release(load, &load->slot[slot]);
}
