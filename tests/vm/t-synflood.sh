#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=45 4=54
# A SYN flood from spoofed sources (tests/vm/progs/fsk-synflood: raw
# socket, one thread, as fast as the guest lets it) through a veth pair
# with RPS, while real clients connect, with tcp_syncookies 1 (cookies
# once a local listener's SYN queue is full) and 2 (always). Every real
# connection must complete and be accepted exactly once; the module's
# counters must account for every SYN it saw and no more than reached
# TCP. Then the server stops and the module is unloaded while the flood's
# request sockets still wait for their SYN-ACK timers: nothing may fire
# into the unloaded module (the kernel log is checked).
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
PER_CPU=60
PORT=8093
SRV_IP=198.18.0.1
CLI_IP=198.18.0.2
# The flood's sources: routed on the server's side through a gateway
# whose link address no one has, so its SYN-ACKs leave and are dropped by
# the client's side, and no handshake completes. (A blackhole route
# would not do: TCP drops a SYN whose SYN-ACK it cannot route, before it
# queues anything.)
FLOOD_NET=198.18.64.0/18
FLOOD_GW=198.18.0.254
FLOOD_SECONDS=8
FLOOD=$PROGS/fsk-synflood

fsk_load
veth_rps $SRV_IP $CLI_IP
ip -n fsk-srv neigh add $FLOOD_GW lladdr 02:00:00:00:00:fe dev fsk-veth0 nud permanent
ip -n fsk-srv route add $FLOOD_NET via $FLOOD_GW
ip netns exec fsk-srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.fsk-veth0.rp_filter=0

# nstat_of NETNS NAME: a counter of NETNS since boot.
nstat_of() {
	ip netns exec "$1" nstat -az "$2" 2>/dev/null | awk -v n="$2" '$1 == n { print $2 }'
}

