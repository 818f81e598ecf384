// SPDX-License-Identifier: GPL-2.0
/*
 * A streaming JSON writer: the caller opens and closes objects and arrays
 * in order; the writer puts the commas and escapes the strings.
 */
#include "ctl.h"

static void json_put(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Inside an object or array: the comma before all but the first member. */
static void json_sep(struct json *j, const char *key)
{
	if (!j->depth)
		return;
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (key) {
		json_put(j->f, key);
		fputc(':', j->f);
	}
}

void json_open(struct json *j, const char *key, char bracket)
{
	json_sep(j, key);
	fputc(bracket, j->f);
	j->first[++j->depth] = true;
}

void json_close(struct json *j, char bracket)
{
	fputc(bracket, j->f);
	j->depth--;
}

void json_str(struct json *j, const char *key, const char *val)
{
	json_sep(j, key);
	if (val)
		json_put(j->f, val);
	else
		fputs("null", j->f);
}

void json_num(struct json *j, const char *key, long long val)
{
	json_sep(j, key);
	fprintf(j->f, "%lld", val);
}

void json_bool(struct json *j, const char *key, bool val)
{
	json_sep(j, key);
	fputs(val ? "true" : "false", j->f);
}

/* After the outermost close: one document, one line. */
void json_end(struct json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
