// SPDX-License-Identifier: GPL-2.0
/* CPU sets: the kernel's list format ("0-3,8") and hex masks ("ff,00000001"). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

void cpuset_add(struct cpuset *s, unsigned int cpu)
{
	if (cpu < CTL_MAX_CPUS)
		s->bits[cpu / 64] |= 1ULL << (cpu % 64);
}

bool cpuset_has(const struct cpuset *s, unsigned int cpu)
{
	return cpu < CTL_MAX_CPUS && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

unsigned int cpuset_count(const struct cpuset *s)
{
	unsigned int i, n = 0;

	for (i = 0; i < CTL_MAX_CPUS / 64; i++)
		n += (unsigned int)__builtin_popcountll(s->bits[i]);
	return n;
}

bool cpuset_subset(const struct cpuset *a, const struct cpuset *b)
{
	unsigned int i;

	for (i = 0; i < CTL_MAX_CPUS / 64; i++)
		if (a->bits[i] & ~b->bits[i])
			return false;
	return true;
}

int cpuset_parse_list(struct cpuset *s, const char *list)
{
	const char *p = list;
	unsigned long a, b;
	char *end;

	memset(s, 0, sizeof(*s));
	while (*p && *p != '\n') {
		a = strtoul(p, &end, 10);
		if (end == p)
			return -1;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p || b < a)
				return -1;
		}
		for (; a <= b && a < CTL_MAX_CPUS; a++)
			cpuset_add(s, (unsigned int)a);
		p = end;
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return -1;
	}
	return 0;
}

/* Hex digits from the right, commas between 32-bit words ignored. */
int cpuset_parse_mask(struct cpuset *s, const char *mask)
{
	size_t len = strcspn(mask, "\n");
	unsigned int bit = 0;
	int v;

	memset(s, 0, sizeof(*s));
	while (len--) {
		if (mask[len] == ',')
			continue;
		if (!isxdigit((unsigned char)mask[len]))
			return -1;
		v = isdigit((unsigned char)mask[len]) ? mask[len] - '0' :
			tolower((unsigned char)mask[len]) - 'a' + 10;
		for (int i = 0; i < 4; i++, bit++)
			if (v >> i & 1)
				cpuset_add(s, bit);
	}
	return 0;
}

void cpuset_list(const struct cpuset *s, char *buf, size_t size)
{
	unsigned int a, b;
	size_t n = 0;

	buf[0] = '\0';
	for (a = 0; a < CTL_MAX_CPUS; a++) {
		if (!cpuset_has(s, a))
			continue;
		for (b = a; b + 1 < CTL_MAX_CPUS && cpuset_has(s, b + 1); b++)
			;
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, a == b ? "%s%u" : "%s%u-%u",
					      n ? "," : "", a, b);
		a = b;
	}
}

/* The form rps_cpus and xps_cpus take: hex, no commas needed. */
void cpuset_mask(const struct cpuset *s, char *buf, size_t size)
{
	int top = CTL_MAX_CPUS / 4 - 1, i;
	size_t n = 0;

	while (top > 0 && !((s->bits[top / 16] >> (top % 16 * 4)) & 0xf))
		top--;
	for (i = top; i >= 0 && n + 1 < size; i--)
		buf[n++] = "0123456789abcdef"[(s->bits[i / 16] >> (i % 16 * 4)) & 0xf];
	buf[n] = '\0';
}

int ctl_online_cpus(struct cpuset *s)
{
	char buf[4096];

	if (ctl_read_line("/sys/devices/system/cpu/online", buf, sizeof(buf)))
		return -1;
	return cpuset_parse_list(s, buf);
}