# flood_round COOKIES: one server, the flood and the real clients.
flood_round() {
	local cookies=$1 total=$((N * PER_CPU)) pids=() cpu placed in_segs ok=0
	local sent cookies_sent flood_pid srv cookies0 in0 unwatched
	ip netns exec fsk-srv sysctl -qw net.ipv4.tcp_syncookies="$cookies"
	rm -f "$WORK/ready"
	# A small backlog: the flood fills the SYN queues at once.
	# The server waits for one more connection, made after the flood:
	# it serves through the whole flood.
	ip netns exec fsk-srv "$FSKTEST" server --addr 4 --port $PORT --workers "$N" \
		--cpus "$(seq -s, 0 $((N - 1)))" --backlog 128 --expect $((total + 1)) \
		--timeout $((240 * TIME_SCALE)) --ready "$WORK/ready" >"$WORK/server$cookies" 2>"$WORK/err" &
	srv=$!
	wait_file "$WORK/ready"
	# This round's counts only: the module's zeroed, TCP's as deltas.
	ip netns exec fsk-srv sh -c 'echo 0 >/proc/net/fastsocket'
	cookies0=$(nstat_of fsk-srv TcpExtSyncookiesSent)
	in0=$(nstat_of fsk-srv TcpInSegs)
	ip netns exec fsk-cli "$FLOOD" --dst $SRV_IP --port $PORT --src-net $FLOOD_NET \
		--count 5000000 --seconds $((FLOOD_SECONDS * TIME_SCALE)) \
		>"$WORK/flood$cookies" 2>&1 &
	flood_pid=$!
	sleep 1
	for cpu in $(seq 0 $((N - 1))); do
		ip netns exec fsk-cli "$FSKTEST" client --addr $SRV_IP --port $PORT \
			--cpu "$cpu" --count $PER_CPU --timeout $((200 * TIME_SCALE)) \
			>"$WORK/client$cookies.$cpu" 2>>"$WORK/clerr" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	wait $flood_pid || fail "fsk-synflood: $(cat "$WORK/flood$cookies")"
	ip netns exec fsk-cli "$FSKTEST" client --addr $SRV_IP --port $PORT --count 1 \
		--timeout $((60 * TIME_SCALE)) >"$WORK/last$cookies" 2>>"$WORK/clerr" ||
		fail "syncookies=$cookies: the connection after the flood failed"
	wait $srv || fail "server (syncookies=$cookies): $(cat "$WORK/err")"
	for cpu in $(seq 0 $((N - 1))); do
		assert_eq 0 "$(kv "$WORK/client$cookies.$cpu" failed)" \
			"syncookies=$cookies: failed connections from CPU $cpu"
		ok=$((ok + $(kv "$WORK/client$cookies.$cpu" ok)))
	done
	assert_eq $total $ok "syncookies=$cookies: connections completed"
	assert_eq $((total + 1)) "$(kv "$WORK/server$cookies" accepted)" \
		"syncookies=$cookies: connections accepted (completed: $ok + 1)"
	sent=$(kv "$WORK/flood$cookies" sent)
	[ "${sent:-0}" -gt 0 ] || fail "syncookies=$cookies: the flood sent nothing"
	cookies_sent=$(($(nstat_of fsk-srv TcpExtSyncookiesSent) - ${cookies0:-0}))
	[ "${cookies_sent:-0}" -gt 0 ] ||
		fail "syncookies=$cookies: no SYN cookie sent: the flood filled no SYN queue"
	# Every SYN the module saw went to one column (unwatched may repeat
	# a no_local or parked one), none bypassed TCP, and, the server
	# listening throughout, every SYN TCP received passed the module:
	# TCP's count less the real connections' other segments (ACK, FIN,
	# and a reset at most: 5 each) is a floor.
	proc_read fsk-srv
	placed=$((PROC_ST_SUM + PROC_NL_SUM + PROC_EX_SUM + PROC_PK_SUM + ${PROC_SUM[7]:-0}))
	unwatched=${PROC_SUM[8]:-0}
	in_segs=$(($(nstat_of fsk-srv TcpInSegs) - ${in0:-0}))
	[ "$placed" -ge "$total" ] ||
		fail "syncookies=$cookies: module placed $placed SYNs, fewer than the $total connections"
	[ "$placed" -le "$in_segs" ] ||
		fail "syncookies=$cookies: module placed $placed SYNs, more than the $in_segs segments TCP received"
	[ $((placed + unwatched + 5 * (total + 1))) -ge "$in_segs" ] ||
		fail "syncookies=$cookies: module placed $placed SYNs (+ $unwatched unwatched), TCP received $in_segs segments: SYNs passed the module uncounted"
	info "syncookies=$cookies: flood $(kv "$WORK/flood$cookies" rate)/s for $(kv "$WORK/flood$cookies" seconds) s (sent $sent, seed $(kv "$WORK/flood$cookies" seed)); module placed $placed (steered $PROC_ST_SUM, no_local $PROC_NL_SUM, existing $PROC_EX_SUM, unwatched $unwatched); TCP segments in $in_segs; cookies sent $cookies_sent"
	info "syncookies=$cookies: real connections $ok + 1 completed, $(kv "$WORK/server$cookies" accepted) accepted, $(kv "$WORK/server$cookies" via_local) from local listeners"
}

flood_round 1
flood_round 2

# Unload the module under the flood's request sockets (they wait for
# their SYN-ACK timers for a minute), with the server still listening:
# the timers then run into the kernel only, and the server keeps serving.
ip netns exec fsk-srv sysctl -qw net.ipv4.tcp_syncookies=1
rm -f "$WORK/ready"
ip netns exec fsk-srv "$FSKTEST" server --addr 4 --port $PORT --workers "$N" \
	--cpus "$(seq -s, 0 $((N - 1)))" --backlog 128 --expect 1 --timeout $((120 * TIME_SCALE)) \
	--ready "$WORK/ready" >"$WORK/server-unload" 2>"$WORK/err" &
srv=$!
wait_file "$WORK/ready"
ip netns exec fsk-cli "$FLOOD" --dst $SRV_IP --port $PORT --src-net $FLOOD_NET \
	--count 20000 --seconds $((2 * TIME_SCALE)) >"$WORK/flood-unload" 2>&1 ||
	fail "fsk-synflood: $(cat "$WORK/flood-unload")"
reqs=$(ip netns exec fsk-srv ss -Htn state syn-recv | wc -l)
[ "$reqs" -gt 0 ] || fail "no request socket left by the flood to unload under"
fsk_unload
sleep $((3 * TIME_SCALE))
ip netns exec fsk-cli "$FSKTEST" client --addr $SRV_IP --port $PORT --count 1 \
	--timeout $((60 * TIME_SCALE)) >"$WORK/last-unload" 2>>"$WORK/clerr" ||
	fail "the connection after the unload failed"
wait $srv || fail "server (unload): $(cat "$WORK/err")"
info "module unloaded with $reqs request sockets waiting; a connection after it was accepted"
echo "PASS: $TEST_NAME"
