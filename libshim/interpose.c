// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * interpose.c - the entry points libfastsocket.so puts in front of libc.
 *
 * Each one hands over to the mechanism that owns it (bind.c, accept.c,
 * fdops.c, epoll.c, pollsel.c; shim.h has the layer order).
 * The real functions are resolved once with dlsym(RTLD_NEXT), from the
 * constructor or, for calls made before it ran (other libraries'
 * constructors), on first use through pthread_once. Until the constructor
 * has read the configuration every call passes straight through.
 *
 * These are the only symbols the library exports.
 */
/* The shim defines poll() itself: no inline fortify wrapper here. */
#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accept.h"
#include "bind.h"
#include "cpu.h"
#include "epoll.h"
#include "exec.h"
#include "fdops.h"
#include "init.h"
#include "park.h"
#include "pollsel.h"
#include "real.h"
#include "rfd.h"
#include "sockopt.h"

#define FS_EXPORT __attribute__((visibility("default")))


static pthread_once_t resolved = PTHREAD_ONCE_INIT;
static atomic_bool resolved_done;

static int (*real_fcntl64)(int, int, ...);
static int (*real_fclose)(FILE *);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static int (*real_sendmmsg)(int, struct mmsghdr *, unsigned int, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int,
			      const struct sockaddr *, socklen_t);
static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execv)(const char *, char *const[]);
static int (*real_execvp)(const char *, char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);
static int (*real_execveat)(int, const char *, char *const[], char *const[],
			    int);
typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
		     const posix_spawnattr_t *, char *const[], char *const[]);
static spawn_fn *real_posix_spawn, *real_posix_spawnp;
static int (*real_clone)(int (*)(void *), void *, int, void *, ...);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_sched_setaffinity)(pid_t, size_t, const cpu_set_t *);
static int (*real_pthread_setaffinity_np)(pthread_t, size_t,
					  const cpu_set_t *);

static void *must(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		static const char msg[] =
			"fastsocket: cannot find the C library's functions; aborting\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);

		(void)w;
		abort();
	}
	return p;
}

static void resolve(void)
{
	fs_real.bind = must("bind");
	fs_real.listen = must("listen");
	fs_real.accept = must("accept");
	fs_real.accept4 = must("accept4");
	fs_real.close = must("close");
	fs_real.shutdown = must("shutdown");
	fs_real.dup = must("dup");
	fs_real.dup2 = must("dup2");
	fs_real.dup3 = must("dup3");
	fs_real.fcntl = must("fcntl");
	fs_real.epoll_ctl = must("epoll_ctl");
	fs_real.epoll_create = must("epoll_create");
	fs_real.epoll_create1 = must("epoll_create1");
	fs_real.epoll_wait = must("epoll_wait");
	fs_real.epoll_pwait = must("epoll_pwait");
	fs_real.epoll_pwait2 = dlsym(RTLD_NEXT, "epoll_pwait2");
	fs_real.poll = must("poll");
	fs_real.ppoll = must("ppoll");
	fs_real.select = must("select");
	fs_real.pselect = must("pselect");
	fs_real.close_range = dlsym(RTLD_NEXT, "close_range");
	fs_real.closefrom = dlsym(RTLD_NEXT, "closefrom");
	fs_real.setsockopt = must("setsockopt");
	fs_real.getsockopt = must("getsockopt");
	fs_real.ioctl = must("ioctl");
	real_fclose = must("fclose");
	real_sendmsg = must("sendmsg");
	real_sendmmsg = must("sendmmsg");
	real_sendto = must("sendto");
	real_execve = must("execve");
	real_execv = must("execv");
	real_execvp = must("execvp");
	real_execvpe = must("execvpe");
	real_fexecve = must("fexecve");
	real_execveat = dlsym(RTLD_NEXT, "execveat");
	real_posix_spawn = must("posix_spawn");
	real_posix_spawnp = must("posix_spawnp");
	real_clone = must("clone");
	fs_real.socket = must("socket");
	real_connect = must("connect");
	real_sched_setaffinity = must("sched_setaffinity");
	real_pthread_setaffinity_np = must("pthread_setaffinity_np");
	real_fcntl64 = dlsym(RTLD_NEXT, "fcntl64");
	if (!real_fcntl64)
		real_fcntl64 = fs_real.fcntl;
	atomic_store_explicit(&resolved_done, true, memory_order_release);
}

