#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=14
# Two netns listening on the same port never see each other's
# connections; IPv6-only and dual-stack ([::] taking IPv4) listeners are
# steered too.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
CPUS=$(seq -s, 0 $((N - 1)))
PER_CPU=100

start_server() { # netns tag addr-spec
	local ns=$1 tag=$2 spec=$3
	ip netns exec "$ns" "$FSKTEST" server --addr "$spec" --port 8083 \
		--workers "$N" --cpus "$CPUS" --expect $((N * PER_CPU)) \
		--timeout $((90 * TIME_SCALE)) --ready "$WORK/$tag.ready" \
		>"$WORK/$tag.server" 2>"$WORK/$tag.err" &
	echo $! >"$WORK/$tag.pid"
	wait_file "$WORK/$tag.ready"
}

run_clients() { # netns tag client-addr
	local ns=$1 tag=$2 caddr=$3 cpu pids=()
	for cpu in $(seq 0 $((N - 1))); do
		ip netns exec "$ns" "$FSKTEST" client --addr "$caddr" --port 8083 \
			--cpu "$cpu" --count $PER_CPU >"$WORK/$tag.client$cpu" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
}

serve_in() { # netns tag addr-spec client-addr
	start_server "$1" "$2" "$3"
	run_clients "$1" "$2" "$4"
}

check_served() { # tag
	local tag=$1 cpu acc
	wait "$(cat "$WORK/$tag.pid")" || fail "$tag server: $(cat "$WORK/$tag.err")"
	for cpu in $(seq 0 $((N - 1))); do
		assert_eq 0 "$(kv "$WORK/$tag.client$cpu" failed)" "$tag: failed connections"
	done
	acc=$(kv "$WORK/$tag.server" accepted)
	assert_eq $((N * PER_CPU)) "$acc" "$tag: accepted exactly its own connections"
	assert_ratio "$(kv "$WORK/$tag.server" via_local)" "$acc" 999 "$tag: local"
}

fsk_load
netns_add fsk-a
netns_add fsk-b
# Both servers up at once on the same port, in different netns.
start_server fsk-a a 4
start_server fsk-b b 4
run_clients fsk-a a 127.0.0.1 &
c1=$!
run_clients fsk-b b 127.0.0.1 &
c2=$!
wait $c1 $c2
check_served a
check_served b
assert_eq $((N * PER_CPU)) "$(proc_sum 2 fsk-a)" "SYNs steered counted in netns fsk-a"
assert_eq $((N * PER_CPU)) "$(proc_sum 2 fsk-b)" "SYNs steered counted in netns fsk-b"
assert_eq 0 "$(proc_sum 2)" "SYNs steered counted in the initial netns"

serve_in fsk-a v6 6 ::1
check_served v6
serve_in fsk-b dual4 dual 127.0.0.1
check_served dual4
serve_in fsk-b dual6 dual ::1
check_served dual6
echo "PASS: $TEST_NAME"
