// SPDX-License-Identifier: GPL-2.0
/*
 * fastsocketctl doctor: what the host must look like for connections to
 * stay on the CPU that took their SYN, checked one thing at a time. Each
 * finding is one line (or one JSON object) with the command that fixes
 * it. This file: the module, the TCP sysctls, ports and workers; the NIC
 * in doctor_nic.c, server configurations in doctor_conf.c.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <linux/fastsocket.h>

#include "ctl.h"

static const char doctor_usage[] =
	"Usage: fastsocketctl [--root DIR] doctor [--json] [--port P]\n"
	"Check the host against what locality needs: the module and its ABI, NIC\n"
	"RX queue IRQ affinity and irqbalance, RPS/RFS/XPS, tcp_migrate_req,\n"
	"tcp_syncookies, somaxconn against configured backlogs, served ports in\n"
	"ip_local_port_range, nginx and haproxy settings, workers per CPU.\n"
	"Each finding: one line \"check: what is wrong; fix: command\".\n"
	"--port P: only that port (default: ports with local listeners and ports\n"
	"of the nginx/haproxy configurations found).\n"
	"Exit status: 0 nothing found, 1 findings, 2 usage or read error.\n";

void finding(struct doctor *d, const char *check, const char *fix,
	     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->nfindings++;
	if (ctl_json) {
		json_open(d->j, NULL, '{');
		json_str(d->j, "check", check);
		json_str(d->j, "message", msg);
		json_str(d->j, "fix", fix);
		json_close(d->j, '}');
	} else {
		printf("%s: %s; fix: %s\n", check, msg, fix);
	}
}

void doctor_add_port(struct doctor *d, unsigned int port)
{
	int i;

	if (d->port && port != (unsigned int)d->port)
		return;
	for (i = 0; i < d->nports; i++)
		if (d->ports[i] == port)
			return;
	if (d->nports < (int)ARRAY_SIZE(d->ports))
		d->ports[d->nports++] = port;
}

static void check_module(struct doctor *d)
{
	if (!d->mod.loaded) {
		finding(d, "module", "modprobe fastsocket (or insmod kmod/fastsocket.ko)",
			"the module is not loaded: no SYN steering, %s",
			"the shim runs in its userspace fallback (fastsocketctl status says what that means)");
		return;
	}
	if (!d->mod.device) {
		finding(d, "module", "modprobe -r fastsocket && modprobe fastsocket",
			"the module is loaded but %s", d->mod.device_error);
		return;
	}
	if (d->mod.abi_version != FASTSOCKET_ABI_VERSION)
		finding(d, "abi", "install the module, shim and tools of one fastsocket release",
			"the module speaks ABI %u, this tool and its shim ABI %d",
			d->mod.abi_version, FASTSOCKET_ABI_VERSION);
}

static void check_sysctls(struct doctor *d)
{
	long v;

	if (!ctl_read_long("/proc/sys/net/ipv4/tcp_migrate_req", &v) && v != 1)
		finding(d, "tcp_migrate_req", "sysctl -w net.ipv4.tcp_migrate_req=1",
			"net.ipv4.tcp_migrate_req is %ld: connections queued on a local listener whose worker exits are reset",
			v);
	if (!ctl_read_long("/proc/sys/net/ipv4/tcp_syncookies", &v) && v == 0)
		finding(d, "tcp_syncookies", "sysctl -w net.ipv4.tcp_syncookies=1",
			"net.ipv4.tcp_syncookies is 0: a full SYN queue of a local listener drops SYNs instead of answering with cookies");
}

/* Is @port in a list such as "8080,9000-9010"? */
static bool port_in_list(const char *list, unsigned int port)
{
	unsigned long a, b;
	const char *p = list;
	char *end;

	while (*p) {
		a = strtoul(p, &end, 10);
		if (end == p)
			return false;
		b = *end == '-' ? strtoul(end + 1, &end, 10) : a;
		if (port >= a && port <= b)
			return true;
		p = *end == ',' ? end + 1 : end;
		if (*p && *p != ',' && (*p < '0' || *p > '9'))
			return false;
	}
	return false;
}

