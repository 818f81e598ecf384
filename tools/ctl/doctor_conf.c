// SPDX-License-Identifier: GPL-2.0
/*
 * doctor, the servers' side: nginx (/etc/nginx/nginx.conf and what it
 * includes) and haproxy (/etc/haproxy/haproxy.cfg), when found. The
 * parsers are simple on purpose: statements and blocks for nginx, lines
 * and sections for haproxy; variables, quoting subtleties and "if" blocks
 * are not interpreted. They find the ports the servers listen on and the
 * settings that undo locality (Documentation/shim.md, "Server notes").
 */
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define NGINX_CONF	"/etc/nginx/nginx.conf"
#define HAPROXY_CONF	"/etc/haproxy/haproxy.cfg"
#define NGINX_BACKLOG	511	/* nginx's listen default on Linux */
#define MAX_TOKENS	32

struct conf {
	char workers[32];	/* worker_processes / nbthread */
	char mutex[16];		/* accept_mutex */
	char affinity[512];	/* worker_cpu_affinity, words joined */
	char multi_queue[16];	/* tune.listener.multi-queue */
	char cpu_map[512];	/* a cpu-map line giving one thread several CPUs */
	bool reuseport;
	long backlog;		/* the largest configured listen backlog */
};

struct stmt {
	int n;
	char tok[MAX_TOKENS][256];
};

