// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mode.c - the effective FASTSOCKET_MODE and the module probe behind it.
 */
#include "mode.h"

#include <stdatomic.h>

#include "config.h"
#include "dev.h"
#include "log.h"
#include "rfd.h"
#include "shim.h"

static _Atomic int resolved_mode = -1;
static bool module_ok;

void fs_mode_resolve(void)
{
	struct fastsocket_info info;
	int mode;

	fs_assert_locked();
	if (atomic_load(&resolved_mode) >= 0)
		return;
	if (fs_cfg.mode == 0) {
		atomic_store(&resolved_mode, 0);
		return;
	}
	module_ok = fs_dev_probe(&info);
	if (module_ok)
		fs_rfd_adopt(&info);
	if (fs_cfg.mode != FS_MODE_UNSET)
		mode = fs_cfg.mode;
	else if (module_ok && info.enable_listen_spawn <= 2)
		mode = (int)info.enable_listen_spawn;
	else
		mode = 2;
	atomic_store(&resolved_mode, mode);
	fs_info("mode %d (%s), local listeners by %s", mode,
		fs_cfg.mode != FS_MODE_UNSET ? "FASTSOCKET_MODE" :
		module_ok ? "the module's enable_listen_spawn" : "default",
		module_ok ? "the module" : "the userspace fallback");
}

int fs_mode(void)
{
	int m;

	if (!fs_cfg.valid)
		return 0;
	m = atomic_load(&resolved_mode);
	if (m >= 0)
		return m;
	return fs_cfg.mode != FS_MODE_UNSET ? fs_cfg.mode : 2;
}

bool fs_module_ok(void)
{
	return module_ok;
}

void fs_mode_reset(void)
{
	atomic_store(&resolved_mode, -1);
	module_ok = false;
}
