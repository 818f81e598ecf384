#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=33 4=41
# As t-shim-nginx, with accept_mutex on: only the worker holding the
# mutex has the listening socket in its epoll set; the others delete it
# and may wait long (the holder sleeps in epoll_wait holding the mutex).
# The shim parks the local listener of a worker that stopped reading the
# listening socket (FASTSOCKET_IOC_PARK, at its next wait), so its CPU's
# SYNs go to the rest of the group, which the holder watches, and resumes
# it when the worker gets the mutex back. Left as it was, connections
# queued on a non-holder's local listener waited for seconds (wrk: 63
# requests in 10 s, the rest stuck); closed instead of parked (as the
# shim did before the module could park), about one connection in 10000
# was reset: a handshake completing just as its listener closes is reset
# by the kernel, tcp_migrate_req or not.
#
# Shown: zero socket errors of any kind (connect, read, write, timeout),
# only 2xx responses, SYNs counted as parked by the module (the parking
# happened) and SYNs steered to the local listener of whichever worker
# held the mutex. Locality is partial by nginx's design (one accepting
# worker at a time), so the share of steered SYNs is reported, not
# required.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)
STEER_MIN=any

# mutex_case NAME WORKERS: nginx_case, and the module parked listeners.
mutex_case() {
	nginx_case "$1" "$2" on
	info "$1: SYNs on a CPU whose local listener was parked: $PROC_PK_SUM"
	[ "$PROC_PK_SUM" -gt 0 ] || fail "$1: no SYN met a parked local listener: the shim did not park"
}

shim_client_setup
fsk_load
mutex_case mutex-workers-nproc "$N"
mutex_case mutex-workers-2x-nproc $((2 * N))
fsk_unload
echo "PASS: $TEST_NAME"
