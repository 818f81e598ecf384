// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * log.c - the shim's messages: one line on stderr per event.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real.h"

/*
 * Whether fd 2 is somewhere for messages: open, and not one of the
 * application's network sockets (a server that closed fd 2 may have its
 * listening socket or a client connection there: a message would be
 * data in the connection, or SIGPIPE). A unix socket that is not
 * listening (systemd's journal stream) is fine. Checked per message:
 * the application may dup2() a log file onto fd 2 at any time.
 */
static int stderr_kind(void)
{
	struct stat st;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss), ol;
	int on = 0;

	if (fstat(STDERR_FILENO, &st) < 0)
		return -1;
	if (!S_ISSOCK(st.st_mode))
		return 0;
	ol = sizeof(on);
	if (getsockname(STDERR_FILENO, (struct sockaddr *)&ss, &sl) < 0 ||
	    ss.ss_family != AF_UNIX ||
	    fs_real.getsockopt(STDERR_FILENO, SOL_SOCKET, SO_ACCEPTCONN, &on,
			       &ol) < 0 || on)
		return -1;
	return 1;
}

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
	/* One message, one line: no control character of a value (a
	 * FASTSOCKET_* variable with a newline) may start another. */
	for (int i = n; i < n + m; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	}
	buf[n + m] = '\n';
	int kind = stderr_kind();
	ssize_t w = 0;

	if (kind == 0)
		w = write(STDERR_FILENO, buf, (size_t)(n + m + 1));
	else if (kind == 1)
		w = send(STDERR_FILENO, buf, (size_t)(n + m + 1), MSG_NOSIGNAL);
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
