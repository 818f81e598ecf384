/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fastsocketctl: what the commands share. Every file is read through
 * ctl_path(), which puts the --root directory in front, so the tests can
 * run every command against a crafted /proc, /sys, /etc and /dev.
 */
#ifndef FASTSOCKETCTL_H
#define FASTSOCKETCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_VERSION	"0.1"
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Exit codes, as --help and fastsocketctl(8) document them. */
#define EXIT_FINDINGS	1
#define EXIT_USAGE	2

/* sys.c: files under the root directory */
extern const char *ctl_root;
const char *ctl_path(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
FILE *ctl_fopen(const char *path);
int ctl_read_line(const char *path, char *buf, size_t size);
int ctl_read_long(const char *path, long *val);
bool ctl_exists(const char *path);
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cpuset.c: CPU sets in the kernel's list ("0-3,8") and mask formats */
#define CTL_MAX_CPUS	1024
struct cpuset {
	uint64_t bits[CTL_MAX_CPUS / 64];
};
void cpuset_add(struct cpuset *s, unsigned int cpu);
bool cpuset_has(const struct cpuset *s, unsigned int cpu);
unsigned int cpuset_count(const struct cpuset *s);
bool cpuset_subset(const struct cpuset *a, const struct cpuset *b);
int cpuset_parse_list(struct cpuset *s, const char *list);
int cpuset_parse_mask(struct cpuset *s, const char *mask);
void cpuset_list(const struct cpuset *s, char *buf, size_t size);
void cpuset_mask(const struct cpuset *s, char *buf, size_t size);
int ctl_online_cpus(struct cpuset *s);

/* json.c: a streaming writer, enough for our nested objects and arrays */
struct json {
	FILE *f;
	int depth;
	bool first[16];
};
void json_open(struct json *j, const char *key, char bracket);
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *val);
void json_num(struct json *j, const char *key, long long val);
void json_bool(struct json *j, const char *key, bool val);
void json_end(struct json *j);

/* table.c: /proc/net/fastsocket, both tables, columns found by name */
#define TABLE_MAX_COLS	32
#define TABLE_MAX_CPUS	CTL_MAX_CPUS
struct listener {
	char addr[64];		/* "0.0.0.0:80" or "[::]:80" */
	unsigned int port;
	unsigned int dev;
	unsigned int cpu;
	int pid;
	unsigned int spawns;
	char kind[16];
};
struct table {
	int ncols;
	char cols[TABLE_MAX_COLS][32];
	int nrows;
	unsigned long long (*rows)[TABLE_MAX_COLS];	/* rows[i][0]: cpu */
	int nlisteners;
	struct listener *listeners;
	bool rfd;		/* an "rfd" part: port blocks on */
	unsigned int rfd_mode, rfd_lo, rfd_block, rfd_cpus;
	bool quota;		/* a "quota" part (a module that has one) */
	unsigned int quota_count, quota_max, quota_max_per_user;
};
int table_read(struct table *t);
void table_free(struct table *t);
int table_col(const struct table *t, const char *name);

/* proc.c: processes */
int proc_comm(int pid, char *buf, size_t size);
int proc_cpus_allowed(int pid, struct cpuset *s, char *list, size_t size);
int proc_find_comm(const char *comm, int *pids, int max);

/* module.c: is the module there, and what does it say about itself */
struct modinfo {
	bool loaded;		/* /sys/module/fastsocket */
	bool device;		/* /dev/fastsocket answered FASTSOCKET_IOC_INFO */
	char device_error[128];
	unsigned int abi_version;
	unsigned int features;
};
void module_probe(struct modinfo *m);
const char *module_feature_name(unsigned int bit);
extern const char ctl_fallback_text[];

/* the commands; argv[0] is the command's name */
extern bool ctl_json;
int cmd_status(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

/* doctor: checks append findings through finding() */
struct doctor {
	struct json *j;
	int nfindings;
	int port;		/* --port, 0: every served port */
	struct modinfo mod;
	struct table table;
	bool have_table;
	struct cpuset online;
	struct cpuset workers;	/* CPUs with a local listener of a served port */
	unsigned int ports[64];	/* served ports */
	int nports;
	long somaxconn;
};
void finding(struct doctor *d, const char *check, const char *fix,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void doctor_nic(struct doctor *d);
void doctor_nginx(struct doctor *d);
void doctor_haproxy(struct doctor *d);
void doctor_add_port(struct doctor *d, unsigned int port);

#endif
