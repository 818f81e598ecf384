// SPDX-License-Identifier: GPL-2.0
/*
 * fastsocketctl status: the module and its ABI, parameters and sysctls,
 * then this network namespace's local listeners grouped by address, and
 * the workers that asked for them with the CPUs they may run on.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <linux/fastsocket.h>

#include "ctl.h"

static const char status_usage[] =
	"Usage: fastsocketctl [--root DIR] status [--json]\n"
	"Module, ABI, features, parameters and sysctls; the local listeners of this\n"
	"network namespace (/proc/net/fastsocket): per address the CPUs, pids and\n"
	"kinds; each worker's allowed CPUs (/proc/PID/status). For another netns:\n"
	"ip netns exec NAME fastsocketctl status.\n";

/* Every file of @dir as "name value" pairs, sorted by name. */
static void status_dir(struct json *j, const char *title, const char *dir)
{
	struct dirent **names;
	char val[256], file[512];
	int n, i;

	n = scandir(ctl_path("%s", dir), &names, NULL, alphasort);
	if (ctl_json)
		json_open(j, title, '{');
	else
		printf("%s:%s", title, n > 0 ? "" : " none");
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && !ctl_read_line(file, val, sizeof(val))) {
			if (ctl_json)
				json_str(j, names[i]->d_name, val);
			else
				printf(" %s=%s", names[i]->d_name, val);
		}
		free(names[i]);
	}
	if (n > 0)
		free(names);
	if (ctl_json)
		json_close(j, '}');
	else
		putchar('\n');
}

static void status_module(struct json *j, const struct modinfo *m)
{
	unsigned int b;

	if (ctl_json) {
		json_open(j, "module", '{');
		json_bool(j, "loaded", m->loaded);
		json_bool(j, "device", m->device);
		json_str(j, "device_error", m->device ? NULL : m->device_error);
		json_num(j, "abi_version", m->abi_version);
		json_num(j, "tool_abi_version", FASTSOCKET_ABI_VERSION);
		json_bool(j, "abi_match", m->device && m->abi_version == FASTSOCKET_ABI_VERSION);
		json_open(j, "features", '[');
		for (b = 0; b < 32; b++)
			if (m->features >> b & 1)
				json_str(j, NULL, module_feature_name(b));
		json_close(j, ']');
		json_close(j, '}');
		json_str(j, "mode", m->loaded ? "module" : "fallback");
		json_str(j, "fallback", m->loaded ? NULL : ctl_fallback_text);
		return;
	}
	if (!m->loaded) {
		printf("module: not loaded: %s\n", ctl_fallback_text);
		return;
	}
	printf("module: loaded");
	if (!m->device) {
		printf(", but %s\n", m->device_error);
		return;
	}
	printf(", ABI %u (this tool: %d%s), features:", m->abi_version,
	       FASTSOCKET_ABI_VERSION,
	       m->abi_version == FASTSOCKET_ABI_VERSION ? "" : ": MISMATCH");
	for (b = 0; b < 32; b++)
		if (m->features >> b & 1)
			printf(" %s", module_feature_name(b));
	putchar('\n');
}

/* Receive flow deliver's port blocks in this netns, when it has them. */
static void status_rfd(struct json *j, const struct table *t)
{
	if (ctl_json) {
		json_open(j, "rfd", '{');
		json_bool(j, "port_blocks", t->rfd);
		if (t->rfd) {
			json_num(j, "mode", t->rfd_mode);
			json_num(j, "port_lo", t->rfd_lo);
			json_num(j, "block", t->rfd_block);
			json_num(j, "cpus", t->rfd_cpus);
		}
		json_close(j, '}');
		return;
	}
	if (t->rfd)
		printf("rfd: port blocks (enable_receive_flow_deliver=%u): CPU c connects from %u+c*%u .. %u+(c+1)*%u-1, %u CPUs\n",
		       t->rfd_mode, t->rfd_lo, t->rfd_block, t->rfd_lo,
		       t->rfd_block, t->rfd_cpus);
}

/* The netns's local listeners against its limits (a module with quotas). */
static void status_quota(struct json *j, const struct table *t)
{
	if (!t->quota)
		return;
	if (ctl_json) {
		json_open(j, "quota", '{');
		json_num(j, "local_listeners", t->quota_count);
		json_num(j, "max", t->quota_max);
		json_num(j, "max_per_user", t->quota_max_per_user);
		json_close(j, '}');
		return;
	}
	printf("quota: %u local listeners in this network namespace, at most %u (net.fastsocket.max_local_listeners), %u per user (max_local_listeners_per_user)\n",
	       t->quota_count, t->quota_max, t->quota_max_per_user);
}

static bool seen_before(const struct table *t, int i, bool same_cpu)
{
	const struct listener *a = &t->listeners[i], *b;

	for (b = t->listeners; b < a; b++)
		if (!strcmp(a->addr, b->addr) && a->dev == b->dev &&
		    (!same_cpu || (a->pid == b->pid && a->cpu == b->cpu)))
			return true;
	return false;
}

