// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-faultload: load a module with allocation failures injected into the
 * load itself, and only there. For tests/vm/t-faultinject.sh.
 *
 *   fsk-faultload MODULE.ko [PARAMS]
 *
 * Reads the file first, then sets its own /proc/thread-self/make-it-fail
 * around the one init_module() call, so that failslab and
 * fail_page_alloc (configured with task-filter) fail allocations of the
 * kernel's module loader and of the module's init, not of this
 * program's exec or reads. Prints "loaded" or "failed ERRNO-NAME" and
 * exits 0 either way; 2 when it could not try.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int set_fail(int fd, const char *v)
{
	return pwrite(fd, v, 1, 0) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *params = argc > 2 ? argv[2] : "";
	struct stat st;
	char *buf;
	long rc;
	int fd, ff, err;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: fsk-faultload MODULE.ko [PARAMS]\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "fsk-faultload: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size) {
		fprintf(stderr, "fsk-faultload: reading %s failed\n", argv[1]);
		return 2;
	}
	close(fd);
	ff = open("/proc/thread-self/make-it-fail", O_WRONLY | O_CLOEXEC);
	if (ff < 0 || set_fail(ff, "1")) {
		fprintf(stderr, "fsk-faultload: make-it-fail: %s\n", strerror(errno));
		return 2;
	}
	rc = syscall(SYS_init_module, buf, (unsigned long)st.st_size, params);
	err = errno;
	if (set_fail(ff, "0")) {
		fprintf(stderr, "fsk-faultload: make-it-fail: %s\n", strerror(errno));
		return 2;
	}
	if (rc == 0)
		printf("loaded\n");
	else
		printf("failed %s\n", strerrorname_np(err) ? strerrorname_np(err) : "?");
	return 0;
}
