// SPDX-License-Identifier: GPL-2.0
/*
 * Files under the root directory (--root): one place that builds paths,
 * so no command can read the real system by mistake while tested against
 * a crafted tree.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

const char *ctl_root = "";

/* A static buffer per call site is enough: callers use the path at once. */
const char *ctl_path(const char *fmt, ...)
{
	static char bufs[4][4096];
	static int next;
	char *buf = bufs[next++ % 4];
	size_t n = strlen(ctl_root);
	va_list ap;

	memcpy(buf, ctl_root, n);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(bufs[0]) - n, fmt, ap);
	va_end(ap);
	return buf;
}

FILE *ctl_fopen(const char *path)
{
	return fopen(ctl_path("%s", path), "r");
}

/* The first line of @path without its newline; -1 if unreadable. */
int ctl_read_line(const char *path, char *buf, size_t size)
{
	FILE *f = ctl_fopen(path);
	int ret = -1;

	if (!f)
		return -1;
	if (fgets(buf, (int)size, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		ret = 0;
	}
	fclose(f);
	return ret;
}

int ctl_read_long(const char *path, long *val)
{
	char buf[64], *end;

	if (ctl_read_line(path, buf, sizeof(buf)))
		return -1;
	*val = strtol(buf, &end, 10);
	return end == buf ? -1 : 0;
}

bool ctl_exists(const char *path)
{
	return access(ctl_path("%s", path), F_OK) == 0;
}

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("fastsocketctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
