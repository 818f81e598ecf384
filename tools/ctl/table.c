// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/net/fastsocket of the caller's network namespace: the per-CPU
 * counters, the table of local listeners, while receive flow deliver
 * has port blocks their layout, then the quota of local listeners and
 * its owners, each after its header line
 * (Documentation/admin-guide.md). Columns are found by their header
 * names, so columns a newer module adds at the end are carried along, and
 * a part it adds (a header line starts with a letter, a row with a digit
 * or '[') is skipped.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define TABLE_PATH "/proc/net/fastsocket"

int table_col(const struct table *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i], name))
			return i;
	return -1;
}

static int table_header(struct table *t, char *line)
{
	char *tok, *save;

	t->ncols = 0;
	for (tok = strtok_r(line, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (t->ncols == TABLE_MAX_COLS)
			return -1;
		snprintf(t->cols[t->ncols++], sizeof(t->cols[0]), "%s", tok);
	}
	return t->ncols && !strcmp(t->cols[0], "cpu") ? 0 : -1;
}

static int table_cpu_row(struct table *t, char *line)
{
	unsigned long long *row;
	char *p = line, *end;
	void *grown;
	int i;

	grown = realloc(t->rows, (size_t)(t->nrows + 1) * sizeof(*t->rows));
	if (!grown)
		return -1;
	t->rows = grown;
	row = t->rows[t->nrows];
	for (i = 0; i < t->ncols; i++) {
		row[i] = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	t->nrows++;
	return 0;
}

/* "listener dev cpu pid spawns kind": the first five are fixed by the ABI. */
static int table_listener_row(struct table *t, const char *line)
{
	struct listener *l;
	const char *colon;
	void *grown;

	grown = realloc(t->listeners, (size_t)(t->nlisteners + 1) * sizeof(*l));
	if (!grown)
		return -1;
	t->listeners = grown;
	l = &t->listeners[t->nlisteners];
	memset(l, 0, sizeof(*l));
	if (sscanf(line, "%63s %u %u %d %u %15s", l->addr, &l->dev, &l->cpu,
		   &l->pid, &l->spawns, l->kind) != 6)
		return -1;
	colon = strrchr(l->addr, ':');
	if (!colon || sscanf(colon + 1, "%u", &l->port) != 1)
		return -1;
	t->nlisteners++;
	return 0;
}

static int table_parse(struct table *t, FILE *f)
{
	enum { NONE, CPUS, LISTENERS, RFD, QUOTA, OTHER } part = NONE;
	char line[512];
	int lineno = 0;

	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strncmp(line, "cpu ", 4)) {
			if (table_header(t, line))
				goto bad;
			part = CPUS;
		} else if (!strncmp(line, "listener ", 9)) {
			part = LISTENERS;
		} else if (!strncmp(line, "rfd ", 4)) {
			part = RFD;
		} else if (!strncmp(line, "quota ", 6)) {
			part = QUOTA;
		} else if (isalpha((unsigned char)line[0])) {
			/* A part this tool does not show ("user"), or a newer one. */
			part = OTHER;
		} else if (line[0] == '\n') {
			continue;
		} else if (part == CPUS) {
			if (table_cpu_row(t, line))
				goto bad;
		} else if (part == LISTENERS) {
			if (table_listener_row(t, line))
				goto bad;
		} else if (part == RFD) {
			/* "rfd port_lo block cpus": mode, then the layout */
			if (sscanf(line, "%u %u %u %u", &t->rfd_mode, &t->rfd_lo,
				   &t->rfd_block, &t->rfd_cpus) != 4)
				goto bad;
			t->rfd = true;
		} else if (part == QUOTA) {
			/* "quota local_listeners max max_per_user" */
			if (sscanf(line, "%u %u %u", &t->quota_count,
				   &t->quota_max, &t->quota_max_per_user) != 3)
				goto bad;
			t->quota = true;
		} else if (part == OTHER) {
			continue;
		} else {
			goto bad;
		}
	}
	if (part != NONE)
		return 0;
bad:
	ctl_err("%s: cannot parse line %d", ctl_path(TABLE_PATH), lineno);
	return -1;
}

/* 1 when there is no such file (no module, or not in this netns). */
int table_read(struct table *t)
{
	FILE *f = ctl_fopen(TABLE_PATH);
	int ret;

	memset(t, 0, sizeof(*t));
	if (!f)
		return 1;
	ret = table_parse(t, f);
	fclose(f);
	if (ret)
		table_free(t);
	return ret;
}

void table_free(struct table *t)
{
	free(t->rows);
	free(t->listeners);
	memset(t, 0, sizeof(*t));
}
