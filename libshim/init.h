/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * init.h - the shim's process lifecycle: setup from the constructor,
 * fork, thread exit.
 */
#ifndef FASTSOCKET_INIT_H
#define FASTSOCKET_INIT_H

/* Library setup, from the constructor (after fs_real is filled). */
void fs_shim_init(void);

/* Read FASTSOCKET_* from the environment into fs_cfg; print the one line
 * on an invalid value. */
void fs_config_init(void);

/* Fork handlers (registered with pthread_atfork by fs_shim_init). */
void fs_atfork_prepare(void);
void fs_atfork_parent(void);
void fs_atfork_child(void);

#endif /* FASTSOCKET_INIT_H */