/* Settings are short words: a longer one is cut, not an error. */
static void set(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The port of "80", "1.2.3.4:80", "[::]:80", "*:80"; 0 for unix sockets. */
static unsigned int addr_port(const char *a)
{
	const char *p = strrchr(a, ']'), *colon;

	if (!strncmp(a, "unix:", 5) || a[0] == '/')
		return 0;
	colon = strrchr(p ? p : a, ':');
	if (colon)
		return (unsigned int)strtoul(colon + 1, NULL, 10);
	if (strspn(a, "0123456789") == strlen(a))
		return (unsigned int)strtoul(a, NULL, 10);
	return 80;	/* nginx: a host name alone listens on 80 */
}

static void nginx_file(struct doctor *d, struct conf *c, const char *path, int depth);

static void nginx_include(struct doctor *d, struct conf *c, const char *pat, int depth)
{
	char rel[512];
	glob_t g;
	size_t i;

	if (pat[0] == '/')
		snprintf(rel, sizeof(rel), "%s", pat);
	else
		snprintf(rel, sizeof(rel), "/etc/nginx/%s", pat);
	if (glob(ctl_path("%s", rel), 0, NULL, &g))
		return;
	for (i = 0; i < g.gl_pathc; i++)
		nginx_file(d, c, g.gl_pathv[i] + strlen(ctl_root), depth + 1);
	globfree(&g);
}

static void nginx_listen(struct doctor *d, struct conf *c, const struct stmt *s)
{
	long backlog = NGINX_BACKLOG;
	unsigned int port;
	int i;

	if (s->n < 2)
		return;
	port = addr_port(s->tok[1]);
	if (port)
		doctor_add_port(d, port);
	for (i = 2; i < s->n; i++) {
		if (!strcmp(s->tok[i], "reuseport"))
			c->reuseport = true;
		else if (!strncmp(s->tok[i], "backlog=", 8))
			backlog = strtol(s->tok[i] + 8, NULL, 10);
	}
	if (port && backlog > c->backlog)
		c->backlog = backlog;
}

static void nginx_stmt(struct doctor *d, struct conf *c, const struct stmt *s, int depth)
{
	int i;

	if (!s->n)
		return;
	if (!strcmp(s->tok[0], "include") && s->n > 1 && depth < 8) {
		nginx_include(d, c, s->tok[1], depth);
	} else if (!strcmp(s->tok[0], "worker_processes") && s->n > 1) {
		set(c->workers, sizeof(c->workers), s->tok[1]);
	} else if (!strcmp(s->tok[0], "accept_mutex") && s->n > 1) {
		set(c->mutex, sizeof(c->mutex), s->tok[1]);
	} else if (!strcmp(s->tok[0], "worker_cpu_affinity")) {
		c->affinity[0] = '\0';
		for (i = 1; i < s->n; i++)
			snprintf(c->affinity + strlen(c->affinity),
				 sizeof(c->affinity) - strlen(c->affinity), "%s%s",
				 i > 1 ? " " : "", s->tok[i]);
	} else if (!strcmp(s->tok[0], "listen")) {
		nginx_listen(d, c, s);
	}
}

/* Statements end at ';', blocks open at '{' (their name is dropped). */
static void nginx_file(struct doctor *d, struct conf *c, const char *path, int depth)
{
	FILE *f = ctl_fopen(path);
	struct stmt *s = calloc(1, sizeof(*s));
	int ch, quote = 0;
	size_t len = 0;

	if (!f || !s)
		goto out;
	while ((ch = fgetc(f)) != EOF) {
		if (!quote && ch == '#') {
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			ch = ' ';
		}
		if (quote ? ch == quote : ch == '"' || ch == '\'') {
			quote = quote ? 0 : ch;
			continue;
		}
		if (!quote && (ch == ';' || ch == '{' || ch == '}' || ch == ' ' ||
			       ch == '\t' || ch == '\n' || ch == '\r')) {
			if (len && s->n < MAX_TOKENS)
				s->tok[s->n++][len] = '\0';
			len = 0;
			if (ch == ';')
				nginx_stmt(d, c, s, depth);
			if (ch == ';' || ch == '{' || ch == '}')
				s->n = 0;
			continue;
		}
		if (s->n < MAX_TOKENS && len < sizeof(s->tok[0]) - 1)
			s->tok[s->n][len++] = (char)ch;
	}
out:
	free(s);
	if (f)
		fclose(f);
}

/* Does a worker_cpu_affinity give some worker more than one CPU? */
static bool affinity_shared(const char *aff)
{
	const char *w = aff;
	size_t n;

	if (!strncmp(aff, "auto", 4))
		return false;
	while (*w) {
		n = strcspn(w, " ");
		if (memchr(w, '1', n) != memrchr(w, '1', n))
			return true;
		w += n + strspn(w + n, " ");
	}
	return false;
}

static void check_backlog(struct doctor *d, const char *server, long backlog)
{
	char fix[128];

	if (!d->somaxconn || backlog <= d->somaxconn)
		return;
	snprintf(fix, sizeof(fix), "sysctl -w net.core.somaxconn=%ld", backlog);
	finding(d, "somaxconn", fix,
		"%s asks for a listen backlog of %ld, net.core.somaxconn (%ld) cuts every local listener's queue to that",
		server, backlog, d->somaxconn);
}

static void check_count(struct doctor *d, const char *server, const char *what,
			const char *value, const char *note, const char *fix)
{
	unsigned int online = cpuset_count(&d->online);
	long n = strtol(value, NULL, 10);

	if (online && n > (long)online)
		finding(d, "workers", fix,
			"%s: %s %ld on %u online CPUs: workers share CPUs and their local listeners%s",
			server, what, n, online, note);
}

void doctor_nginx(struct doctor *d)
{
	struct conf c = { .mutex = "off" };

	if (!ctl_exists(NGINX_CONF))
		return;
	nginx_file(d, &c, NGINX_CONF, 0);
	if (!strcmp(c.mutex, "on"))
		finding(d, "nginx", "set \"accept_mutex off;\" in the events block of " NGINX_CONF,
			"accept_mutex on: only the worker holding the mutex accepts, the other CPUs' local listeners are parked meanwhile");
	if (affinity_shared(c.affinity))
		finding(d, "nginx", "set \"worker_cpu_affinity auto;\" (or one CPU per mask) in " NGINX_CONF,
			"worker_cpu_affinity \"%s\" gives a worker several CPUs: its local listener serves one of them",
			c.affinity);
	check_count(d, "nginx", "worker_processes", c.workers,
		    c.reuseport ? " (with listen ... reuseport, only one worker's socket per CPU is steered to)" : "",
		    "set \"worker_processes auto;\" in " NGINX_CONF);
	check_backlog(d, "nginx", c.backlog);
}

static void haproxy_line(struct doctor *d, struct conf *c, const struct stmt *s,
			 const char *line)
{
	struct cpuset cpus;
	int i;

	if (!strcmp(s->tok[0], "nbthread") && s->n > 1) {
		set(c->workers, sizeof(c->workers), s->tok[1]);
	} else if (!strcmp(s->tok[0], "tune.listener.multi-queue") && s->n > 1) {
		set(c->multi_queue, sizeof(c->multi_queue), s->tok[1]);
	} else if (!strcmp(s->tok[0], "cpu-map") && s->n > 2) {
		/* "cpu-map auto:..." hands out one CPU per thread itself. */
		if (strncmp(s->tok[1], "auto:", 5) &&
		    !cpuset_parse_list(&cpus, s->tok[s->n - 1]) && cpuset_count(&cpus) > 1)
			set(c->cpu_map, sizeof(c->cpu_map), line);
	} else if (!strcmp(s->tok[0], "backlog") && s->n > 1) {
		if (strtol(s->tok[1], NULL, 10) > c->backlog)
			c->backlog = strtol(s->tok[1], NULL, 10);
	} else if (!strcmp(s->tok[0], "bind") && s->n > 1) {
		if (addr_port(s->tok[1]))
			doctor_add_port(d, addr_port(s->tok[1]));
		for (i = 2; i + 1 < s->n; i++)
			if (!strcmp(s->tok[i], "backlog") &&
			    strtol(s->tok[i + 1], NULL, 10) > c->backlog)
				c->backlog = strtol(s->tok[i + 1], NULL, 10);
	}
}

void doctor_haproxy(struct doctor *d)
{
	struct conf c = { .multi_queue = "on" };
	char line[1024], copy[1024], *tok, *save;
	struct stmt *s;
	FILE *f;

	f = ctl_fopen(HAPROXY_CONF);
	if (!f)
		return;
	s = calloc(1, sizeof(*s));
	while (s && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "#\n")] = '\0';
		snprintf(copy, sizeof(copy), "%s", line + strspn(line, " \t"));
		for (s->n = 0, tok = strtok_r(line, " \t", &save); tok && s->n < MAX_TOKENS;
		     tok = strtok_r(NULL, " \t", &save))
			snprintf(s->tok[s->n++], sizeof(s->tok[0]), "%s", tok);
		if (s->n)
			haproxy_line(d, &c, s, copy);
	}
	free(s);
	fclose(f);
	if (strcmp(c.multi_queue, "off"))
		finding(d, "haproxy", "add \"tune.listener.multi-queue off\" to the global section of " HAPROXY_CONF,
			"tune.listener.multi-queue is %s: haproxy hands accepted connections to the least-loaded thread, away from the CPU that took the SYN",
			c.multi_queue);
	if (c.cpu_map[0])
		finding(d, "haproxy", "map one CPU per thread (\"cpu-map auto:1/1-N 0-(N-1)\") in " HAPROXY_CONF,
			"\"%s\" gives a thread several CPUs: its local listener serves one of them",
			c.cpu_map);
	check_count(d, "haproxy", "nbthread", c.workers, "",
		    "set \"nbthread\" to the number of online CPUs (or leave it out) in " HAPROXY_CONF);
	check_backlog(d, "haproxy", c.backlog);
}
