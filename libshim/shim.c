// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shim.c - the lock, the per-thread state and the process identity.
 */
#include "shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

__thread struct fs_thread fs_self __attribute__((tls_model(FS_TLS_MODEL))) = {
	.cpu = -1,
	.load_slot = -1,
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic pid_t lock_owner;
static pid_t state_pid;			/* the process the state is of */
_Atomic bool fs_fd_table_shared;
static pthread_key_t exit_key;
static bool exit_key_ok;

pid_t fs_tid_slow(void)
{
	fs_self.tid = (pid_t)syscall(SYS_gettid);
	return fs_self.tid;
}

bool fs_same_process(void)
{
	return state_pid == 0 || getpid() == state_pid;
}

void fs_own_process(void)
{
	state_pid = getpid();
}

/*
 * The thread's in_lock flag brackets the whole of taking, holding and
 * releasing the mutex (lock_owner alone is set after pthread_mutex_lock()
 * returns and cleared before the unlock: a handler landing in either gap
 * would wait for ever). The signal fences keep the compiler from moving
 * the flag's stores across the mutex calls.
 */
bool fs_lock(void)
{
	pid_t me = fs_tid();

	if (fs_self.in_lock)
		return false;
	fs_self.in_lock = 1;
	atomic_signal_fence(memory_order_seq_cst);
	pthread_mutex_lock(&lock);
	atomic_store(&lock_owner, me);
	return true;
}

void fs_unlock(void)
{
	atomic_store(&lock_owner, 0);
	pthread_mutex_unlock(&lock);
	atomic_signal_fence(memory_order_seq_cst);
	fs_self.in_lock = 0;
}

void fs_lock_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	atomic_store(&lock_owner, 0);
	fs_self.in_lock = 0;
	fs_self.tid = (pid_t)syscall(SYS_gettid);
}

#ifdef FS_TESTING
void fs_assert_locked_in(const char *func)
{
	if (atomic_load(&lock_owner) == fs_tid())
		return;
	fs_say("%s: called without the shim's lock", func);
	abort();
}
#endif

void fs_thread_exit_init(void (*on_exit)(void *))
{
	exit_key_ok = pthread_key_create(&exit_key, on_exit) == 0;
}

void fs_thread_arm_exit(void)
{
	if (fs_self.exit_armed || !exit_key_ok)
		return;
	if (pthread_setspecific(exit_key, (void *)1) == 0)
		fs_self.exit_armed = true;
}
