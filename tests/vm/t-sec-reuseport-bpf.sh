#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=3
# Review finding 6: a reuseport BPF program's choice stands. A cBPF
# program that always returns 0 (member 0, the original listener), a
# copy spawned for CPU 1, clients pinned to CPU 1 (on loopback the SYN
# is processed on the sending CPU): every connection must be accepted
# on the original, none on the copy, and nothing steered on CPU 1.
. "$(dirname "$0")/lib.sh"

[ "$(nr_cpus)" -ge 2 ] || fail "needs 2 CPUs"
fsk_load
echo 0 >/proc/net/fastsocket
"$PROGS/fsk-review" reuseport-bpf --port 8261 --cpu 1 --count 100 >"$WORK/out" 2>&1 ||
	fail "$(grep -E 'FAIL|ERROR' "$WORK/out" | tr '\n' ' ') [$(grep '^connected=' "$WORK/out")]"
info "$(grep '^connected=' "$WORK/out")"
assert_eq 0 "$(proc_cpu 2 1)" "SYNs steered on CPU 1"
fsk_unload
echo "PASS: $TEST_NAME"
