// SPDX-License-Identifier: GPL-2.0
/* Processes: names and the CPUs they may run on, from /proc/<pid>/. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int proc_comm(int pid, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	return ctl_read_line(path, buf, size);
}

/* Cpus_allowed_list of /proc/<pid>/status, as a set and as its text. */
int proc_cpus_allowed(int pid, struct cpuset *s, char *list, size_t size)
{
	static const char key[] = "Cpus_allowed_list:";
	char line[4096], path[64], *v;
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = ctl_fopen(path);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, sizeof(key) - 1))
			continue;
		v = line + sizeof(key) - 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		snprintf(list, size, "%s", v);
		ret = cpuset_parse_list(s, v);
		break;
	}
	fclose(f);
	return ret;
}

/* Pids whose /proc/<pid>/comm is @comm; returns how many (at most @max). */
int proc_find_comm(const char *comm, int *pids, int max)
{
	DIR *dir = opendir(ctl_path("/proc"));
	struct dirent *de;
	char name[64];
	int n = 0, pid;

	if (!dir)
		return 0;
	while (n < max && (de = readdir(dir))) {
		pid = atoi(de->d_name);
		if (pid <= 0 || proc_comm(pid, name, sizeof(name)))
			continue;
		if (!strcmp(name, comm))
			pids[n++] = pid;
	}
	closedir(dir);
	return n;
}
