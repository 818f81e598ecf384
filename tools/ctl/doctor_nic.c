// SPDX-License-Identifier: GPL-2.0
/*
 * doctor, the NIC side: a SYN is processed on the CPU its RX queue's
 * interrupt (or RPS) sends it to, and is local only if that CPU has a
 * worker. So: queue IRQ affinity and RPS masks within the CPUs that have
 * local listeners, irqbalance not rewriting them, RFS set up whole, XPS
 * set on multi-queue NICs.
 *
 * A queue IRQ is an MSI IRQ of the NIC's device whose /proc/interrupts
 * name has "rx", "input" (virtio) or "comp" (mlx5) in it.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* The name /proc/interrupts gives IRQ @irq (its last column), or "". */
static void irq_name(unsigned int irq, char *name, size_t size)
{
	FILE *f = ctl_fopen("/proc/interrupts");
	char line[8192], *p, *end;

	name[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		p = line + strspn(line, " ");
		if (strtoul(p, &end, 10) != irq || end == p || *end != ':')
			continue;
		end[strcspn(end, "\n")] = '\0';
		p = strrchr(end, ' ');
		snprintf(name, size, "%s", p ? p + 1 : "");
		break;
	}
	fclose(f);
}

static bool is_queue_irq(const char *name)
{
	char low[128];
	size_t i;

	for (i = 0; name[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	return strstr(low, "rx") || strstr(low, "input") || strstr(low, "comp");
}

static int nth_cpu(const struct cpuset *s, unsigned int n)
{
	unsigned int cpu, k = 0, count = cpuset_count(s);

	for (cpu = 0; count && cpu < CTL_MAX_CPUS; cpu++)
		if (cpuset_has(s, cpu) && k++ == n % count)
			return (int)cpu;
	return -1;
}

static void check_irqs(struct doctor *d, const char *dev)
{
	char name[128], aff[1024], fix[256], workers[1024];
	struct dirent *de;
	struct cpuset s;
	unsigned int irq, nq = 0;
	DIR *dir;

	dir = opendir(ctl_path("/sys/class/net/%s/device/msi_irqs", dev));
	if (!dir)	/* virtio: the MSI vectors belong to the PCI parent */
		dir = opendir(ctl_path("/sys/class/net/%s/device/../msi_irqs", dev));
	if (!dir)
		return;
	cpuset_list(&d->workers, workers, sizeof(workers));
	while ((de = readdir(dir))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		irq = (unsigned int)atoi(de->d_name);
		irq_name(irq, name, sizeof(name));
		if (!is_queue_irq(name))
			continue;
		snprintf(fix, sizeof(fix), "/proc/irq/%u/smp_affinity_list", irq);
		if (ctl_read_line(fix, aff, sizeof(aff)) || cpuset_parse_list(&s, aff))
			continue;
		if (cpuset_subset(&s, &d->workers)) {
			nq++;
			continue;
		}
		snprintf(fix, sizeof(fix), "echo %d > /proc/irq/%u/smp_affinity_list",
			 nth_cpu(&d->workers, nq++), irq);
		finding(d, "irq_affinity", fix,
			"%s: IRQ %u (%s) may run on CPUs %s, not only on CPUs with workers (%s): SYNs taken there find no local listener",
			dev, irq, name, aff, workers);
	}
	closedir(dir);
}

static void check_rps(struct doctor *d, const char *dev, const char *queue,
		      long *flow_cnt)
{
	char mask[1024], list[1024], want[300], fix[1024], path[512];
	struct cpuset s;
	long cnt;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues/%s/rps_flow_cnt", dev, queue);
	if (!ctl_read_long(path, &cnt))
		*flow_cnt += cnt;
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues/%s/rps_cpus", dev, queue);
	if (ctl_read_line(path, mask, sizeof(mask)) || cpuset_parse_mask(&s, mask) ||
	    !cpuset_count(&s) || cpuset_subset(&s, &d->workers))
		return;
	cpuset_list(&s, list, sizeof(list));
	cpuset_mask(&d->workers, want, sizeof(want));
	snprintf(fix, sizeof(fix), "echo %s > %s", want, path);
	finding(d, "rps", fix,
		"%s %s: RPS sends packets to CPUs %s, not only to CPUs with workers: SYNs there find no local listener",
		dev, queue, list);
}

static void check_rfs(struct doctor *d, const char *dev, long flow_cnt,
		      unsigned int nrx)
{
	long entries = 0;
	char fix[256];

	ctl_read_long("/proc/sys/net/core/rps_sock_flow_entries", &entries);
	if (entries > 0 && flow_cnt == 0 && nrx) {
		snprintf(fix, sizeof(fix),
			 "echo %ld > /sys/class/net/%s/queues/rx-N/rps_flow_cnt (each of its %u RX queues)",
			 entries / nrx, dev, nrx);
		finding(d, "rfs", fix,
			"%s: net.core.rps_sock_flow_entries is %ld but no RX queue has rps_flow_cnt: RFS is half set up",
			dev, entries);
	} else if (entries == 0 && flow_cnt > 0) {
		finding(d, "rfs", "sysctl -w net.core.rps_sock_flow_entries=32768",
			"%s: RX queues have rps_flow_cnt but net.core.rps_sock_flow_entries is 0: RFS is half set up",
			dev);
	}
}

/* Several TX queues and no XPS: replies may leave on another CPU's queue. */
static void check_xps(struct doctor *d, const char *dev, unsigned int ntx)
{
	const struct cpuset *cpus = cpuset_count(&d->workers) ? &d->workers : &d->online;
	char mask[1024], first[300], fix[1024];
	struct cpuset s, one;
	unsigned int q;
	int cpu;

	if (ntx < 2)
		return;
	for (q = 0; q < ntx; q++) {
		snprintf(fix, sizeof(fix), "/sys/class/net/%s/queues/tx-%u/xps_cpus", dev, q);
		if (ctl_read_line(fix, mask, sizeof(mask)))
			return;	/* no XPS in this kernel or driver */
		if (!cpuset_parse_mask(&s, mask) && cpuset_count(&s))
			return;
	}
	memset(&one, 0, sizeof(one));
	cpu = nth_cpu(cpus, 0);
	if (cpu >= 0)
		cpuset_add(&one, (unsigned int)cpu);
	cpuset_mask(&one, first, sizeof(first));
	snprintf(fix, sizeof(fix),
		 "echo %s > /sys/class/net/%s/queues/tx-0/xps_cpus (and another CPU for each of the other %u TX queues)",
		 first, dev, ntx - 1);
	finding(d, "xps", fix,
		"%s has %u TX queues and no XPS: a worker's replies may leave through a queue another CPU serves",
		dev, ntx);
}

static void check_dev(struct doctor *d, const char *dev)
{
	unsigned int nrx = 0, ntx = 0;
	long flow_cnt = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(ctl_path("/sys/class/net/%s/queues", dev));
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (!strncmp(de->d_name, "rx-", 3)) {
			nrx++;
			if (cpuset_count(&d->workers))
				check_rps(d, dev, de->d_name, &flow_cnt);
		} else if (!strncmp(de->d_name, "tx-", 3)) {
			ntx++;
		}
	}
	closedir(dir);
	check_rfs(d, dev, flow_cnt, nrx);
	check_xps(d, dev, ntx);
	if (cpuset_count(&d->workers))
		check_irqs(d, dev);
}

void doctor_nic(struct doctor *d)
{
	struct dirent **devs;
	int n, i, pid;

	if (proc_find_comm("irqbalance", &pid, 1))
		finding(d, "irqbalance", "systemctl disable --now irqbalance",
			"irqbalance (pid %d) is running: it moves NIC interrupts to CPUs that may have no worker",
			pid);
	n = scandir(ctl_path("/sys/class/net"), &devs, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (devs[i]->d_name[0] != '.')
			check_dev(d, devs[i]->d_name);
		free(devs[i]);
	}
	if (n > 0)
		free(devs);
}
