// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/net/fastsocket, one per netns: per-CPU counters and the table of
 * local listeners. Writing "0" resets the counters (not atomically with
 * respect to SYNs counted meanwhile).
 *
 * Format (documented in Documentation/admin-guide.md):
 *   cpu steered no_local existing local_listeners parked skipped
 *       unwatched rfd_owner rfd_foreign rfd_steered rfd_offline
 *       rfd_overflow rfd_delivered rfd_dropped       a row per CPU
 *   listener dev cpu pid spawns kind                 a row per local listener
 *   rfd port_lo block cpus                           one row, while RFD
 *                                                    port blocks are on
 *   quota local_listeners max max_per_user           one row: the netns's
 *                                                    count and limits
 *   user uid local_listeners                         a row per owner with
 *                                                    local listeners
 * New columns are only ever added at the end of a row.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/net_namespace.h>

#include "fsk.h"

static int fsk_proc_show(struct seq_file *seq, void *v)
{
	struct fsk_net *fn = fsk_net(seq_file_single_net(seq));
	const struct fsk_stats *st;
	unsigned int *count, cpu;

	count = kcalloc(nr_cpu_ids, sizeof(*count), GFP_KERNEL);
	if (!count)
		return -ENOMEM;
	fsk_table_count_per_cpu(fn, count);
	seq_puts(seq, "cpu steered no_local existing local_listeners parked skipped unwatched rfd_owner rfd_foreign rfd_steered rfd_offline rfd_overflow rfd_delivered rfd_dropped\n");
	for_each_possible_cpu(cpu) {
		st = per_cpu_ptr(fn->stats, cpu);
		seq_printf(seq, "%u %llu %llu %llu %u %llu %llu %llu", cpu,
			   READ_ONCE(st->steered), READ_ONCE(st->no_local),
			   READ_ONCE(st->existing), count[cpu],
			   READ_ONCE(st->parked), READ_ONCE(st->skipped),
			   READ_ONCE(st->unwatched));
		seq_printf(seq, " %llu %llu %llu %llu %llu %llu %llu\n",
			   READ_ONCE(st->rfd_owner), READ_ONCE(st->rfd_foreign),
			   READ_ONCE(st->rfd_steered), READ_ONCE(st->rfd_offline),
			   READ_ONCE(st->rfd_overflow),
			   READ_ONCE(st->rfd_delivered),
			   READ_ONCE(st->rfd_dropped));
	}
	kfree(count);
	seq_puts(seq, "listener dev cpu pid spawns kind\n");
	fsk_table_show(seq, fn);
	fsk_rfd_show(seq, seq_file_single_net(seq));
	fsk_table_show_quota(seq, fn);
	return 0;
}

/* @buf is a NUL-terminated kernel copy (proc_simple_write()). */
static int fsk_proc_write(struct file *file, char *buf, size_t size)
{
	struct fsk_net *fn = fsk_net(seq_file_single_net(file->private_data));
	struct fsk_stats *st;
	unsigned int cpu;
	size_t i;

	if (strcmp(strim(buf), "0"))
		return -EINVAL;
	/* Every member is a u64 counter: zero them whole, one by one. */
	BUILD_BUG_ON(sizeof(*st) % sizeof(u64));
	for_each_possible_cpu(cpu) {
		st = per_cpu_ptr(fn->stats, cpu);
		for (i = 0; i < sizeof(*st) / sizeof(u64); i++)
			WRITE_ONCE(((u64 *)st)[i], 0);
	}
	return 0;
}

int fsk_proc_net_init(struct net *net)
{
	if (!proc_create_net_single_write("fastsocket", 0644, net->proc_net,
					  fsk_proc_show, fsk_proc_write, NULL))
		return -ENOMEM;
	return 0;
}

void fsk_proc_net_exit(struct net *net)
{
	remove_proc_entry("fastsocket", net->proc_net);
}
