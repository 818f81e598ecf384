/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How the VM test programs report: "ok: NAME" or "FAIL: NAME: ..." per
 * check, one line each; main() exits non-zero if failures > 0.
 */
#ifndef FSK_CHECK_H
#define FSK_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int failures;

/* ret: what a call returned (< 0: failed with errno); 0: success. */
static void check(const char *name, int ret, int expect_errno)
{
	int got = ret < 0 ? errno : 0;

	if (got == expect_errno) {
		printf("ok: %s\n", name);
		return;
	}
	printf("FAIL: %s: expected %s, got %s\n", name,
	       expect_errno ? strerror(expect_errno) : "success",
	       got ? strerror(got) : "success");
	failures++;
}

#endif /* FSK_CHECK_H */
