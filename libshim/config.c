// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * config.c - FASTSOCKET_* parsing.
 *
 * Every variable is optional; an empty value counts as unset. Any invalid
 * value makes the whole process run unaccelerated, after exactly one line
 * on stderr that names the variable, the value and what is wrong with it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


struct fs_config fs_cfg;	/* zero: not valid, log off */

/* Quote at most max characters of s for a message, marking a cut with "...". */
static const char *clip(const char *s, size_t len, char *buf, size_t size)
{
	const size_t max = size - 4;

	if (len > max) {
		memcpy(buf, s, max - 3);
		memcpy(buf + max - 3, "...", 4);
	} else {
		memcpy(buf, s, len);
		buf[len] = '\0';
	}
	return buf;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Narrow [*a, *b) to leave out the blanks at either end. */
static void trim(const char **a, const char **b)
{
	while (*a < *b && is_blank(**a))
		(*a)++;
	while (*b > *a && is_blank((*b)[-1]))
		(*b)--;
}

/*
 * Parse a decimal number made only of digits; value capped so it cannot
 * overflow. Returns false when [s, s+len) is not such a number.
 */
static bool parse_uint(const char *s, size_t len, unsigned long *out)
{
	unsigned long v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v < 100000000UL)
			v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*out = v;
	return true;
}

struct list_kind {
	const char *var;	/* FASTSOCKET_PORTS */
	const char *noun;	/* "a port" */
	unsigned long min, max;
};

/*
 * Walk a list like "80, 443,8000-8100" and call add(lo, hi) for each item.
 * Items are separated by commas; blanks around items are ignored.
 */
static int parse_list(const char *s, const struct list_kind *k,
		      void (*add)(void *ctx, unsigned long lo, unsigned long hi),
		      void *ctx, char *err, size_t errlen)
{
	char vbuf[72], ibuf[40];
	const char *p = s;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *a = p, *b = p + len;	/* item: [a, b) */
		unsigned long lo, hi;

		trim(&a, &b);
		if (a == b) {
			snprintf(err, errlen, "%s: \"%s\": empty item", k->var,
				 clip(s, strlen(s), vbuf, sizeof(vbuf)));
			return -1;
		}
		const char *dash = memchr(a, '-', (size_t)(b - a));
		const char *e1 = dash ? dash : b;
		while (e1 > a && is_blank(e1[-1]))
			e1--;
		if (!parse_uint(a, (size_t)(e1 - a), &lo))
			goto not_a;
		hi = lo;
		if (dash) {
			const char *a2 = dash + 1;

			while (a2 < b && is_blank(*a2))
				a2++;
			if (!parse_uint(a2, (size_t)(b - a2), &hi))
				goto not_a;
		}
		if (lo < k->min || lo > k->max || hi < k->min || hi > k->max) {
			snprintf(err, errlen,
				 "%s: \"%s\": \"%s\" is out of range (%lu-%lu)",
				 k->var, clip(s, strlen(s), vbuf, sizeof(vbuf)),
				 clip(a, (size_t)(b - a), ibuf, sizeof(ibuf)),
				 k->min, k->max);
			return -1;
		}
		if (lo > hi) {
			snprintf(err, errlen,
				 "%s: \"%s\": \"%s\" is a backwards range",
				 k->var, clip(s, strlen(s), vbuf, sizeof(vbuf)),
				 clip(a, (size_t)(b - a), ibuf, sizeof(ibuf)));
			return -1;
		}
		add(ctx, lo, hi);
		if (!end)
			return 0;
		p = end + 1;
		continue;
not_a:
		snprintf(err, errlen, "%s: \"%s\": \"%s\" is not %s", k->var,
			 clip(s, strlen(s), vbuf, sizeof(vbuf)),
			 clip(a, (size_t)(b - a), ibuf, sizeof(ibuf)), k->noun);
		return -1;
	}
}

static void add_ports(void *ctx, unsigned long lo, unsigned long hi)
{
	uint64_t *bits = ctx;

	for (unsigned long p = lo; p <= hi; p++)
		bits[p / 64] |= 1ULL << (p % 64);
}

int fs_parse_ports(const char *s, uint64_t ports[65536 / 64], char *err,
		   size_t errlen)
{
	static const struct list_kind k = {
		"FASTSOCKET_PORTS", "a port", 1, 65535
	};

	memset(ports, 0, 65536 / 8);
	return parse_list(s, &k, add_ports, ports, err, errlen);
}

static void add_cpus(void *ctx, unsigned long lo, unsigned long hi)
{
	cpu_set_t *set = ctx;

	for (unsigned long c = lo; c <= hi; c++)
		CPU_SET(c, set);
}

int fs_parse_cpus(const char *s, cpu_set_t *set, char *err, size_t errlen)
{
	static const struct list_kind k = {
		"FASTSOCKET_CPUS", "a CPU number", 0, FS_MAX_CPUS - 1
	};

	CPU_ZERO(set);
	return parse_list(s, &k, add_cpus, set, err, errlen);
}

/* One line for a bad FASTSOCKET_RFD_LAYOUT: the value, then why. */
static int bad_rfd_layout(const char *s, const char *why, char *err,
			  size_t errlen)
{
	char vbuf[72];

	snprintf(err, errlen, "FASTSOCKET_RFD_LAYOUT: \"%s\": %s",
		 clip(s, strlen(s), vbuf, sizeof(vbuf)), why);
	return -1;
}

/*
 * "LO-HI/N", blanks allowed around each number. Each block must hold at
 * least one port; the ports past the last whole block belong to no CPU.
 * Not checked here: that LO..HI lies inside net.ipv4.ip_local_port_range
 * (the kernel ignores a per-socket range outside it; init.c says so).
 */