static __attribute__((noinline, cold)) void resolve_now(void)
{
	pthread_once(&resolved, resolve);
}

/*
 * Once resolved, one load: an unconditional pthread_once() is a call
 * through the PLT, and around it every entry point saved and restored
 * its arguments (about 25 instructions per interposed call).
 */
static inline void resolved_once(void)
{
	if (__builtin_expect(!atomic_load_explicit(&resolved_done,
						   memory_order_acquire), 0))
		resolve_now();
}

/* Every interposed call but epoll_ctl: a mirror DEL held back (epoll.c)
 * is made before the application can see its absence. */
static inline void ready(void)
{
	resolved_once();
	if (atomic_load_explicit(&fs_epoll_held, memory_order_relaxed))
		fs_epoll_flush();
}

__attribute__((constructor)) static void fastsocket_init(void)
{
	ready();
	fs_shim_init();
}

/* ---- sockets ------------------------------------------------------- */

/* An fd accept or dup made is not one socket() made: no RFD for it. */
static int rfd_new_fd(int fd)
{
	if (fd >= 0 && fs_rfd_on)
		fs_rfd_forget(fd);
	return fd;
}

/* socket, connect and the RFD bookkeeping of bind, setsockopt, close,
 * dup and affinity: one test of fs_rfd_on when RFD is off (rfd.h). */
FS_EXPORT int socket(int domain, int type, int protocol)
{
	int fd;

	ready();
	fd = fs_real.socket(domain, type, protocol);
	if (fd >= 0 && fs_rfd_on)
		fs_rfd_socket(fd, domain, type, protocol);
	return fd;
}

FS_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	ready();
	if (!fs_rfd_on)
		return real_connect(fd, addr, len);
	return fs_rfd_connect(fd, addr, len, real_connect);
}

FS_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	int rc;

	ready();
	rc = fs_bind(fd, addr, len);
	if (rc == 0 && fs_rfd_on)
		fs_rfd_bound(fd, addr, len);
	return rc;
}

FS_EXPORT int listen(int fd, int backlog)
{
	ready();
	return fs_listen(fd, backlog);
}

FS_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	ready();
	return rfd_new_fd(fs_accept(fd, addr, len, 0, fs_real_accept));
}

FS_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	ready();
	return rfd_new_fd(fs_accept(fd, addr, len, flags, fs_real_accept4));
}

FS_EXPORT int shutdown(int fd, int how)
{
	ready();
	return fs_shutdown(fd, how);
}

FS_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			 socklen_t len)
{
	int rc;

	ready();
	rc = fs_setsockopt(fd, level, name, val, len);
	if (rc == 0 && fs_rfd_on)
		fs_rfd_setsockopt(fd, level, name, val, len);
	return rc;
}

FS_EXPORT int getsockopt(int fd, int level, int name, void *val,
			 socklen_t *len)
{
	ready();
	return fs_getsockopt(fd, level, name, val, len);
}

/* MSG_FASTOPEN connects, so RFD gives it a block port as connect(). */
struct sendto_call {
	const void *buf;
	size_t n;
	int flags;
	const struct sockaddr *sa;
	socklen_t len;
};

static ssize_t call_sendto(int fd, void *arg)
{
	const struct sendto_call *c = arg;

	return real_sendto(fd, c->buf, c->n, c->flags, c->sa, c->len);
}

