/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.h - FASTSOCKET_* environment variables.
 *
 * The parsers are pure: they take strings and fill structs, so the unit
 * tests call them without LD_PRELOAD. fs_config_load() reads the
 * environment once, from the library constructor.
 */
#ifndef FASTSOCKET_CONFIG_H
#define FASTSOCKET_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_MAX_CPUS	CPU_SETSIZE	/* CPUs the shim can name: 0..1023 */
#define FS_ERR_MAX	256		/* room for one message line */

enum fs_log_level {
	FS_LOG_OFF = 0,
	FS_LOG_INFO = 1,
	FS_LOG_DEBUG = 2,
};

#define FS_MODE_UNSET	(-1)	/* FASTSOCKET_MODE not given */

/*
 * FASTSOCKET_RFD_LAYOUT "LO-HI/N": the ports LO..HI cut into N blocks of
 * (HI-LO+1)/N ports, CPU c's the c-th (fastsocket_rfd_owner()).
 */
struct fs_rfd_layout {
	uint16_t lo;		/* first port of CPU 0's block */
	uint16_t hi;		/* as given (the remainder past the blocks is nobody's) */
	uint32_t block;		/* ports per block, >= 1 */
	uint32_t ncpus;		/* blocks, 1..FS_MAX_CPUS */
};

struct fs_config {
	bool valid;		/* false: pure pass-through */
	int mode;		/* 0, 1, 2 or FS_MODE_UNSET */
	int log;		/* enum fs_log_level */
	bool ports_all;		/* FASTSOCKET_PORTS unset: every port */
	uint64_t ports[65536 / 64];	/* bitmap, valid when !ports_all */
	bool cpus_set;		/* FASTSOCKET_CPUS given */
	cpu_set_t cpus;		/* allowed CPUs (FASTSOCKET_CPUS or affinity) */
	bool rfd;		/* FASTSOCKET_RFD_LAYOUT given (and valid) */
	struct fs_rfd_layout rfd_layout;
};

/* The process-wide configuration, filled by fs_config_init(). */
extern struct fs_config fs_cfg;

/*
 * Parsers. Each returns 0 on success, or -1 with a message (without the
 * "fastsocket: " prefix and without a newline) in err[errlen], e.g.
 *	FASTSOCKET_PORTS: "80,abc": "abc" is not a port
 */
int fs_parse_mode(const char *s, int *mode, char *err, size_t errlen);
int fs_parse_log(const char *s, int *level, char *err, size_t errlen);
int fs_parse_ports(const char *s, uint64_t ports[65536 / 64], char *err,
		   size_t errlen);
int fs_parse_cpus(const char *s, cpu_set_t *set, char *err, size_t errlen);
int fs_parse_rfd_layout(const char *s, struct fs_rfd_layout *layout, char *err,
			size_t errlen);

/*
 * Fill cfg from the four values (NULL or "" means unset); affinity is the
 * process's CPU affinity, the default for FASTSOCKET_CPUS and the set the
 * CPUs given must meet. On an invalid value cfg->valid is false, err holds
 * the one message, and -1 is returned. FASTSOCKET_LOG is parsed first so
 * that the level is known even when another value is wrong.
 */
int fs_config_parse(struct fs_config *cfg, const char *mode, const char *ports,
		    const char *cpus, const char *log, const cpu_set_t *affinity,
		    char *err, size_t errlen);


static inline bool fs_port_configured(const struct fs_config *cfg,
				      unsigned int port)
{
	if (port == 0 || port > 65535)
		return false;
	if (cfg->ports_all)
		return true;
	return (cfg->ports[port / 64] >> (port % 64)) & 1;
}

/* "0-3,6": a CPU set in list form, as FASTSOCKET_CPUS takes it. */
void fs_cpuset_format(const cpu_set_t *set, char *buf, size_t len);

#endif /* FASTSOCKET_CONFIG_H */
