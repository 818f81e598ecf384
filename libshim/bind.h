/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bind.h - bind, listen and shutdown of managed listening sockets, and
 * the ones inherited across exec.
 */
#ifndef FASTSOCKET_BIND_H
#define FASTSOCKET_BIND_H

#include <sys/socket.h>

int fs_bind(int fd, const struct sockaddr *addr, socklen_t len);
int fs_listen(int fd, int backlog);
int fs_shutdown(int fd, int how);

/*
 * Manage the listening TCP sockets on configured ports that are open
 * (inherited across exec) and have SO_REUSEPORT. Run by fs_shim_init();
 * also for the unit tests.
 */
void fs_adopt_inherited(void);

#endif /* FASTSOCKET_BIND_H */