FS_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			 const struct sockaddr *addr, socklen_t len)
{
	ready();
	if (!(flags & MSG_FASTOPEN) || !fs_rfd_on)
		return real_sendto(fd, buf, n, flags, addr, len);
	return fs_rfd_pick(fd, addr, len, call_sendto,
			   &(struct sendto_call){ buf, n, flags, addr, len });
}

struct sendmsg_call {
	const struct msghdr *msg;
	int flags;
};

static ssize_t call_sendmsg(int fd, void *arg)
{
	const struct sendmsg_call *c = arg;

	return real_sendmsg(fd, c->msg, c->flags);
}

FS_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ready();
	if (msg && msg->msg_controllen)
		fs_sending_fds(msg);
	if (!(flags & MSG_FASTOPEN) || !fs_rfd_on || !msg)
		return real_sendmsg(fd, msg, flags);
	return fs_rfd_pick(fd, msg->msg_name, msg->msg_namelen, call_sendmsg,
			   &(struct sendmsg_call){ msg, flags });
}

/* The first message is the one that connects under MSG_FASTOPEN. */
struct sendmmsg_call {
	struct mmsghdr *vec;
	unsigned int n;
	int flags;
};

static ssize_t call_sendmmsg(int fd, void *arg)
{
	const struct sendmmsg_call *c = arg;

	return real_sendmmsg(fd, c->vec, c->n, c->flags);
}

FS_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	unsigned int i;

	ready();
	for (i = 0; vec && i < n; i++)
		if (vec[i].msg_hdr.msg_controllen)
			fs_sending_fds(&vec[i].msg_hdr);
	if (!(flags & MSG_FASTOPEN) || !fs_rfd_on || !vec || !n)
		return real_sendmmsg(fd, vec, n, flags);
	return (int)fs_rfd_pick(fd, vec[0].msg_hdr.msg_name,
				vec[0].msg_hdr.msg_namelen, call_sendmmsg,
				&(struct sendmmsg_call){ vec, n, flags });
}

/* ---- programs and processes --------------------------------------- */

/* The exec family: the program started does not inherit the shim's pin. */
#define EXEC_UNPINNED(call)					\
	do {							\
		struct fs_exec_pin pin;				\
		int r;						\
								\
		ready();					\
		fs_exec_unpin(&pin);				\
		r = (call);					\
		fs_exec_repin(&pin);				\
		return r;					\
	} while (0)

FS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_UNPINNED(real_execve(path, argv, envp));
}

FS_EXPORT int execv(const char *path, char *const argv[])
{
	EXEC_UNPINNED(real_execv(path, argv));
}

FS_EXPORT int execvp(const char *file, char *const argv[])
{
	EXEC_UNPINNED(real_execvp(file, argv));
}

FS_EXPORT int execvpe(const char *file, char *const argv[],
		      char *const envp[])
{
	EXEC_UNPINNED(real_execvpe(file, argv, envp));
}

FS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_UNPINNED(real_fexecve(fd, argv, envp));
}

FS_EXPORT int execveat(int dirfd, const char *path, char *const argv[],
		       char *const envp[], int flags)
{
	if (!real_execveat) {
		errno = ENOSYS;
		return -1;
	}
	EXEC_UNPINNED(real_execveat(dirfd, path, argv, envp, flags));
}

FS_EXPORT int posix_spawn(pid_t *pid, const char *path,
			  const posix_spawn_file_actions_t *fa,
			  const posix_spawnattr_t *attr, char *const argv[],
			  char *const envp[])
{
	EXEC_UNPINNED(real_posix_spawn(pid, path, fa, attr, argv, envp));
}

FS_EXPORT int posix_spawnp(pid_t *pid, const char *file,
			   const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[],
			   char *const envp[])
{
	EXEC_UNPINNED(real_posix_spawnp(pid, file, fa, attr, argv, envp));
}

/*
 * execl, execlp, execle: libc's would call its internal execve, past the
 * shim; gather the list and take the vector calls above. The vector
 * lives on the stack, as in libc (async-signal-safe after vfork).
 */
