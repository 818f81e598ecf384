// SPDX-License-Identifier: GPL-2.0
/*
 * fastsocketctl stats: the per-CPU counters of /proc/net/fastsocket, once,
 * or with -i as per-second rates per CPU every interval: redrawn in place
 * on a terminal, one block of plain lines per interval otherwise (as
 * vmstat does). Columns are the file's own, by name.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

static const char stats_usage[] =
	"Usage: fastsocketctl [--root DIR] stats [--json] [-i SECS [-c COUNT]]\n"
	"Per-CPU counters of /proc/net/fastsocket (this network namespace) and\n"
	"their sum (\"all\"). With -i SECS: per-second rates over each SECS-second\n"
	"interval, COUNT times (default: until interrupted); redrawn in place on a\n"
	"terminal, else one block of lines per interval. local_listeners is a count,\n"
	"shown as it is. --json: one JSON document, or one per line per interval.\n";

/* Columns that are not counters: shown as they are, never as a rate. */
static bool is_gauge(const char *col)
{
	return !strcmp(col, "cpu") || !strcmp(col, "local_listeners");
}

/* Right-aligned columns, as wide as their names, at least 8. */
static int width(const char *col)
{
	int n = (int)strlen(col);

	return n < 8 ? 8 : n;
}

static void print_header(const struct table *t)
{
	printf("%-4s", t->cols[0]);
	for (int c = 1; c < t->ncols; c++)
		printf(" %*s", width(t->cols[c]), t->cols[c]);
	putchar('\n');
}

/* A row's value: the counter itself, or its rate against @prev. */
static long long value(const struct table *t, const struct table *prev,
		       int r, int c, unsigned int secs)
{
	unsigned long long now = t->rows[r][c], then;

	if (!prev || is_gauge(t->cols[c]) || r >= prev->nrows)
		return (long long)now;
	then = prev->rows[r][c];
	/* A reset (echo 0 > /proc/net/fastsocket) restarts from zero. */
	if (now < then)
		then = 0;
	return (long long)((now - then + secs / 2) / secs);
}

static void print_rows(const struct table *t, const struct table *prev,
		       unsigned int secs)
{
	long long v, sum[TABLE_MAX_COLS] = { 0 };
	int r, c;

	for (r = 0; r < t->nrows; r++) {
		printf("%-4llu", t->rows[r][0]);
		for (c = 1; c < t->ncols; c++) {
			v = value(t, prev, r, c, secs);
			sum[c] += v;
			printf(" %*lld", width(t->cols[c]), v);
		}
		putchar('\n');
	}
	printf("%-4s", "all");
	for (c = 1; c < t->ncols; c++)
		printf(" %*lld", width(t->cols[c]), sum[c]);
	putchar('\n');
}

static void json_rows(const struct table *t, const struct table *prev,
		      unsigned int secs)
{
	struct json j = { .f = stdout };
	int r, c;

	json_open(&j, NULL, '{');
	if (prev)
		json_num(&j, "interval", secs);
	json_open(&j, prev ? "rates" : "cpus", '[');
	for (r = 0; r < t->nrows; r++) {
		json_open(&j, NULL, '{');
		for (c = 0; c < t->ncols; c++)
			json_num(&j, t->cols[c], value(t, prev, r, c, secs));
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
	json_end(&j);
}

static int read_or_say(struct table *t)
{
	int ret = table_read(t);

	if (ret > 0)
		ctl_err("stats: no %s: the module is not loaded (or not in this network namespace)",
			ctl_path("/proc/net/fastsocket"));
	return ret ? EXIT_USAGE : 0;
}

static int stats_loop(unsigned int secs, unsigned long count)
{
	bool tty = !ctl_json && isatty(STDOUT_FILENO);
	struct table prev, cur;
	unsigned long n;

	if (read_or_say(&prev))
		return EXIT_USAGE;
	if (!ctl_json && !tty)
		print_header(&prev);
	for (n = 0; !count || n < count; n++) {
		sleep(secs);
		if (read_or_say(&cur)) {
			table_free(&prev);
			return EXIT_USAGE;
		}
		if (ctl_json) {
			json_rows(&cur, &prev, secs);
		} else {
			if (tty) {
				printf("\033[H\033[2Jper second over %u s (Ctrl-C stops)\n", secs);
				print_header(&cur);
			}
			print_rows(&cur, &prev, secs);
		}
		fflush(stdout);
		table_free(&prev);
		prev = cur;
	}
	table_free(&prev);
	return 0;
}

static int parse_count(const char *arg, unsigned long *v, const char *what)
{
	char *end;

	*v = strtoul(arg, &end, 10);
	if (*arg == '-' || end == arg || *end || !*v || *v > 86400 * 365UL) {
		ctl_err("stats: %s must be a positive whole number, not '%s'", what, arg);
		return -1;
	}
	return 0;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long secs = 0, count = 0;
	struct table t;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+:hi:c:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctl_json = true;
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return 0;
		case 'i':
			if (parse_count(optarg, &secs, "-i SECS"))
				return EXIT_USAGE;
			break;
		case 'c':
			if (parse_count(optarg, &count, "-c COUNT"))
				return EXIT_USAGE;
			break;
		case ':':
			ctl_err("stats: option %s needs an argument", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			ctl_err("stats: unknown option %s (see stats --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		ctl_err("stats: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (count && !secs) {
		ctl_err("stats: -c COUNT needs -i SECS");
		return EXIT_USAGE;
	}
	if (secs)
		return stats_loop((unsigned int)secs, count);
	if (read_or_say(&t))
		return EXIT_USAGE;
	if (ctl_json) {
		json_rows(&t, NULL, 1);
	} else {
		print_header(&t);
		print_rows(&t, NULL, 1);
	}
	table_free(&t);
	return 0;
}
