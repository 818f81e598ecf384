// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bind.c - bind, listen and shutdown of managed listeners, and listening
 * sockets inherited across exec.
 */
#include "bind.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fdmap.h"
#include "listener.h"
#include "local.h"
#include "log.h"
#include "mode.h"
#include "place.h"
#include "real.h"
#include "shim.h"

int fs_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	fs_ent old = fs_fdmap_get(fd);
	struct fs_listener *l;
	int rp = 0, one = 1, rc, err;
	socklen_t rplen = sizeof(rp);

	if (old)
		fs_forget_if_stale(fd, old);
	if (fs_ent_kind(fs_fdmap_get(fd)) == FS_K_TAINT && fs_cfg.valid &&
	    fs_cfg.mode != 0 && sa && len >= sizeof(sa_family_t) &&
	    fs_port_configured(&fs_cfg, fs_sockaddr_port(sa, len)))
		fs_info("fd %d: TCP-MD5/AO keys, an IPsec policy, a socket filter or a ULP set before bind: no local listeners can have them; passing through",
			fd);
	if (!fs_cfg.valid || fs_cfg.mode == 0 || !sa ||
	    len < sizeof(sa_family_t) ||
	    !fs_port_configured(&fs_cfg, fs_sockaddr_port(sa, len)) ||
	    !fs_is_tcp(fd) || fs_fdmap_get(fd) || !fs_same_process() ||
	    !fs_lock_and_reap())
		return fs_real.bind(fd, sa, len);

	fs_mode_resolve();
	if (fs_mode() == 0) {
		fs_unlock();
		return fs_real.bind(fd, sa, len);
	}
	if (fs_real.getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &rp, &rplen) < 0)
		rp = 0;
	/*
	 * The real bind first, with the application's own SO_REUSEPORT: a
	 * port another socket holds must still fail with EADDRINUSE. The
	 * shim's SO_REUSEPORT goes on after it, before listen() (where the
	 * kernel forms the reuseport group), so the siblings can join.
	 */
	rc = fs_real.bind(fd, sa, len);
	err = errno;
	if (rc < 0) {
		fs_unlock();
		errno = err;
		return rc;
	}
	if (!rp && fs_real.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
			      sizeof(one)) < 0) {
		fs_debug("fd %d: SO_REUSEPORT: %s; passing through", fd,
			 strerror(errno));
		fs_unlock();
		errno = err;
		return rc;
	}
	l = fs_listener_record(fd, rp != 0);
	if (l)
		fs_debug("fd %d bound to %s; SO_REUSEPORT %s", fd, l->name,
			 rp ? "set by the application" : "set by the shim");
	fs_unlock();
	errno = err;
	return rc;
}

/* l starts listening on fd (or again, with a new backlog). */
static void on_listening(struct fs_listener *l, int fd, int backlog)
{
	fs_assert_locked();
	l->backlog = backlog;
	if (atomic_load(&l->state) == FS_LST_LISTENING) {
		/* listen() again with a new backlog: the locals follow. */
		fs_locals_relisten(fs_listener_index(l), atomic_load(&l->gen),
				   backlog);
		return;
	}
	fs_listener_set_addr(l, fd);
	if (fs_mode() == 2)
		fs_place_share_load();
	fs_listener_share_once(l);
	atomic_store_explicit(&l->state, FS_LST_LISTENING, memory_order_release);
	atomic_fetch_add(&fs_nlisteners, 1);
	if (fs_listener_mark_per_worker(l))
		fs_info("%s (fd %d): one of several sockets on this address with SO_REUSEPORT set by the application (per-worker sockets): each worker is pinned and its own socket becomes its CPU's local listener (%s)",
			l->name, fd, fs_module_ok() ? "module" : "needs the module");
	else
		fs_info("%s (fd %d): SO_REUSEPORT set by the %s; a CPU-local listener for each worker on its first wait (mode %d, %s)",
			l->name, fd,
			l->flags & FS_LST_APP_REUSEPORT ? "application" : "shim",
			fs_mode(), fs_module_ok() ? "module" : "userspace");
}

