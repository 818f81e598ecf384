#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=10 4=13
# Clients in another netns behind a veth pair, RPS spreading flows over
# all CPUs like a multi-queue NIC: whichever CPU takes a SYN, the worker
# on that CPU accepts it from its local listener.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
COUNT=$((N * 200))
SRV_IP=198.18.0.1
CLI_IP=198.18.0.2

fsk_load
veth_rps $SRV_IP $CLI_IP

ip netns exec fsk-srv "$FSKTEST" server --addr 4 --port 8084 --workers "$N" \
	--cpus "$(seq -s, 0 $((N - 1)))" --expect $COUNT --timeout $((120 * TIME_SCALE)) \
	--ready "$WORK/ready" >"$WORK/server" 2>"$WORK/err" &
srv=$!
wait_file "$WORK/ready"
# Clients on one CPU only: RPS, not the client, decides where SYNs land.
pids=()
for i in 1 2; do
	ip netns exec fsk-cli "$FSKTEST" client --addr $SRV_IP --port 8084 \
		--cpu 0 --count $((COUNT / 2)) --timeout $((100 * TIME_SCALE)) >"$WORK/client$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
wait $srv || fail "server: $(cat "$WORK/err")"
for i in 1 2; do
	assert_eq 0 "$(kv "$WORK/client$i" failed)" "failed connections (client $i)"
done
acc=$(kv "$WORK/server" accepted)
assert_eq $COUNT "$acc" "accepted"
assert_ratio "$(kv "$WORK/server" via_local)" "$acc" 999 "accepted from the CPU-local listener"
assert_ratio "$(kv "$WORK/server" cpu_match)" "$acc" 999 "accepted on the CPU that took the SYN"
# RPS must really have spread the SYNs, or this test shows nothing.
proc_read fsk-srv
for cpu in $(seq 0 $((N - 1))); do
	s=${PROC_ST[$cpu]:-}
	[ "${s:-0}" -gt 0 ] || fail "RPS sent no SYN to CPU $cpu"
	info "SYNs steered on CPU $cpu: $s"
done
echo "PASS: $TEST_NAME"