static void check_ports(struct doctor *d)
{
	char range[64], reserved[4096] = "", fix[4200];
	unsigned int lo, hi;
	int i;

	if (ctl_read_line("/proc/sys/net/ipv4/ip_local_port_range", range, sizeof(range)) ||
	    sscanf(range, "%u %u", &lo, &hi) != 2)
		return;
	ctl_read_line("/proc/sys/net/ipv4/ip_local_reserved_ports", reserved, sizeof(reserved));
	for (i = 0; i < d->nports; i++) {
		if (d->ports[i] < lo || d->ports[i] > hi ||
		    port_in_list(reserved, d->ports[i]))
			continue;
		snprintf(fix, sizeof(fix), "sysctl -w net.ipv4.ip_local_reserved_ports=%s%s%u",
			 reserved, *reserved ? "," : "", d->ports[i]);
		finding(d, "port_range", fix,
			"port %u is inside ip_local_port_range %u-%u and not reserved: an outgoing connection can take it while the server restarts",
			d->ports[i], lo, hi);
	}
}

/* Per port, more worker processes than CPUs share local listeners. */
static void check_workers(struct doctor *d)
{
	const struct table *t = &d->table;
	int i, k, pids;
	unsigned int online = cpuset_count(&d->online);
	char fix[128];

	for (i = 0; i < d->nports; i++) {
		pids = 0;
		for (k = 0; k < t->nlisteners; k++) {
			const struct listener *l = &t->listeners[k], *m;

			if (l->port != d->ports[i] || l->pid <= 0)
				continue;
			for (m = t->listeners; m < l; m++)
				if (m->port == l->port && m->pid == l->pid)
					break;
			pids += m == l;
		}
		if (online && (unsigned int)pids > online) {
			snprintf(fix, sizeof(fix), "run %u workers (nginx: worker_processes auto; haproxy: nbthread %u)",
				 online, online);
			finding(d, "workers", fix,
				"port %u: %d worker processes hold local listeners on %u online CPUs: workers share CPUs and their local listeners",
				d->ports[i], pids, online);
		}
	}
}

static void doctor_collect(struct doctor *d)
{
	int i, ret;

	module_probe(&d->mod);
	ctl_online_cpus(&d->online);
	if (ctl_read_long("/proc/sys/net/core/somaxconn", &d->somaxconn))
		d->somaxconn = 0;
	ret = table_read(&d->table);
	d->have_table = ret == 0;
	for (i = 0; d->have_table && i < d->table.nlisteners; i++) {
		const struct listener *l = &d->table.listeners[i];

		if (d->port && l->port != (unsigned int)d->port)
			continue;
		doctor_add_port(d, l->port);
		cpuset_add(&d->workers, l->cpu);
	}
	if (d->port)
		doctor_add_port(d, (unsigned int)d->port);
}

static int doctor_opts(struct doctor *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long p;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+:hp:", opts, NULL)) != -1) {
		if (c == 'j') {
			ctl_json = true;
		} else if (c == 'h') {
			fputs(doctor_usage, stdout);
			return 0;
		} else if (c == 'p') {
			p = strtol(optarg, &end, 10);
			if (end == optarg || *end || p < 1 || p > 65535) {
				ctl_err("doctor: --port must be a port from 1 to 65535, not '%s'", optarg);
				return EXIT_USAGE;
			}
			d->port = (int)p;
		} else if (c == ':') {
			ctl_err("doctor: option %s needs an argument", argv[optind - 1]);
			return EXIT_USAGE;
		} else {
			ctl_err("doctor: unknown option %s (see doctor --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		ctl_err("doctor: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

int cmd_doctor(int argc, char **argv)
{
	struct json j = { .f = stdout };
	struct doctor d;
	int ret;

	memset(&d, 0, sizeof(d));
	d.j = &j;
	ret = doctor_opts(&d, argc, argv);
	if (ret >= 0)
		return ret;
	doctor_collect(&d);
	if (ctl_json) {
		json_open(&j, NULL, '{');
		json_open(&j, "findings", '[');
	}
	check_module(&d);
	check_sysctls(&d);
	doctor_nginx(&d);
	doctor_haproxy(&d);
	check_ports(&d);
	check_workers(&d);
	doctor_nic(&d);
	if (ctl_json) {
		json_close(&j, ']');
		json_num(&j, "count", d.nfindings);
		json_close(&j, '}');
		json_end(&j);
	} else if (!d.nfindings) {
		printf("no findings\n");
	}
	table_free(&d.table);
	return d.nfindings ? EXIT_FINDINGS : 0;
}