int fs_listen(int fd, int backlog)
{
	fs_ent e = fs_fdmap_get(fd);
	struct fs_listener *l;
	int rc, err;

	if (fs_ent_kind(e) != FS_K_LISTEN)
		return fs_real.listen(fd, backlog);
	fs_forget_if_stale(fd, e);
	if (fs_fdmap_get(fd) != e)
		return fs_real.listen(fd, backlog);
	rc = fs_real.listen(fd, backlog);
	if (rc < 0 || !fs_same_process())
		return rc;
	err = errno;
	if (fs_lock_and_reap()) {
		l = fs_listener_known(e);
		if (l)
			on_listening(l, fd, backlog);
		fs_unlock();
	}
	errno = err;
	return rc;
}

int fs_shutdown(int fd, int how)
{
	fs_ent e = fs_fdmap_get(fd);
	struct fs_listener *l;
	int rc = fs_real.shutdown(fd, how), err = errno;

	if (rc < 0 || fs_ent_kind(e) != FS_K_LISTEN || how == SHUT_WR ||
	    !fs_same_process())
		return rc;
	/* SHUT_RD stops a listening socket: the local listeners go too, and
	 * come back after the next listen() on the next wait. */
	if (fs_lock_and_reap()) {
		l = fs_listener_known(e);
		if (l && atomic_load(&l->state) == FS_LST_LISTENING) {
			atomic_store(&l->state, FS_LST_SHUT);
			atomic_fetch_sub(&fs_nlisteners, 1);
			fs_locals_close_of(fs_ent_idx(e), fs_ent_gen(e), false);
			fs_debug("%s: shut down; local listeners closed", l->name);
		}
		fs_unlock();
	}
	errno = err;
	return rc;
}

/*
 * fd, open when the library was loaded, is a listening TCP socket on a
 * configured port: inherited across exec (nginx's binary upgrade hands
 * its listening sockets to the new binary this way, systemd socket
 * activation too). It was bound before this process existed, so the
 * shim never saw the bind. If it has SO_REUSEPORT it can take local
 * listeners like any other: manage it as one whose SO_REUSEPORT the
 * application set (the shim cannot tell; either way a lone socket gets
 * local listeners, and several on one address are the server's per-worker
 * sockets, see fs_listener_mark_per_worker()). Without SO_REUSEPORT
 * nothing can join it: it passes through (said).
 */
static void adopt_one(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int on = 0, rp = 0;
	socklen_t ol = sizeof(on), rl = sizeof(rp);
	struct fs_listener *l;
	char name[64];

	if (fs_fdmap_get(fd) || !fs_is_tcp(fd) ||
	    fs_real.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol) < 0 || !on ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    !fs_port_configured(&fs_cfg, fs_sockaddr_port((struct sockaddr *)&ss, sl)))
		return;
	if (fs_real.getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &rp, &rl) < 0 || !rp) {
		fs_format_addr(fd, name, sizeof(name));
		fs_info("%s (fd %d): inherited listening socket without SO_REUSEPORT: no local listeners can join it; passing through",
			name, fd);
		return;
	}
	if (!fs_lock_and_reap())
		return;
	fs_mode_resolve();
	if (fs_mode() != 0) {
		l = fs_listener_record(fd, true);
		if (l) {
			l->flags |= FS_LST_INHERITED;
			fs_info("%s (fd %d): inherited listening socket with SO_REUSEPORT: managed",
				l->name, fd);
			on_listening(l, fd, SOMAXCONN);
		}
	}
	fs_unlock();
}

void fs_adopt_inherited(void)
{
	int fds[256], n = 0;
	struct dirent *de;
	DIR *dir;

	if (!fs_cfg.valid || fs_cfg.mode == 0)
		return;
	dir = opendir("/proc/self/fd");
	if (!dir)
		return;	/* no /proc: inherited sockets pass through */
	while ((de = readdir(dir)) && n < (int)(sizeof(fds) / sizeof(fds[0]))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd < 0 || fd == dirfd(dir) ||
		    fd >= FS_FD_MAX)
			continue;
		fds[n++] = (int)fd;
	}
	closedir(dir);
	for (int i = 0; i < n; i++)
		adopt_one(fds[i]);
}