int fs_parse_rfd_layout(const char *s, struct fs_rfd_layout *layout, char *err,
			size_t errlen)
{
	const char *a = s, *b = s + strlen(s), *dash, *slash;
	const char *p1, *e1, *p2, *e2, *p3, *e3;
	unsigned long lo, hi, n;
	char why[64];

	trim(&a, &b);
	dash = memchr(a, '-', (size_t)(b - a));
	slash = memchr(a, '/', (size_t)(b - a));
	if (!dash || !slash || slash < dash)
		return bad_rfd_layout(s, "not LO-HI/N (e.g. 32768-60999/4)",
				      err, errlen);
	p1 = a, e1 = dash, p2 = dash + 1, e2 = slash, p3 = slash + 1, e3 = b;
	trim(&p1, &e1);
	trim(&p2, &e2);
	trim(&p3, &e3);
	if (!parse_uint(p1, (size_t)(e1 - p1), &lo) ||
	    !parse_uint(p2, (size_t)(e2 - p2), &hi) ||
	    !parse_uint(p3, (size_t)(e3 - p3), &n))
		return bad_rfd_layout(s, "not LO-HI/N (e.g. 32768-60999/4)",
				      err, errlen);
	if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535)
		return bad_rfd_layout(s, "a port is out of range (1-65535)",
				      err, errlen);
	if (lo > hi)
		return bad_rfd_layout(s, "a backwards range", err, errlen);
	if (n < 1 || n > FS_MAX_CPUS) {
		snprintf(why, sizeof(why),
			 "the number of CPUs is out of range (1-%d)", FS_MAX_CPUS);
		return bad_rfd_layout(s, why, err, errlen);
	}
	if (hi - lo + 1 < n) {
		snprintf(why, sizeof(why), "fewer ports (%lu) than CPUs",
			 hi - lo + 1);
		return bad_rfd_layout(s, why, err, errlen);
	}
	layout->lo = (uint16_t)lo;
	layout->hi = (uint16_t)hi;
	layout->ncpus = (uint32_t)n;
	layout->block = (uint32_t)((hi - lo + 1) / n);
	return 0;
}

int fs_parse_mode(const char *s, int *mode, char *err, size_t errlen)
{
	char vbuf[72];
	const char *a = s, *b = s + strlen(s);

	trim(&a, &b);
	if (b - a == 1 && *a >= '0' && *a <= '2') {
		*mode = *a - '0';
		return 0;
	}
	snprintf(err, errlen, "FASTSOCKET_MODE: \"%s\": not 0, 1 or 2",
		 clip(s, strlen(s), vbuf, sizeof(vbuf)));
	return -1;
}

int fs_parse_log(const char *s, int *level, char *err, size_t errlen)
{
	static const char *const names[] = { "off", "info", "debug" };
	char vbuf[72];
	const char *a = s, *b = s + strlen(s);

	trim(&a, &b);
	for (int i = 0; i < 3; i++) {
		if ((size_t)(b - a) == strlen(names[i]) &&
		    strncasecmp(a, names[i], (size_t)(b - a)) == 0) {
			*level = i;
			return 0;
		}
	}
	snprintf(err, errlen, "FASTSOCKET_LOG: \"%s\": not off, info or debug",
		 clip(s, strlen(s), vbuf, sizeof(vbuf)));
	return -1;
}

void fs_cpuset_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (int c = 0; c < FS_MAX_CPUS; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		int e = c;

		while (e + 1 < FS_MAX_CPUS && CPU_ISSET(e + 1, set))
			e++;
		int n = e == c ? snprintf(buf + off, len - off, "%s%d",
					  off ? "," : "", c)
			       : snprintf(buf + off, len - off, "%s%d-%d",
					  off ? "," : "", c, e);
		if (n < 0 || (size_t)n >= len - off) {
			buf[len - 1] = '\0';
			return;
		}
		off += (size_t)n;
		c = e;
	}
}

static bool given(const char *s)
{
	return s && *s;
}

int fs_config_parse(struct fs_config *cfg, const char *mode, const char *ports,
		    const char *cpus, const char *log, const cpu_set_t *affinity,
		    char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = FS_MODE_UNSET;
	cfg->log = FS_LOG_OFF;
	cfg->ports_all = true;
	cfg->cpus = *affinity;
	err[0] = '\0';

	if (given(log) && fs_parse_log(log, &cfg->log, err, errlen) < 0)
		return -1;
	if (given(mode) && fs_parse_mode(mode, &cfg->mode, err, errlen) < 0)
		return -1;
	if (given(ports)) {
		if (fs_parse_ports(ports, cfg->ports, err, errlen) < 0)
			return -1;
		cfg->ports_all = false;
	}
	if (given(cpus)) {
		cpu_set_t set, both;
		char vbuf[72], abuf[64];

		if (fs_parse_cpus(cpus, &set, err, errlen) < 0)
			return -1;
		CPU_AND(&both, &set, affinity);
		if (CPU_COUNT(&both) == 0) {
			fs_cpuset_format(affinity, abuf, sizeof(abuf));
			snprintf(err, errlen,
				 "FASTSOCKET_CPUS: \"%s\": none of these CPUs is in the process's affinity (%s)",
				 clip(cpus, strlen(cpus), vbuf, sizeof(vbuf)),
				 abuf);
			return -1;
		}
		cfg->cpus_set = true;
		cfg->cpus = both;
	}
	cfg->valid = true;
	return 0;
}
