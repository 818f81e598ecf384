// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * log.c - the shim's messages: one line on stderr per event.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static void vlog(const char *fmt, va_list ap)
{
	char buf[512];
	int saved = errno;
	int n = snprintf(buf, sizeof(buf), "fastsocket: ");
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);

	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof(buf) - 2)
		m = (int)sizeof(buf) - 2 - n;
	buf[n + m] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, (size_t)(n + m + 1));
	(void)w;
	errno = saved;
}

void fs_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > fs_cfg.log)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void fs_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
