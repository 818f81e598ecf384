/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mode.h - the effective FASTSOCKET_MODE: the variable, else the module's
 * enable_listen_spawn, else 2; decided at the first managed bind, when
 * the module is probed.
 */
#ifndef FASTSOCKET_MODE_H
#define FASTSOCKET_MODE_H

#include <stdbool.h>

/* Probe the module and settle the mode, once. Caller holds the lock. */
void fs_mode_resolve(void);

/* The effective FASTSOCKET_MODE (0 when the config is invalid). */
int fs_mode(void);

/* The probe found a module that can SPAWN. */
bool fs_module_ok(void);

/* Forget the mode and the probe (fs_shim_reset). */
void fs_mode_reset(void);

#endif /* FASTSOCKET_MODE_H */