static size_t list_len(const char *arg, va_list ap)
{
	size_t n = 0;

	if (arg)
		for (n = 1; va_arg(ap, const char *); n++)
			;
	return n;
}

/* argv[0] = arg, then the rest of *ap up to and including its NULL. */
static void list_fill(char **argv, size_t n, const char *arg, va_list *ap)
{
	argv[0] = (char *)arg;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(*ap, char *);
}

#define LIST_TO_VECTOR(argv, arg, ap)		\
	va_list ap, count_;			\
	size_t n_;				\
						\
	va_start(ap, arg);			\
	va_copy(count_, ap);			\
	n_ = list_len(arg, count_);		\
	va_end(count_);				\
	char *argv[n_ + 1];			\
	list_fill(argv, n_, arg, &ap)

FS_EXPORT int execl(const char *path, const char *arg, ...)
{
	LIST_TO_VECTOR(argv, arg, ap);
	va_end(ap);
	return execv(path, argv);
}

FS_EXPORT int execlp(const char *file, const char *arg, ...)
{
	LIST_TO_VECTOR(argv, arg, ap);
	va_end(ap);
	return execvp(file, argv);
}

FS_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *const *envp;

	LIST_TO_VECTOR(argv, arg, ap);
	envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}

/*
 * clone() as an application calls it (threads and fork() do not come
 * here). With CLONE_FILES and without CLONE_THREAD the child shares the
 * fd table but not the shim's view of it (exec.c). The optional
 * arguments are passed on as they came.
 */
FS_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	pid_t *ptid, *ctid;
	void *tls;
	va_list ap;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	ready();
	if ((flags & CLONE_FILES) && !(flags & CLONE_THREAD))
		fs_sharing_fd_table();
	return real_clone(fn, stack, flags, arg, ptid, tls, ctid);
}

/* A thread pinned elsewhere has another RFD port block (rfd.c caches it). */
FS_EXPORT int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set)
{
	int rc;

	ready();
	rc = real_sched_setaffinity(pid, size, set);
	if (rc == 0)
		fs_cpu_affinity_changed();
	return rc;
}

FS_EXPORT int pthread_setaffinity_np(pthread_t t, size_t size,
				     const cpu_set_t *set)
{
	int rc;

	ready();
	rc = real_pthread_setaffinity_np(t, size, set);
	if (rc == 0)
		fs_cpu_affinity_changed();
	return rc;
}

/* ---- fds ----------------------------------------------------------- */

/*
 * fclose() closes its fd inside libc, where the shim cannot see it: an
 * fdopen()ed listening socket would keep its local listeners. Note the
 * close for the stream's fd once libc has closed it.
 */
FS_EXPORT int fclose(FILE *f)
{
	int fd, rc;

	ready();
	fd = f ? fileno(f) : -1;
	if (fd >= 0 && fs_rfd_on)
		fs_rfd_forget(fd);
	rc = real_fclose(f);
	if (fd >= 0)
		fs_closed_elsewhere(fd);
	return rc;
}

FS_EXPORT int close(int fd)
{
	ready();
	if (fs_rfd_on)
		fs_rfd_forget(fd);
	return fs_close(fd);
}

FS_EXPORT int dup(int fd)
{
	ready();
	return rfd_new_fd(fs_dup(fd));
}

FS_EXPORT int dup2(int oldfd, int newfd)
{
	ready();
	return rfd_new_fd(fs_dup3(oldfd, newfd, 0, fs_real_dup2));
}

FS_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	ready();
	return rfd_new_fd(fs_dup3(oldfd, newfd, flags, fs_real_dup3));
}

static int do_fcntl(int (*real)(int, int, ...), int fd, int cmd,
		    unsigned long arg)
{
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return rfd_new_fd(fs_fcntl_dupfd(fd, cmd, (int)arg));
	if (cmd == F_SETFL)
		return fs_fcntl_setfl(fd, real, (int)arg);
	return real(fd, cmd, arg);
}

