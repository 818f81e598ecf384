/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sockopt.h - setsockopt/getsockopt on managed listeners.
 */
#ifndef FASTSOCKET_SOCKOPT_H
#define FASTSOCKET_SOCKOPT_H

#include <sys/socket.h>

int fs_setsockopt(int fd, int level, int name, const void *val,
		  socklen_t len);
int fs_getsockopt(int fd, int level, int name, void *val, socklen_t *len);

#endif /* FASTSOCKET_SOCKOPT_H */
