/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testing.h - hooks for the unit tests only (tests/unit). The library
 * has them, but nothing in it calls them.
 */
#ifndef FASTSOCKET_TESTING_H
#define FASTSOCKET_TESTING_H

#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/types.h>

/* Forget all state: closes local listeners, forgets the module. */
void fs_shim_reset(void);

/* park.c's delays, in ms (FS_UNWATCHED_GRACE_MS, FS_PARK_DRAIN_MS). */
void fs_unwatched_set_grace(int ms);
void fs_park_set_drain(int ms);

/* The epoll mirror record for (epfd, fd), if any. */
bool fs_mirror_lookup(int epfd, int fd, pid_t *owner, int *local,
		      struct epoll_event *ev);

/* Forget the module (its device fd is closed; the next bind probes). */
void fs_dev_reset(void);

#endif /* FASTSOCKET_TESTING_H */
