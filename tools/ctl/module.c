// SPDX-License-Identifier: GPL-2.0
/*
 * Is the module loaded, and what does it say about itself
 * (FASTSOCKET_IOC_INFO on /dev/fastsocket).
 *
 * Under --root the device is usually a plain file of a crafted tree: it
 * then holds the answer as "key=value" lines (abi_version=1,
 * features=0x1f), the form tests/vm/progs/fsktest prints, so the ABI
 * checks can be tested without a kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fastsocket.h>

#include "ctl.h"

const char ctl_fallback_text[] =
	"the shim (libfastsocket.so) runs in its userspace fallback: each worker's "
	"CPU-local listener is an SO_REUSEPORT sibling with SO_INCOMING_CPU, which "
	"the kernel's own reuseport lookup honours (6.2+, Debian 6.1.y); no SYN "
	"steering by the module, no parking (a worker that stops accepting closes "
	"its local listener), a server's own per-worker SO_REUSEPORT sockets are "
	"only pinned, not registered (Documentation/shim.md)";

static const char *const feature_names[] = {
	"spawn", "steer_ipv4", "steer_ipv6", "register", "park", "rfd_ports",
	"rfd_steer",
};

const char *module_feature_name(unsigned int bit)
{
	if (bit < ARRAY_SIZE(feature_names))
		return feature_names[bit];
	return "unknown";
}

static int info_from_file(int fd, struct modinfo *m)
{
	FILE *f = fdopen(fd, "r");
	char line[128];
	int got = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "abi_version=", 12)) {
			m->abi_version = (unsigned int)strtoul(line + 12, NULL, 0);
			got |= 1;
		} else if (!strncmp(line, "features=", 9)) {
			m->features = (unsigned int)strtoul(line + 9, NULL, 0);
			got |= 2;
		}
	}
	fclose(f);
	return got == 3 ? 0 : -1;
}

static int info_from_device(int fd, struct modinfo *m)
{
	struct fastsocket_info info;

	memset(&info, 0, sizeof(info));
	if (ioctl(fd, FASTSOCKET_IOC_INFO, &info))
		return -1;
	m->abi_version = info.abi_version;
	m->features = info.features;
	return 0;
}

void module_probe(struct modinfo *m)
{
	const char *path = ctl_path(FASTSOCKET_DEVICE_PATH);
	struct stat st;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	m->loaded = ctl_exists("/sys/module/fastsocket");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(m->device_error, sizeof(m->device_error), "%s: %s",
			 path, strerror(errno));
		return;
	}
	errno = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		ret = info_from_file(fd, m);
	} else {
		ret = info_from_device(fd, m);
		close(fd);
	}
	if (ret)
		snprintf(m->device_error, sizeof(m->device_error),
			 "%s: FASTSOCKET_IOC_INFO failed: %s", path,
			 errno ? strerror(errno) : "no abi_version/features lines");
	else
		m->device = true;
}
