/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.h - the shim's messages. The level is FASTSOCKET_LOG, as parsed
 * into fs_cfg.log.
 */
#ifndef FASTSOCKET_LOG_H
#define FASTSOCKET_LOG_H

#include "config.h"

/*
 * Messages: one line on stderr, "fastsocket: " + text, written with a
 * single write(2). fs_log() writes when level <= fs_cfg.log; fs_say()
 * always. Both keep errno.
 */
void fs_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fs_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define fs_info(...)	do { if (fs_cfg.log >= FS_LOG_INFO) fs_log(FS_LOG_INFO, __VA_ARGS__); } while (0)
#define fs_debug(...)	do { if (fs_cfg.log >= FS_LOG_DEBUG) fs_log(FS_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif /* FASTSOCKET_LOG_H */
