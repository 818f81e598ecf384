// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * init.c - the shim's process lifecycle: the constructor's setup
 * (FASTSOCKET_*, fork handlers, inherited sockets), fork, thread exit,
 * and the unit tests' reset.
 */
#include "init.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bind.h"
#include "config.h"
#include "epoll.h"
#include "fdmap.h"
#include "listener.h"
#include "local.h"
#include "orphan.h"
#include "log.h"
#include "mirror.h"
#include "mode.h"
#include "park.h"
#include "place.h"
#include "rfd.h"
#include "shim.h"
#include "testing.h"

void fs_config_init(void)
{
	char err[FS_ERR_MAX];
	cpu_set_t aff;
	struct fs_config *cfg = &fs_cfg;
	const char *rfd;

	CPU_ZERO(&aff);
	if (sched_getaffinity(0, sizeof(aff), &aff) < 0 || CPU_COUNT(&aff) == 0)
		CPU_SET(0, &aff);
	if (fs_config_parse(cfg, getenv("FASTSOCKET_MODE"),
			    getenv("FASTSOCKET_PORTS"), getenv("FASTSOCKET_CPUS"),
			    getenv("FASTSOCKET_LOG"), &aff, err, sizeof(err)) < 0) {
		fs_say("%s; running unaccelerated", err);
		return;
	}
	rfd = getenv("FASTSOCKET_RFD_LAYOUT");
	if (rfd && *rfd) {
		if (fs_parse_rfd_layout(rfd, &cfg->rfd_layout, err,
					sizeof(err)) < 0) {
			cfg->valid = false;
			fs_say("%s; running unaccelerated", err);
			return;
		}
		cfg->rfd = true;
	}
	if (cfg->cpus_set && cfg->log >= FS_LOG_INFO) {
		cpu_set_t given_set;
		char ebuf[FS_ERR_MAX], used[128];

		if (fs_parse_cpus(getenv("FASTSOCKET_CPUS"), &given_set, ebuf,
				  sizeof(ebuf)) == 0 &&
		    !CPU_EQUAL(&given_set, &cfg->cpus)) {
			fs_cpuset_format(&cfg->cpus, used, sizeof(used));
			fs_log(FS_LOG_INFO,
			       "FASTSOCKET_CPUS: some CPUs are not in the process's affinity; using %s",
			       used);
		}
	}
}

static __thread bool fork_locked __attribute__((tls_model(FS_TLS_MODEL)));

void fs_atfork_prepare(void)
{
	fork_locked = fs_lock_and_reap();
	if (fork_locked)
		fs_epoll_fork_prepare();
}

void fs_atfork_parent(void)
{
	if (fork_locked)
		fs_unlock();
	fork_locked = false;
}

/*
 * In the child: the bookkeeping of fds stays (the child has the same
 * fds), but local listeners belong to the thread that made them, in the
 * parent: close the child's copies, except those mirrored into epoll sets
 * the child now shares (kept as orphans, see fs_locals_fork_child). The forking thread's epoll records
 * become the child's, pending, so the child's first wait mirrors its own
 * local listener into them. The child is placed anew (CPU counts are the
 * parent's).
 */
void fs_atfork_child(void)
{
	pid_t old = fs_self.tid;

	fs_lock_fork_child();
	fork_locked = false;
	fs_own_process();
	fs_locals_fork_child(old);
	fs_park_forget_all();
	fs_mirror_fork_child(old, fs_self.tid);
	fs_self.ncache = 0;
	fs_self.cpu = -1;
	fs_self.load_slot = -1;
}

static void thread_exit(void *arg)
{
	pid_t me;

	(void)arg;
	if (!fs_same_process() || !fs_lock_and_reap())
		return;
	me = fs_self.tid;
	fs_epoll_flush_locked();
	fs_locals_close_thread(me);
	fs_mirror_drop_owner(me);
	fs_place_release_self();
	fs_self.ncache = 0;
	fs_unlock();
}

void fs_shim_init(void)
{
	char ports[32], cpus[128];

	fs_own_process();
	fs_config_init();
	fs_rfd_init(NULL);
	fs_thread_exit_init(thread_exit);
	pthread_atfork(fs_atfork_prepare, fs_atfork_parent, fs_atfork_child);
	if (fs_cfg.valid && fs_cfg.log >= FS_LOG_DEBUG) {
		fs_cpuset_format(&fs_cfg.cpus, cpus, sizeof(cpus));
		snprintf(ports, sizeof(ports), "%s",
			 fs_cfg.ports_all ? "all" : "FASTSOCKET_PORTS");
		fs_debug("pid %d: loaded; mode %s, ports %s, CPUs %s", getpid(),
			 fs_cfg.mode == FS_MODE_UNSET ? "default" :
			 fs_cfg.mode == 0 ? "0" : fs_cfg.mode == 1 ? "1" : "2",
			 ports, cpus);
	}
	fs_adopt_inherited();
}

void fs_shim_reset(void)
{
	fs_locals_forget_all();
	fs_park_forget_all();
	fs_listeners_reset();
	fs_mirror_reset();
	fs_fdmap_reset();
	fs_dev_reset();
	fs_mode_reset();
	fs_place_reset();
	fs_rfd_reset();
	fs_self.ncache = 0;
	atomic_store(&fs_fd_table_shared, false);
	fs_own_process();
}
