// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fdmap.c - per-fd state, lock-free on the read side.
 *
 * fs_fdmap_top[fd >> 10] points at a chunk of 1024 atomic words. Readers
 * (fs_fdmap_get(), inline in fdmap.h) load the chunk pointer (acquire) and
 * the word (acquire); writers publish a new chunk with a compare-and-swap, so two threads that race to create the
 * same chunk agree on one and the loser unmaps its copy. Chunks come from
 * mmap(), not malloc(), so the table can be written from any context the
 * shim writes it from (including close() in a signal handler).
 */
#include "fdmap.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

typedef _Atomic fs_ent fs_slot;

_Atomic(void *) fs_fdmap_top[FS_FD_TOP];

void *fs_fd_chunk(_Atomic(void *) *tab, int fd, size_t elem, bool make)
{
	void *c, *expect = NULL;
	size_t size = FS_FD_CHUNK * elem;
	unsigned int i;

	if (fd < 0 || (unsigned int)fd >= FS_FD_MAX)
		return NULL;
	i = (unsigned int)fd >> FS_FD_CHUNK_SHIFT;
	c = atomic_load_explicit(&tab[i], memory_order_acquire);
	if (c || !make)
		return c;
	c = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return NULL;
	if (!atomic_compare_exchange_strong_explicit(&tab[i], &expect, c,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		munmap(c, size);
		c = expect;
	}
	return c;
}

static inline fs_slot *chunk_of(int fd)
{
	return fs_fd_chunk(fs_fdmap_top, fd, sizeof(fs_slot), false);
}

static fs_slot *chunk_for_write(int fd)
{
	return fs_fd_chunk(fs_fdmap_top, fd, sizeof(fs_slot), true);
}

int fs_fdmap_set(int fd, fs_ent e)
{
	fs_slot *c = e ? chunk_for_write(fd) : chunk_of(fd);

	if (!c)
		return e ? -1 : 0;
	atomic_store_explicit(&c[(unsigned int)fd & (FS_FD_CHUNK - 1)], e,
			      memory_order_release);
	return 0;
}

fs_ent fs_fdmap_xchg(int fd, fs_ent e)
{
	fs_slot *c = e ? chunk_for_write(fd) : chunk_of(fd);

	if (!c)
		return 0;
	return atomic_exchange_explicit(&c[(unsigned int)fd & (FS_FD_CHUNK - 1)],
					e, memory_order_acq_rel);
}

bool fs_fdmap_cas(int fd, fs_ent old, fs_ent e)
{
	fs_slot *c = e ? chunk_for_write(fd) : chunk_of(fd);

	if (!c)
		return old == 0 && e == 0;
	return atomic_compare_exchange_strong_explicit(
		&c[(unsigned int)fd & (FS_FD_CHUNK - 1)], &old, e,
		memory_order_acq_rel, memory_order_acquire);
}

void fs_fdmap_foreach(int lo, int hi, void (*fn)(int fd, fs_ent e, void *ctx),
		      void *ctx)
{
	if (lo < 0)
		lo = 0;
	if (hi < 0 || (unsigned int)hi >= FS_FD_MAX)
		hi = (int)(FS_FD_MAX - 1);
	for (int fd = lo; fd <= hi;) {
		fs_slot *c = chunk_of(fd);

		if (!c) {
			fd = (int)(((unsigned int)fd | (FS_FD_CHUNK - 1)) + 1);
			continue;
		}
		fs_ent e = atomic_load_explicit(
			&c[(unsigned int)fd & (FS_FD_CHUNK - 1)],
			memory_order_acquire);
		if (e)
			fn(fd, e, ctx);
		fd++;
	}
}

void fs_fdmap_reset(void)
{
	for (unsigned int i = 0; i < FS_FD_TOP; i++) {
		fs_slot *c = atomic_load(&fs_fdmap_top[i]);

		if (!c)
			continue;
		for (unsigned int j = 0; j < FS_FD_CHUNK; j++)
			atomic_store(&c[j], 0);
	}
}