FS_EXPORT int fcntl(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	ready();
	return do_fcntl(fs_real.fcntl, fd, cmd, arg);
}

FS_EXPORT int fcntl64(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	ready();
	return do_fcntl(real_fcntl64, fd, cmd, arg);
}

/* FIONBIO sets O_NONBLOCK as fcntl does (nginx uses it). */
FS_EXPORT int ioctl(int fd, unsigned long request, ...)
{
	void *arg;
	va_list ap;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	ready();
	return fs_ioctl(fd, request, arg);
}

FS_EXPORT int close_range(unsigned int lo, unsigned int hi, int flags)
{
	ready();
	if (fs_rfd_on && !(flags & CLOSE_RANGE_CLOEXEC))
		fs_rfd_forget_range(lo, hi);
	return fs_close_range(lo, hi, flags);
}

FS_EXPORT void closefrom(int lo)
{
	ready();
	if (fs_rfd_on && lo >= 0)
		fs_rfd_forget_range((unsigned int)lo, ~0U);
	fs_closefrom(lo);
}

/* ---- waiting ------------------------------------------------------- */

FS_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	resolved_once();	/* fs_epoll_ctl() flushes unless it re-adds */
	return fs_epoll_ctl(epfd, op, fd, ev);
}

FS_EXPORT int epoll_create(int size)
{
	ready();
	return fs_epoll_create(fs_real.epoll_create(size));
}

FS_EXPORT int epoll_create1(int flags)
{
	ready();
	return fs_epoll_create(fs_real.epoll_create1(flags));
}

/*
 * epoll waits are not changed. Before each one the wait hook lets park.c
 * act on local listeners that no epoll set reads any more (park or close
 * them) or that are read again (resume them); with nothing to do it is
 * one relaxed atomic load. poll and select run it in pollsel.c.
 */
FS_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	ready();
	fs_wait_hook();
	return fs_epoll_after_wait(epfd, ev,
				   fs_real.epoll_wait(epfd, ev, max, timeout), max);
}

FS_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max,
			  int timeout, const sigset_t *mask)
{
	ready();
	fs_wait_hook();
	return fs_epoll_after_wait(epfd, ev,
				   fs_real.epoll_pwait(epfd, ev, max, timeout,
						       mask), max);
}

FS_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max,
			   const struct timespec *ts, const sigset_t *mask)
{
	ready();
	fs_wait_hook();
	if (!fs_real.epoll_pwait2) {
		errno = ENOSYS;
		return -1;
	}
	return fs_epoll_after_wait(epfd, ev,
				   fs_real.epoll_pwait2(epfd, ev, max, ts, mask),
				   max);
}

FS_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	ready();
	return fs_ppoll(fds, n, timeout, NULL, NULL, fs_real_poll);
}

FS_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		    const sigset_t *mask)
{
	ready();
	return fs_ppoll(fds, n, 0, ts, mask, fs_real_ppoll);
}

/* _FORTIFY_SOURCE builds call these instead of poll and ppoll. */
extern void __chk_fail(void) __attribute__((noreturn));

FS_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout,
			 size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	ready();
	return fs_ppoll(fds, n, timeout, NULL, NULL, fs_real_poll);
}

FS_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n,
			  const struct timespec *ts, const sigset_t *mask,
			  size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	ready();
	return fs_ppoll(fds, n, 0, ts, mask, fs_real_ppoll);
}

FS_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *x,
		     struct timeval *tv)
{
	ready();
	return fs_pselect(nfds, r, w, x, tv, NULL, NULL, fs_real_select);
}

FS_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x,
		      const struct timespec *ts, const sigset_t *mask)
{
	ready();
	return fs_pselect(nfds, r, w, x, NULL, ts, mask, fs_real_pselect);
}
