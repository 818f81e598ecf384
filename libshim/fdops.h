/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdops.h - close, dup and friends: the shim's per-fd state follows.
 */
#ifndef FASTSOCKET_FDOPS_H
#define FASTSOCKET_FDOPS_H

#include "real.h"

int fs_close(int fd);
struct msghdr;
/* sendmsg() or sendmmsg() is about to pass fds (SCM_RIGHTS): managed
 * listeners among them stop their local listeners. */
void fs_sending_fds(const struct msghdr *msg);
/* fd was closed where the shim could not see it (fclose): forget it. */
void fs_closed_elsewhere(int fd);
int fs_dup(int fd);
/* real: fs_real_dup2 or fs_real_dup3 (real.h). */
int fs_dup3(int oldfd, int newfd, int flags, fs_dup_fn real);
int fs_fcntl_dupfd(int fd, int cmd, int minfd);
/* fcntl(F_SETFL) on a managed listener: its O_NONBLOCK is noted for
 * accept; O_ASYNC stops its local listeners. */
int fs_fcntl_setfl(int fd, int (*real)(int, int, ...), int flags);
/* ioctl: FIONBIO's O_NONBLOCK on a managed listener is noted for accept. */
int fs_ioctl(int fd, unsigned long request, void *arg);
int fs_close_range(unsigned int lo, unsigned int hi, int flags);
void fs_closefrom(int lo);

#endif /* FASTSOCKET_FDOPS_H */
