/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdmap.h - what the shim knows about each file descriptor.
 *
 * One 64-bit word per fd, in a two-level table indexed by the fd number.
 * Reading is lock-free and allocation-free: two atomic loads. An fd the
 * shim never wrote reads as 0 (FS_K_NONE), so calls on fds it does not
 * manage cost exactly that lookup. Second-level chunks are mmap()ed on
 * the first write into them and never freed.
 *
 * Word layout: bits 0-3 kind, bits 8-31 index (listener, local listener or
 * 0), bits 32-63 generation or identity of what the index names.
 */
#ifndef FASTSOCKET_FDMAP_H
#define FASTSOCKET_FDMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t fs_ent;

enum fs_kind {
	FS_K_NONE = 0,
	FS_K_LISTEN = 1,	/* app fd of a managed listening socket */
	FS_K_EPOLL = 2,		/* epoll fd with mirrored registrations */
	FS_K_LOCAL = 3,		/* the shim's own local listener */
	FS_K_DEV = 4,		/* the shim's fd of /dev/fastsocket */
	FS_K_TAINT = 5,		/* a socket with what no sibling may lack (TCP-MD5,
				 * IPsec policy, filter, ULP) set before bind; gen:
				 * its inode's low 32 bits */
};

#define FS_FD_CHUNK_SHIFT	10
#define FS_FD_CHUNK		(1u << FS_FD_CHUNK_SHIFT)
#define FS_FD_TOP		4096u
#define FS_FD_MAX		(FS_FD_TOP * FS_FD_CHUNK)	/* 4M fds */

/*
 * The chunk of a per-fd table top[FS_FD_TOP] (FS_FD_CHUNK elements of
 * elem bytes) that holds fd, or NULL: fd out of range, or no chunk yet and
 * make false (or mmap failed). A new chunk is zeroed and published with a
 * compare-and-swap, so racing makers agree on one. fdmap.c's table and
 * rfd.c's both live in such chunks; callers index with
 * fd & (FS_FD_CHUNK - 1).
 */
void *fs_fd_chunk(_Atomic(void *) *top, int fd, size_t elem, bool make);

static inline fs_ent fs_ent_make(unsigned int kind, uint32_t idx, uint32_t gen)
{
	return (fs_ent)(kind & 0xf) | ((fs_ent)(idx & 0xffffff) << 8) |
	       ((fs_ent)gen << 32);
}

static inline unsigned int fs_ent_kind(fs_ent e)
{
	return (unsigned int)(e & 0xf);
}

static inline uint32_t fs_ent_idx(fs_ent e)
{
	return (uint32_t)(e >> 8) & 0xffffff;
}

static inline uint32_t fs_ent_gen(fs_ent e)
{
	return (uint32_t)(e >> 32);
}

/* The table's first level, fdmap.c's; read here only by fs_fdmap_get(). */
extern _Atomic(void *) fs_fdmap_top[FS_FD_TOP];

/*
 * The hot-path lookup, inline: every interposed call on an fd makes it,
 * and as a call it cost more than the two loads (a frame for a leaf).
 */
static inline fs_ent fs_fdmap_get(int fd)
{
	_Atomic fs_ent *c;

	if ((unsigned int)fd >= FS_FD_MAX)
		return 0;
	c = atomic_load_explicit(&fs_fdmap_top[(unsigned int)fd >> FS_FD_CHUNK_SHIFT],
				 memory_order_acquire);
	if (!c)
		return 0;
	return atomic_load_explicit(&c[(unsigned int)fd & (FS_FD_CHUNK - 1)],
				    memory_order_acquire);
}

/*
 * Store e for fd (0 clears). Returns 0, or -1 when fd is out of range or
 * a chunk could not be mapped (the fd then stays unmanaged).
 */
int fs_fdmap_set(int fd, fs_ent e);

/* Store e and return what was there (0 for an fd never written). */
fs_ent fs_fdmap_xchg(int fd, fs_ent e);

/* Compare-and-swap; true when fd held old and now holds e. */
bool fs_fdmap_cas(int fd, fs_ent old, fs_ent e);

/*
 * Call fn(fd, entry, ctx) for every fd in [lo, hi] with a non-zero entry,
 * in increasing order. Used by close_range(), fork and the unit tests.
 */
void fs_fdmap_foreach(int lo, int hi, void (*fn)(int fd, fs_ent e, void *ctx),
		      void *ctx);

/* Clear every entry (the unit tests start each case from nothing). */
void fs_fdmap_reset(void);

#endif /* FASTSOCKET_FDMAP_H */