/* One address's rows: CPUs, kinds, pids. */
static void status_port(struct json *j, const struct table *t, int first)
{
	const struct listener *l0 = &t->listeners[first], *l;
	unsigned int spawned = 0, parked = 0, registered = 0;
	struct cpuset cpus = { { 0 } };
	char list[1024];

	if (ctl_json) {
		json_open(j, NULL, '{');
		json_str(j, "address", l0->addr);
		json_num(j, "port", l0->port);
		json_num(j, "dev", l0->dev);
		json_open(j, "pids", '[');
	} else {
		printf("  %s dev %u: pids", l0->addr, l0->dev);
	}
	for (l = l0; l < t->listeners + t->nlisteners; l++) {
		if (strcmp(l->addr, l0->addr) || l->dev != l0->dev)
			continue;
		cpuset_add(&cpus, l->cpu);
		spawned += !strcmp(l->kind, "spawned");
		parked += !strcmp(l->kind, "parked");
		registered += !strcmp(l->kind, "registered");
		if (ctl_json)
			json_num(j, NULL, l->pid);
		else
			printf("%c%d", l == l0 ? ' ' : ',', l->pid);
	}
	cpuset_list(&cpus, list, sizeof(list));
	if (ctl_json) {
		json_close(j, ']');
		json_str(j, "cpus", list);
		json_num(j, "spawned", spawned);
		json_num(j, "parked", parked);
		json_num(j, "registered", registered);
		json_close(j, '}');
	} else {
		printf("; CPUs %s; %u spawned, %u parked, %u registered\n", list,
		       spawned, parked, registered);
	}
}

static void status_worker(struct json *j, const struct listener *l)
{
	char comm[64] = "?", allowed[1024] = "?";
	struct cpuset s;
	const char *pin = "gone";

	if (!proc_cpus_allowed(l->pid, &s, allowed, sizeof(allowed)))
		pin = cpuset_count(&s) == 1 && cpuset_has(&s, l->cpu) ? "pinned" :
		      cpuset_has(&s, l->cpu) ? "not pinned" : "elsewhere";
	proc_comm(l->pid, comm, sizeof(comm));
	if (ctl_json) {
		json_open(j, NULL, '{');
		json_num(j, "pid", l->pid);
		json_str(j, "comm", comm);
		json_str(j, "address", l->addr);
		json_num(j, "cpu", l->cpu);
		json_str(j, "cpus_allowed", allowed);
		json_str(j, "pinning", pin);
		json_close(j, '}');
	} else {
		printf("  pid %d (%s) %s CPU %u: allowed CPUs %s: %s\n", l->pid, comm,
		       l->addr, l->cpu, allowed, pin);
	}
}

/* Counters summed over the CPUs, every column but "cpu". */
static void status_sums(struct json *j, const struct table *t)
{
	unsigned long long sum;
	int c, r;

	if (ctl_json)
		json_open(j, "counters", '{');
	else
		printf("counters (all CPUs):");
	for (c = 1; c < t->ncols; c++) {
		for (sum = 0, r = 0; r < t->nrows; r++)
			sum += t->rows[r][c];
		if (ctl_json)
			json_num(j, t->cols[c], (long long)sum);
		else
			printf(" %s %llu", t->cols[c], sum);
	}
	if (ctl_json)
		json_close(j, '}');
	else
		putchar('\n');
}

static int status_netns(struct json *j, const struct table *t)
{
	int i;

	if (ctl_json) {
		json_open(j, "netns", '[');
		json_open(j, NULL, '{');
		json_str(j, "netns", "self");
		json_open(j, "ports", '[');
	} else {
		printf("local listeners (this network namespace):%s\n",
		       t->nlisteners ? "" : " none");
	}
	for (i = 0; i < t->nlisteners; i++)
		if (!seen_before(t, i, false))
			status_port(j, t, i);
	if (ctl_json) {
		json_close(j, ']');
		json_open(j, "workers", '[');
	} else if (t->nlisteners) {
		printf("workers:\n");
	}
	for (i = 0; i < t->nlisteners; i++)
		if (t->listeners[i].pid > 0 && !seen_before(t, i, true))
			status_worker(j, &t->listeners[i]);
	if (ctl_json)
		json_close(j, ']');
	status_sums(j, t);
	if (ctl_json) {
		json_close(j, '}');
		json_close(j, ']');
	}
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct json j = { .f = stdout };
	struct modinfo m;
	struct table t;
	int c, ret = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (c == 'j') {
			ctl_json = true;
		} else if (c == 'h') {
			fputs(status_usage, stdout);
			return 0;
		} else {
			ctl_err("status: unknown option %s (see status --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		ctl_err("status: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	module_probe(&m);
	if (ctl_json)
		json_open(&j, NULL, '{');
	status_module(&j, &m);
	if (m.loaded)
		status_dir(&j, "parameters", "/sys/module/fastsocket/parameters");
	if (ctl_exists("/proc/sys/net/fastsocket"))
		status_dir(&j, "sysctls", "/proc/sys/net/fastsocket");
	c = table_read(&t);
	if (c < 0)
		ret = EXIT_USAGE;
	else if (c == 0)
		status_netns(&j, &t);
	if (c == 0) {
		status_rfd(&j, &t);
		status_quota(&j, &t);
	} else if (m.loaded && !ctl_json)
		printf("local listeners: no %s in this network namespace\n",
		       ctl_path("/proc/net/fastsocket"));
	table_free(&t);
	if (ctl_json) {
		json_close(&j, '}');
		json_end(&j);
	}
	return ret;
}
