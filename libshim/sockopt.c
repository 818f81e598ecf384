// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sockopt.c - setsockopt and getsockopt: what the application sets on a
 * listening socket reaches its local listeners, or stops them.
 *
 * Some things a local listener must not lack cannot be read back from
 * the original, so they are learnt here, when the application sets them:
 * TCP-MD5 and TCP-AO keys, IPsec (xfrm) policies; socket filters and
 * ULPs too (they can be read back, but one set after the local listeners
 * exist must stop them at once). Set on a managed listener, they stop its
 * local listeners for good (fs_locals_stop); set on a socket not yet
 * bound, they mark its fd (FS_K_TAINT), and bind.c then leaves it alone.
 *
 * Any other option the application sets on a managed listener is given
 * to this process's local listeners too (accepted connections inherit
 * options from the listener that accepted them); if one refuses it, they
 * stop. Not repeated: what concerns the reuseport group or the shim's own
 * steering (SO_REUSEPORT, SO_INCOMING_CPU, reuseport BPF).
 *
 * getsockopt(SO_REUSEPORT) of a listener whose SO_REUSEPORT the shim set
 * reads 0, as the application left it.
 *
 * Cost for everything else: one fd-table lookup (setsockopt), a compare
 * of (level, name) (getsockopt).
 */
#include "sockopt.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fdmap.h"
#include "listener.h"
#include "local.h"
#include "log.h"
#include "real.h"
#include "shim.h"

#ifndef TCP_AO_ADD_KEY
#define TCP_AO_ADD_KEY 38
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif
#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif

/* What no local listener may lack, and no sibling can be given. */
static const char *unsafe(int level, int name)
{
	switch (level) {
	case SOL_SOCKET:
		if (name == SO_ATTACH_FILTER || name == SO_ATTACH_BPF)
			return "a socket filter";
		break;
	case IPPROTO_TCP:
		if (name == TCP_MD5SIG || name == TCP_MD5SIG_EXT)
			return "TCP-MD5 keys";
		if (name == TCP_AO_ADD_KEY)
			return "TCP-AO keys";
		if (name == TCP_ULP)
			return "a ULP";
		break;
	case IPPROTO_IP:
		if (name == IP_XFRM_POLICY || name == IP_IPSEC_POLICY)
			return "an IPsec policy";
		break;
	case IPPROTO_IPV6:
		if (name == IPV6_XFRM_POLICY || name == IPV6_IPSEC_POLICY)
			return "an IPsec policy";
		break;
	default:
		break;
	}
	return NULL;
}

/* Options that are the group's or the shim's, not inherited ones. */
static bool not_repeated(int level, int name)
{
	if (level == SOL_SOCKET)
		return name == SO_REUSEPORT || name == SO_INCOMING_CPU ||
		       name == SO_ATTACH_REUSEPORT_CBPF ||
		       name == SO_ATTACH_REUSEPORT_EBPF ||
		       name == SO_DETACH_REUSEPORT_BPF;
	return level != IPPROTO_TCP && level != IPPROTO_IP &&
	       level != IPPROTO_IPV6;
}

/* fd, not managed, gets something no sibling may lack: remember. */
static void taint(int fd, const char *what)
{
	unsigned long ino = fs_fd_ino(fd);

	if (ino && fs_fdmap_cas(fd, 0, fs_ent_make(FS_K_TAINT, 0,
						    (uint32_t)ino)))
		fs_debug("fd %d: %s set: no local listeners for it", fd, what);
}

static void on_listener(int fd, fs_ent e, int level, int name,
			const void *val, socklen_t len)
{
	const char *what = unsafe(level, name);
	struct fs_listener *l;
	char why[128];

	if (!fs_same_process() || !fs_lock_and_reap())
		return;
	l = fs_listener_known(e);
	if (l && level == SOL_SOCKET && name == SO_REUSEPORT) {
		int v = 0;

		memcpy(&v, val, len < sizeof(v) ? len : sizeof(v));
		l->flags = v ? l->flags | FS_LST_APP_REUSEPORT
			     : l->flags & ~FS_LST_APP_REUSEPORT;
	} else if (l && what) {
		snprintf(why, sizeof(why), "the application set %s on it (fd %d)",
			 what, fd);
		fs_locals_stop(l, e, why);
	} else if (l && !not_repeated(level, name) &&
		   !fs_locals_setsockopt(fs_ent_idx(e), fs_ent_gen(e), level,
					 name, val, len)) {
		snprintf(why, sizeof(why),
			 "an option the application set on it (level %d, %d) cannot be given to its local listeners",
			 level, name);
		fs_locals_stop(l, e, why);
	}
	fs_unlock();
}

int fs_setsockopt(int fd, int level, int name, const void *val,
		  socklen_t len)
{
	fs_ent e = fs_fdmap_get(fd);
	int rc = fs_real.setsockopt(fd, level, name, val, len), err = errno;

	if (rc < 0)
		return rc;
	if (fs_ent_kind(e) == FS_K_LISTEN)
		on_listener(fd, e, level, name, val, len);
	else if (e == 0 && unsafe(level, name))
		taint(fd, unsafe(level, name));
	errno = err;
	return rc;
}

int fs_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct fs_listener *l;
	fs_ent e;
	int rc;

	/* Any other option: a tail call, no frame (servers ask for some
	 * per connection). */
	if (level != SOL_SOCKET || name != SO_REUSEPORT)
		return fs_real.getsockopt(fd, level, name, val, len);
	rc = fs_real.getsockopt(fd, level, name, val, len);
	if (rc < 0 || !val || !len || *len < sizeof(int))
		return rc;
	e = fs_fdmap_get(fd);
	if (fs_ent_kind(e) != FS_K_LISTEN)
		return rc;
	l = fs_listener_known(e);
	if (l && !(l->flags & FS_LST_APP_REUSEPORT))
		*(int *)val = 0;
	return rc;
}
