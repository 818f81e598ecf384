/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rfd.h - receive flow deliver, the port half: a TCP connect() from a
 * thread pinned to CPU c gets a local port in c's block of
 * FASTSOCKET_RFD_LAYOUT, picked by the kernel through the per-socket
 * IP_LOCAL_PORT_RANGE option. Steering packets of those ports to c is
 * someone else's job (NIC ntuple rules, tools/fastsocket-rfd-ntuple).
 *
 * The shim learns what it needs from the calls it sees (socket, bind,
 * setsockopt, close), one byte per fd, so connect() costs no system call
 * beyond the one setsockopt that sets the range. Everything here is a
 * no-op unless fs_rfd_on.
 */
#ifndef FASTSOCKET_RFD_H
#define FASTSOCKET_RFD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE	51	/* include/uapi/linux/in.h, 6.3 and 6.1.32 */
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif

/*
 * A layout is in use: FASTSOCKET_RFD_LAYOUT (set, valid and inside the
 * netns's port range), or the module's port blocks (fs_rfd_adopt()).
 */
extern _Atomic bool fs_rfd_on;

/*
 * From the constructor, after fs_config_init(): turn RFD on if fs_cfg has
 * a layout. range_file is the netns's ip_local_port_range (NULL: the
 * usual /proc file); a layout outside it leaves RFD off, said once.
 */
void fs_rfd_init(const char *range_file);

/*
 * After the module probe (mode.c, shim lock held): the module's port
 * blocks for this netns, when it has them (FASTSOCKET_FEAT_RFD_PORTS) and
 * FASTSOCKET_RFD_LAYOUT did not already give a layout. Only sockets made
 * from then on get blocks. No system call: the probe's INFO has them.
 */
struct fastsocket_info;
void fs_rfd_adopt(const struct fastsocket_info *info);

/* The application's calls, after they succeeded. */
void fs_rfd_socket(int fd, int domain, int type, int protocol);
void fs_rfd_setsockopt(int fd, int level, int name, const void *val,
		       socklen_t len);
void fs_rfd_bound(int fd, const struct sockaddr *sa, socklen_t len);

/* fd (or fds lo..hi) no longer names what it named. */
void fs_rfd_forget(int fd);
void fs_rfd_forget_range(unsigned int lo, unsigned int hi);

/*
 * A call that picks the socket's local port towards @sa: connect(), or
 * sendto()/sendmsg()/sendmmsg() with MSG_FASTOPEN (a connect carrying
 * data). @arg holds its arguments.
 */
typedef ssize_t (*fs_rfd_call)(int fd, void *arg);

/*
 * Set the calling CPU's block, then @call; on EADDRNOTAVAIL (the block
 * is full for this destination) clear it and @call once more on the full
 * range. Sockets RFD leaves alone get @call alone.
 */
ssize_t fs_rfd_pick(int fd, const struct sockaddr *sa, socklen_t len,
		    fs_rfd_call call, void *arg);

/* fs_rfd_pick() for connect(). */
int fs_rfd_connect(int fd, const struct sockaddr *sa, socklen_t len,
		   int (*real_connect)(int, const struct sockaddr *, socklen_t));

/* Counters (for the tests and the debug log). */
struct fs_rfd_stats {
	unsigned long set;		/* connects given a block */
	unsigned long fallback;		/* ... that fell back to the full range */
	unsigned long bound_zero;	/* plain bind(port 0): left alone */
};
void fs_rfd_stats(struct fs_rfd_stats *st);

/* Unit tests: forget everything, RFD off. */
void fs_rfd_reset(void);

#endif /* FASTSOCKET_RFD_H */
