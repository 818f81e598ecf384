#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=5 4=5
# FASTSOCKET_IOC_PARK: while a local listener is parked no connection
# lands on it, neither steered nor by the kernel's SO_INCOMING_CPU
# preference; resumed, or returned by another SPAWN for its CPU, it
# takes its CPU's connections again; taken out of the epoll set that
# held it (nobody waits on it), it takes none. The counters show the SYNs
# of the parked phase as "parked" (column 6) and those of the unwatched
# phase as "unwatched" (column 8), and the table shows the listener's
# kind. Its argument checks are in fsk-park too. Run again with
# net.fastsocket.unwatched_grace_ms at a minute, the unwatched phase's
# SYNs stay with the listener: steered, none counted unwatched.
. "$(dirname "$0")/lib.sh"

[ "$(nr_cpus)" -ge 2 ] || fail "needs 2 CPUs"
COUNT=200
fsk_load
echo 0 >/proc/net/fastsocket
"$PROGS/fsk-park" --count $COUNT --port 8091 >"$WORK/out" 2>&1 ||
	fail "fsk-park: $(grep -E 'FAIL|rror' "$WORK/out" || cat "$WORK/out")"
grep -E "^(parked|resumed|unwatched|spawned again):" "$WORK/out" | while read -r l; do info "$l"; done
assert_eq $COUNT "$(proc_cpu 6 0)" "SYNs on CPU 0 counted as parked"
assert_eq $COUNT "$(proc_cpu 8 0)" "SYNs on CPU 0 counted as unwatched (nobody waited on its local listener)"
assert_eq $((2 * COUNT)) "$(proc_cpu 2 0)" "SYNs steered on CPU 0 (the resumed and spawned-again phases)"
assert_eq 0 "$(proc_sum 5)" "local listeners left"

echo 0 >/proc/net/fastsocket
echo 60000 >/proc/sys/net/fastsocket/unwatched_grace_ms
"$PROGS/fsk-park" --count $COUNT --port 8092 --grace-kept >"$WORK/out" 2>&1 ||
	fail "fsk-park --grace-kept: $(grep -E 'FAIL|rror' "$WORK/out" || cat "$WORK/out")"
echo 10 >/proc/sys/net/fastsocket/unwatched_grace_ms
grep -E "^unwatched:" "$WORK/out" | while read -r l; do info "grace 60000: $l"; done
assert_eq 0 "$(proc_cpu 8 0)" "SYNs on CPU 0 counted as unwatched within unwatched_grace_ms 60000"
assert_eq $((3 * COUNT)) "$(proc_cpu 2 0)" "SYNs steered on CPU 0 within unwatched_grace_ms 60000"
assert_eq 0 "$(proc_sum 5)" "local listeners left"
fsk_unload
echo "PASS: $TEST_NAME"
