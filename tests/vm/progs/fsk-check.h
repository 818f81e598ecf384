/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How the VM test programs report: TAP, one "ok N - NAME" or
 * "not ok N - NAME # FAIL: ..." line per check, and the plan "1..N" from
 * check_done(), which main() returns (non-zero if a check failed). The
 * suite shows a test's output as TAP comments; tests/check counts the
 * suite's own lines only.
 */
#ifndef FSK_CHECK_H
#define FSK_CHECK_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

static int failures;
static int checks;

/*
 * watch(fd) holds a local listener in an epoll set that nobody reads, as
 * the shim's epoll mirror does: the module gives SYNs only to local
 * listeners someone waits on (kmod/listen_table.c), and these programs
 * accept without waiting. unwatch(fd) takes it out again.
 */
static int watch_ep = -1;

static __attribute__((unused)) void watch(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (watch_ep < 0)
		watch_ep = epoll_create1(EPOLL_CLOEXEC);
	if (fd >= 0 && watch_ep >= 0)
		epoll_ctl(watch_ep, EPOLL_CTL_ADD, fd, &ev);
}

static __attribute__((unused)) void unwatch(int fd)
{
	if (watch_ep >= 0)
		epoll_ctl(watch_ep, EPOLL_CTL_DEL, fd, NULL);
}

/* check_pass(fmt, ...): one passed check, named by fmt. */
static __attribute__((format(printf, 1, 2), unused))
void check_pass(const char *fmt, ...)
{
	va_list ap;

	printf("ok %d - ", ++checks);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* check_fail(name, fmt, ...): one failed check; fmt says what went wrong. */
static __attribute__((format(printf, 2, 3), unused))
void check_fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("not ok %d - %s # FAIL: ", ++checks, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures++;
}

/* ret: what a call returned (< 0: failed with errno); 0: success. */
static __attribute__((unused))
void check(const char *name, int ret, int expect_errno)
{
	int got = ret < 0 ? errno : 0;

	if (got == expect_errno) {
		check_pass("%s", name);
		return;
	}
	check_fail(name, "expected %s, got %s",
		   expect_errno ? strerror(expect_errno) : "success",
		   got ? strerror(got) : "success");
}

/* The plan, last; main()'s exit status. */
static __attribute__((unused))
int check_done(void)
{
	printf("1..%d\n", checks);
	return failures != 0;
}

#endif /* FSK_CHECK_H */
