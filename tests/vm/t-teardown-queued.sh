#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=25 4=63
# Connections queued on local listeners when the module goes, or the
# network namespace does (issue #14):
#  (a) rmmod: the server is stopped (SIGSTOP) while clients connect, so
#      their connections wait in its local listeners' accept queues;
#      rmmod detaches the module and leaves those listeners open as plain
#      reuseport members; the server continues and accepts every one:
#      clients completed = server accepted = connections queued.
#  (b) netns teardown: the same in netns "t", then the server is killed
#      and the netns deleted with the connections still queued: each is
#      reset and the clients count it failed (none hangs); the module's
#      per-netns state goes (a kprobe on fsk_net_exit fires), the
#      initial netns's table is untouched and the module unloads.
# Afterwards no TCP socket is left allocated.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
PORT=8330
PER_CPU=${PER_CPU:-8}	# parallel clients per CPU, each one queued connection
Q=$((N * PER_CPU))
NETEXIT_SYM=${FSK_NETEXIT_SYM:-fsk_net_exit}
TRACING=/sys/kernel/tracing
[ -e $TRACING/kprobe_events ] || TRACING=/sys/kernel/debug/tracing
[ -e $TRACING/kprobe_events ] || fail "no tracefs kprobe_events"

tcp_alloc() {
	awk '/^TCP:/{for (i = 2; i < NF; i++) if ($i == "alloc") print $(i + 1)}' /proc/net/sockstat
}

# queued_total NETNS: connections waiting in the accept queues of PORT's
# listening sockets (the original and the copies): rx_queue of their
# /proc/net/tcp rows (state 0A) is the accept queue's length.
queued_total() {
	local hex n=0
	for hex in $(in_ns "$1" cat /proc/net/tcp | awk -v port="$(printf ':%04X' $PORT)" '
		$4 == "0A" && substr($2, length($2) - 4) == port { split($5, q, ":"); print q[2] }'); do
		n=$((n + 16#$hex))
	done
	echo $n
}

in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

queued_is() { [ "$(queued_total "$1")" -ge "$2" ]; }

# start NETNS TAG: a server (threads: SIGSTOP stops them all) with a
# local listener per CPU, stopped once
# ready; then Q clients, each queued, in the background.
start() {
	local ns=$1 tag=$2 i cpu pre=()
	# Not through in_ns: a function in the background is a subshell, and
	# SRV must be fsktest itself (ip netns exec execs it).
	[ -z "$ns" ] || pre=(ip netns exec "$ns")
	"${pre[@]}" "$FSKTEST" server --port $PORT --workers "$N" --threads \
		--cpus "$(seq -s, 0 $((N - 1)))" --spawn cpu --timeout $((300 * TIME_SCALE)) \
		--ready "$WORK/$tag.ready" >"$WORK/$tag.server" 2>"$WORK/$tag.server.err" &
	SRV=$!
	at_exit "kill -CONT $SRV 2>/dev/null; kill -KILL $SRV 2>/dev/null"
	wait_file "$WORK/$tag.ready" 60
	kill -STOP $SRV
	CLIENTS=()
	for cpu in $(seq 0 $((N - 1))); do
		for i in $(seq 1 "$PER_CPU"); do
			in_ns "$ns" "$FSKTEST" client --port $PORT --cpu "$cpu" --count 1 \
				--timeout $((60 * TIME_SCALE)) >"$WORK/$tag.client$cpu.$i" 2>&1 &
			CLIENTS+=($!)
		done
	done
	wait_until 60 queued_is "$ns" $Q ||
		fail "$tag: $(queued_total "$ns") of $Q connections queued after 60 s"
	proc_read "$ns"
	info "$tag: $Q connections queued ($(queued_total "$ns") in the accept queues), steered $PROC_ST_SUM"
	assert_eq $Q "$PROC_ST_SUM" "$tag: SYNs steered to the local listeners"
}

# clients_sum TAG KEY: KEY summed over TAG's clients.
clients_sum() {
	local f s=0
	for f in "$WORK/$1".client*; do
		s=$((s + $(kv "$f" "$2")))
	done
	echo $s
}

base_alloc=$(tcp_alloc)

# --- (a) rmmod with connections queued ---
fsk_load
proc_reset
start "" rmmod
fsk_rmmod 60 || fail "rmmod refused with connections queued"
info "rmmod done with $(queued_total "") connections queued"
kill -CONT $SRV
for p in "${CLIENTS[@]}"; do wait "$p" || true; done
kill -TERM $SRV
wait $SRV || fail "server: $(cat "$WORK/rmmod.server.err")"
ok=$(clients_sum rmmod ok)
info "rmmod: clients completed $ok, the server accepted $(kv "$WORK/rmmod.server" accepted)"
assert_eq $Q "$ok" "rmmod: connections completed"
assert_eq 0 "$(clients_sum rmmod failed)" "rmmod: connections failed"
assert_eq $Q "$(kv "$WORK/rmmod.server" accepted)" "rmmod: connections accepted (exactly once each)"

# --- (b) netns deleted with connections queued ---
fsk_load
echo "p:fsk_tdq_netexit fastsocket:$NETEXIT_SYM" >>$TRACING/kprobe_events ||
	fail "cannot place a kprobe on fastsocket:$NETEXIT_SYM"
# Cleanup for a failure before the probe's removal below (after it the
# event is gone, and so is the work).
at_exit "[ ! -e $TRACING/events/kprobes/fsk_tdq_netexit ] || { echo 0 >$TRACING/events/kprobes/fsk_tdq_netexit/enable; echo -:fsk_tdq_netexit >>$TRACING/kprobe_events; }"
echo 1 >$TRACING/events/kprobes/fsk_tdq_netexit/enable
hits() { awk '$1 == "fsk_tdq_netexit" {print $2}' $TRACING/kprobe_profile; }
exited() { [ "$(hits)" -ge 1 ]; }
netns_add t
start t netns
kill -KILL $SRV
wait $SRV 2>/dev/null || true
ip netns del t
for p in "${CLIENTS[@]}"; do wait "$p" || true; done
failed=$(clients_sum netns failed)
ok=$(clients_sum netns ok)
info "netns: server killed, netns deleted: $failed queued connections reset, $ok completed"
assert_eq $Q "$((ok + failed))" "netns: connections accounted for"
assert_eq $Q "$failed" "netns: queued connections reset"
wait_until 30 exited || fail "the module's netns exit did not run within 30 s of ip netns del"
proc_read
assert_eq 0 "$PROC_LL_SUM" "local listeners in the initial netns"
echo 0 >$TRACING/events/kprobes/fsk_tdq_netexit/enable
echo -:fsk_tdq_netexit >>$TRACING/kprobe_events
fsk_unload

tcp_back() { [ "$(tcp_alloc)" -le "$base_alloc" ]; }
wait_until 30 tcp_back || true
assert_eq "$base_alloc" "$(tcp_alloc)" "sockstat TCP alloc after everything closed"
echo "PASS: $TEST_NAME"
