// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * listener.c - the table of managed listening sockets.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "real.h"
#include "shim.h"

struct fs_listener fs_listeners[FS_MAX_LISTENERS];
_Atomic int fs_nlisteners;

static _Atomic int listeners_hw;	/* slots ever used */

/* Once-only message bits per listener, MAP_SHARED so that the workers
 * forked after listen() say each thing once between them. */
static _Atomic unsigned int *_Atomic once_bits;

int fs_listeners_hw(void)
{
	return atomic_load(&listeners_hw);
}

struct fs_listener *fs_listener_known(fs_ent e)
{
	struct fs_listener *l;
	uint32_t lid;

	if (fs_ent_kind(e) != FS_K_LISTEN)
		return NULL;
	lid = fs_ent_idx(e);
	if (lid >= FS_MAX_LISTENERS)
		return NULL;
	l = &fs_listeners[lid];
	if (atomic_load_explicit(&l->gen, memory_order_acquire) != fs_ent_gen(e) ||
	    atomic_load_explicit(&l->state, memory_order_acquire) == FS_LST_FREE)
		return NULL;
	return l;
}

struct fs_listener *fs_listener_live(fs_ent e)
{
	struct fs_listener *l = fs_listener_known(e);

	if (!l || atomic_load_explicit(&l->state, memory_order_acquire) !=
			  FS_LST_LISTENING)
		return NULL;
	return l;
}

static int listener_alloc(void)
{
	int hw = atomic_load(&listeners_hw);

	for (int i = 0; i < hw; i++) {
		if (atomic_load(&fs_listeners[i].state) == FS_LST_FREE &&
		    !atomic_load(&fs_listeners[i].doomed))
			return i;
	}
	if (hw >= FS_MAX_LISTENERS)
		return -1;
	atomic_store(&listeners_hw, hw + 1);
	return hw;
}

void fs_format_addr(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	snprintf(buf, len, "fd %d", fd);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	}
}

void fs_listener_set_addr(struct fs_listener *l, int fd)
{
	socklen_t sl = sizeof(l->addr);

	memset(&l->addr, 0, sizeof(l->addr));
	l->addrlen = getsockname(fd, (struct sockaddr *)&l->addr, &sl) < 0 ?
		     0 : sl;
	fs_format_addr(fd, l->name, sizeof(l->name));
}

unsigned long fs_fd_ino(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return 0;
	return (unsigned long)st.st_ino;
}

unsigned int fs_sockaddr_port(const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

bool fs_is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t len = sizeof(type);

	if (fs_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return false;
	len = sizeof(proto);
	return fs_real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
	       proto == IPPROTO_TCP;
}

struct fs_listener *fs_listener_record(int fd, bool app_reuseport)
{
	struct fs_listener *l;
	int lid;

	fs_assert_locked();
	lid = listener_alloc();
	if (lid < 0) {
		fs_info("fd %d: more than %d listening sockets; passing through",
			fd, FS_MAX_LISTENERS);
		return NULL;
	}
	l = &fs_listeners[lid];
	l->flags = app_reuseport ? FS_LST_APP_REUSEPORT : 0;
	l->backlog = SOMAXCONN;
	l->ino = fs_fd_ino(fd);
	atomic_store(&l->nfds, 1);
	atomic_store(&l->said, 0);
	atomic_store(&l->nospawn, false);
	atomic_store(&l->refused, false);
	atomic_store(&l->doomed, false);
	atomic_store(&l->nonblock, FS_NB_UNKNOWN);
	fs_listener_set_addr(l, fd);
	atomic_store_explicit(&l->state, FS_LST_BOUND, memory_order_release);
	if (fs_fdmap_set(fd, fs_ent_make(FS_K_LISTEN, (uint32_t)lid,
					 atomic_load(&l->gen))) < 0) {
		atomic_store(&l->state, FS_LST_FREE);
		atomic_fetch_add(&l->gen, 1);
		return NULL;
	}
	return l;
}

void fs_listener_free(uint32_t lid)
{
	struct fs_listener *l = &fs_listeners[lid];

	fs_assert_locked();
	if (atomic_load(&l->state) == FS_LST_LISTENING)
		atomic_fetch_sub(&fs_nlisteners, 1);
	atomic_store(&l->state, FS_LST_FREE);
	atomic_fetch_add(&l->gen, 1);
	atomic_store(&l->doomed, false);
}

static bool same_addr(const struct fs_listener *a, const struct fs_listener *b)
{
	return a->addrlen && a->addrlen == b->addrlen &&
	       memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

bool fs_listener_mark_per_worker(struct fs_listener *l)
{
	int hw = atomic_load(&listeners_hw);
	bool found = false;

	fs_assert_locked();
	if (!(l->flags & FS_LST_APP_REUSEPORT))
		return false;
	for (int i = 0; i < hw; i++) {
		struct fs_listener *o = &fs_listeners[i];

		if (o == l || atomic_load(&o->state) != FS_LST_LISTENING ||
		    !(o->flags & FS_LST_APP_REUSEPORT) || !same_addr(o, l))
			continue;
		o->flags |= FS_LST_PER_WORKER;
		found = true;
	}
	if (found)
		l->flags |= FS_LST_PER_WORKER;
	return found;
}

void fs_listener_say_once(struct fs_listener *l, unsigned int bit,
			  const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	_Atomic unsigned int *shared = atomic_load(&once_bits);
	_Atomic unsigned int *said = shared ? &shared[fs_listener_index(l)]
					    : &l->said;

	if (atomic_fetch_or(said, bit) & bit)
		return;
	if (fs_cfg.log < FS_LOG_INFO)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fs_log(FS_LOG_INFO, "%s", buf);
}

void fs_listener_share_once(struct fs_listener *l)
{
	if (!atomic_load(&once_bits)) {
		void *m = mmap(NULL, sizeof(unsigned int) * FS_MAX_LISTENERS,
			       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);

		if (m != MAP_FAILED)
			atomic_store(&once_bits, m);
	}
	if (atomic_load(&once_bits))
		atomic_store(&atomic_load(&once_bits)[fs_listener_index(l)], 0);
}

void fs_listeners_reset(void)
{
	int hw = atomic_load(&listeners_hw);

	for (int i = 0; i < hw; i++) {
		atomic_store(&fs_listeners[i].state, FS_LST_FREE);
		atomic_fetch_add(&fs_listeners[i].gen, 1);
		atomic_store(&fs_listeners[i].doomed, false);
		atomic_store(&fs_listeners[i].nfds, 0);
	}
	atomic_store(&fs_nlisteners, 0);
}

int fs_listener_nonblock(struct fs_listener *l, int fd, bool fresh)
{
	int nb = l ? atomic_load_explicit(&l->nonblock, memory_order_relaxed)
		   : FS_NB_UNKNOWN;
	int fl;

	if (nb != FS_NB_UNKNOWN && !fresh)
		return nb;
	fl = fs_real.fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	nb = (fl & O_NONBLOCK) != 0;
	if (l)
		atomic_store_explicit(&l->nonblock, nb, memory_order_relaxed);
	return nb;
}

void fs_listener_note_nonblock(int fd, bool on)
{
	struct fs_listener *l;
	fs_ent e = fs_fdmap_get(fd);

	if (fs_ent_kind(e) != FS_K_LISTEN)
		return;
	l = fs_listener_known(e);
	if (l)
		atomic_store_explicit(&l->nonblock, on, memory_order_relaxed);
}
