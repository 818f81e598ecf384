#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=14 4=23
# One worker per CPU with a local listener, loopback clients pinned per
# CPU (the receive softirq runs on the sending CPU): >= 99.9% of
# connections must be accepted from the CPU-local listener by the worker
# on the CPU that took the SYN, none may fail. Run for processes and
# threads, and for each way of choosing the CPU.
. "$(dirname "$0")/lib.sh"

PER_CPU=${PER_CPU:-250}
N=$(nr_cpus)
CPUS=$(seq -s, 0 $((N - 1)))

PORT=8100
run_case() { # name server-args...
	local name=$1 total=$((N * PER_CPU)) cpu pids=() rc=0
	shift
	# A fresh port per case: SYNs that hit a TIME_WAIT left by an earlier
	# case take the kernel's own path (counted as "existing").
	PORT=$((PORT + 1))
	rm -f "$WORK/ready"
	echo 0 >/proc/net/fastsocket
	"$FSKTEST" server --port $PORT --workers "$N" --cpus "$CPUS" \
		--expect "$total" --timeout $((120 * TIME_SCALE)) --ready "$WORK/ready" "$@" \
		>"$WORK/$name.server" 2>"$WORK/$name.err" &
	local srv=$!
	wait_file "$WORK/ready" 30
	for cpu in $(seq 0 $((N - 1))); do
		"$FSKTEST" client --addr 127.0.0.1 --port $PORT --cpu "$cpu" \
			--count "$PER_CPU" --timeout $((100 * TIME_SCALE)) >"$WORK/$name.client$cpu" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	wait "$srv" || fail "$name: server failed: $(cat "$WORK/$name.err")"
	for cpu in $(seq 0 $((N - 1))); do
		assert_eq 0 "$(kv "$WORK/$name.client$cpu" failed)" "$name: failed connections from CPU $cpu"
	done
	[ $rc = 0 ] || fail "$name: a client did not complete"
	local acc local_ match steered
	acc=$(kv "$WORK/$name.server" accepted)
	local_=$(kv "$WORK/$name.server" via_local)
	match=$(kv "$WORK/$name.server" cpu_match)
	steered=$(proc_sum 2)
	info "$name: SYNs of existing flows (TIME_WAIT): $(proc_sum 4)"
	assert_eq "$total" "$acc" "$name: connections accepted"
	assert_ratio "$local_" "$acc" 999 "$name: accepted from the CPU-local listener"
	assert_ratio "$match" "$acc" 999 "$name: accepted on the CPU that took the SYN"
	assert_ratio "$steered" "$acc" 999 "$name: SYNs steered (module counters)"
}

fsk_load
run_case processes-cpu --spawn cpu
run_case processes-current --spawn current
run_case threads-cpu --spawn cpu --threads
run_case processes-auto --spawn auto
grep -q "local_listeners" /proc/net/fastsocket || fail "/proc/net/fastsocket has no header"
# All workers gone: their local listeners must have left the table.
assert_eq 0 "$(proc_sum 5)" "local listeners left after the servers exited"
fsk_unload

fsk_load enable_listen_spawn=1
run_case mode1-current --spawn current
fsk_unload
echo "PASS: $TEST_NAME"
