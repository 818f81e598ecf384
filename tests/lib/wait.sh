# SPDX-License-Identifier: GPL-2.0
# Polling, for tests/vm and bench.
# shellcheck shell=bash

# nap SECS: sleep. With NAP_FD set (a descriptor open on a FIFO nobody
# writes to) it times out a read instead: no process is started, which
# matters where every fork+exec is slow (bench/measure.sh in the guest).
nap() {
	if [ -n "${NAP_FD:-}" ]; then
		read -rt "$1" -u "$NAP_FD" || true
	else
		sleep "$1"
	fi
}

# The slowdown of this guest's kernel against the stock one (tests/vm/run
# sets FSK_TIME_SCALE: 12 on the debug kernel, 3 on PREEMPT_RT). Every
# time limit a test gives a program is written for the stock kernel and
# multiplied by it, as wait_until and tests/vm/suite do theirs: a client
# that gives up before the test's scaled waits end fails the test for
# nothing (t-sysctl did, on the debug kernel, on a busy host).
TIME_SCALE=${FSK_TIME_SCALE:-1}

# wait_until [-i INTERVAL] SECS CMD...: run CMD every INTERVAL seconds
# (default 0.1) until it succeeds; return 1 if it still failed after SECS
# seconds, times FSK_TIME_SCALE (tests/vm/run sets it for a slow guest
# kernel). The caller says what timed out.
wait_until() {
	local every=0.1 end
	if [ "$1" = -i ]; then
		every=$2
		shift 2
	fi
	end=$((${EPOCHREALTIME/./} + $1 * TIME_SCALE * 1000000))
	shift
	until "$@"; do
		[ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
		nap "$every"
	done
}

# all_gone PID...: none of them is alive.
all_gone() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && return 1
	done
	return 0
}
