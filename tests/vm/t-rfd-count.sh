#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# timeout: 600
# cost: 2=67 4=138
# Receive flow deliver's owner counters (rfd_owner, rfd_foreign in
# /proc/net/fastsocket): where the segments to each CPU's port block are
# processed, whatever steered them. Clients pinned one per CPU under the
# shim (ports from their CPU's block) connect over veth, without RPS, to
# a backend in another netns whose one worker runs on CPU 0 and closes
# first. veth processes a packet on the CPU that sent it, so the backend's
# SYN-ACK, sent while the client's SYN is processed, lands on the client's
# CPU (its owner), and its FIN, sent by the worker, on CPU 0 (foreign for
# every other CPU's block): what steering by the module or by a NIC
# moves. Checked with port blocks only (2): every CPU counted at least a
# SYN-ACK per connection as its owner, CPU 0 counted the other blocks'
# FINs as foreign; RFS's share reported beside it; with 0 nothing is
# counted; with the module steering
# (1): >= 99.9% of the segments processed on their owner CPU, every
# segment queued for another CPU delivered there, none dropped, no queue
# overflowed, SO_INCOMING_CPU the client's CPU after connect and after
# the response in >= 99.9% of connections; the same with 2,500
# connections from each CPU, 50 in flight; with RPS; over loopback; the
# same over IPv6. Then, under load with steering on: the last CPU offline and
# back online, rmmod and insmod, and the client netns deleted: no
# connection fails, nothing hangs, no splat (the runner checks the log).
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
PER_CPU=200
SRV_IP=198.18.0.1
CLI_IP=198.18.0.2
SRV_IP6=2001:db8:f5::1
CLI_IP6=2001:db8:f5::2
PORT=8086
SHIM=$FSK_ROOT/libshim/libfastsocket.so
PARAM=/sys/module/fastsocket/parameters/enable_receive_flow_deliver
NCPU_IDS=$(nr_cpu_ids)
LAYOUT="32768-60999/$NCPU_IDS"
SRV_NS=fsk-srv

fsk_load enable_receive_flow_deliver=2
# No RPS: each packet is processed on the CPU that sent it.
veth_rps $SRV_IP $CLI_IP 0
# The first read cuts fsk-cli's layout, the module's counters need it.
proc_read fsk-cli
assert_eq "2 32768 $(((60999 - 32768 + 1) / NCPU_IDS)) $NCPU_IDS" "${PROC_RFD[*]}" \
	"fsk-cli's rfd row (mode port_lo block cpus)"

# round NAME [BIND TARGET COUNT INFLIGHT]: the backend (in SRV_NS,
# bound to BIND, default 4: any IPv4) for N * COUNT connections (default
# PER_CPU), a
# client pinned to each CPU under the shim with the module's layout
# connecting to TARGET (default SRV_IP), INFLIGHT at a time (default 1);
# none may fail or be reset, each accepted once.
round() {
	local name=$1 bind=${2:-4} target=${3:-$SRV_IP} count=${4:-$PER_CPU}
	local inflight=${5:-1} c pids=()
	ip netns exec "$SRV_NS" "$FSKTEST" server --addr "$bind" --port $PORT --workers 1 \
		--cpus 0 --expect $((N * count)) --timeout $((240 * TIME_SCALE)) \
		--ready "$WORK/$name.ready" >"$WORK/$name.srv" 2>"$WORK/$name.err" &
	local srv=$!
	wait_file "$WORK/$name.ready"
	ip netns exec fsk-cli sh -c "echo 0 >/proc/net/fastsocket"
	for ((c = 0; c < N; c++)); do
		ip netns exec fsk-cli env LD_PRELOAD="$SHIM" FASTSOCKET_RFD_LAYOUT="$LAYOUT" \
			"$FSKTEST" client --addr "$target" --port $PORT --cpu $c \
			--count "$count" --inflight "$inflight" --timeout $((200 * TIME_SCALE)) \
			>"$WORK/$name.cli$c" 2>&1 &
		pids+=($!)
	done
	for c in "${pids[@]}"; do wait "$c" || true; done
	wait $srv || fail "$name: backend: $(cat "$WORK/$name.err")"
	ROUND_OK=0 ROUND_CONNECT_CPU=0 ROUND_RESPONSE_CPU=0
	for ((c = 0; c < N; c++)); do
		assert_eq 0 "$(kv "$WORK/$name.cli$c" failed)" "$name: failed connections from CPU $c"
		assert_eq 0 "$(kv "$WORK/$name.cli$c" resets)" "$name: reset connections from CPU $c"
		ROUND_OK=$((ROUND_OK + $(kv "$WORK/$name.cli$c" ok)))
		ROUND_CONNECT_CPU=$((ROUND_CONNECT_CPU + $(kv "$WORK/$name.cli$c" connect_cpu)))
		ROUND_RESPONSE_CPU=$((ROUND_RESPONSE_CPU + $(kv "$WORK/$name.cli$c" response_cpu)))
	done
	assert_eq $((N * count)) "$ROUND_OK" "$name: connections the clients completed"
	assert_eq $((N * count)) "$(kv "$WORK/$name.srv" accepted)" "$name: accepted"
	proc_read fsk-cli
}

round on
owner=0 foreign=0
for ((c = 0; c < N; c++)); do
	o=${PROC_CELL[$c,9]:-0} f=${PROC_CELL[$c,10]:-0}
	info "on: CPU $c: rfd_owner $o, rfd_foreign $f"
	[ "$o" -ge $PER_CPU ] ||
		fail "on: CPU $c processed $o segments to its own block for $PER_CPU connections (each has a SYN-ACK)"
	owner=$((owner + o)) foreign=$((foreign + f))
done
[ "${PROC_CELL[0,10]:-0}" -gt 0 ] ||
	fail "on: CPU 0 counted no segment to another CPU's block (the backend's FINs)"
info "on: segments to the blocks processed on their owner CPU: $owner of $((owner + foreign)) ($((owner * 1000 / (owner + foreign))) per mille; no steering)"
# SO_INCOMING_CPU, reported: after connect the CPU of the SYN-ACK (the
# client's) unless the backend's FIN, from CPU 0, came first; after the
# response the FIN's, the client's only for CPU 0's clients.
info "on: SO_INCOMING_CPU = the client's CPU: after connect $ROUND_CONNECT_CPU, after the response $ROUND_RESPONSE_CPU of $ROUND_OK connections (no steering)"

# RFS instead (reported, not checked): RPS on the client's veth with a
# flow table, which sends a segment to the CPU where its socket was last
# read or written, once the application has done so.
rps_mask=$(printf '%x' $(((1 << N) - 1)))
sysctl_set net.core.rps_sock_flow_entries 32768
rps_set fsk-cli fsk-veth1 "$rps_mask"
ip netns exec fsk-cli sh -c "echo 4096 >/sys/class/net/fsk-veth1/queues/rx-0/rps_flow_cnt"
round rfs
info "rfs: segments to the blocks processed on their owner CPU: ${PROC_SUM[9]} of $((PROC_SUM[9] + PROC_SUM[10])); SO_INCOMING_CPU = the client's CPU: after connect $ROUND_CONNECT_CPU, after the response $ROUND_RESPONSE_CPU of $ROUND_OK connections (RFS, no steering by the module)"
rps_set fsk-cli fsk-veth1 0
ip netns exec fsk-cli sh -c "echo 0 >/sys/class/net/fsk-veth1/queues/rx-0/rps_flow_cnt"

# Off at runtime: nothing is counted.
echo 0 >"$PARAM"
round off
assert_eq 0 "${PROC_SUM[9]:-0}" "off: rfd_owner"
assert_eq 0 "${PROC_SUM[10]:-0}" "off: rfd_foreign"
fsk_unload

# The module steers: the backend's FINs are processed on their owner too.
fsk_load enable_receive_flow_deliver=1
proc_read fsk-cli
assert_eq "1 32768 $(((60999 - 32768 + 1) / NCPU_IDS)) $NCPU_IDS" "${PROC_RFD[*]}" \
	"fsk-cli's rfd row with enable_receive_flow_deliver=1"
# steered NAME: the checks of a round with the module steering (columns:
# 9 owner, 10 foreign, 11 steered, 12 offline, 13 overflow, 14 delivered,
# 15 dropped).
steered() {
	local name=$1 c owner=${PROC_SUM[9]} foreign=${PROC_SUM[10]}
	for ((c = 0; c < N; c++)); do
		info "$name: CPU $c: rfd_owner ${PROC_CELL[$c,9]}, rfd_foreign ${PROC_CELL[$c,10]}, steered ${PROC_CELL[$c,11]}, delivered ${PROC_CELL[$c,14]}"
		[ "${PROC_CELL[$c,9]}" -ge $PER_CPU ] ||
			fail "$name: CPU $c processed ${PROC_CELL[$c,9]} segments to its own block for $PER_CPU connections"
	done
	info "$name: steered ${PROC_SUM[11]}, delivered ${PROC_SUM[14]}, offline ${PROC_SUM[12]}, overflow ${PROC_SUM[13]}, dropped ${PROC_SUM[15]}"
	assert_ratio "$owner" $((owner + foreign)) 999 "$name: segments processed on their owner CPU"
	[ "${PROC_SUM[11]}" -gt 0 ] || fail "$name: the module steered no segment"
	assert_eq "${PROC_SUM[11]}" "${PROC_SUM[14]}" "$name: segments delivered on the owner CPU (= steered)"
	assert_eq 0 "${PROC_SUM[13]}" "$name: queue overflows"
	assert_eq 0 "${PROC_SUM[15]}" "$name: segments dropped"
	assert_eq 0 "${PROC_SUM[12]}" "$name: segments for an offline CPU"
	assert_ratio "$ROUND_CONNECT_CPU" "$ROUND_OK" 999 \
		"$name: SO_INCOMING_CPU after connect = the client's CPU"
	assert_ratio "$ROUND_RESPONSE_CPU" "$ROUND_OK" 999 \
		"$name: SO_INCOMING_CPU after the response = the client's CPU"
}
round steer
steered steer
# N x 2,500 connects, 50 in flight from each CPU.
round inflight 4 $SRV_IP 2500 50
steered inflight

# With RPS on both veth ends: a segment's processing moves to the CPU of
# its flow's hash before our hook, which then steers it to its owner.
rps_set fsk-srv fsk-veth0 "$rps_mask"
rps_set fsk-cli fsk-veth1 "$rps_mask"
round rps
steered rps
rps_set fsk-srv fsk-veth0 0
rps_set fsk-cli fsk-veth1 0

# Over loopback: the backend in the clients' netns, on its veth address
# (a 127.x target would make the client bind a source, which keeps the
# kernel's port choice, not the block's).
SRV_NS=fsk-cli round loopback 4 $CLI_IP
steered loopback

# The same over IPv6.
ip -n fsk-srv addr add $SRV_IP6/64 dev fsk-veth0 nodad
ip -n fsk-cli addr add $CLI_IP6/64 dev fsk-veth1 nodad
round steer6 6 $SRV_IP6
steered steer6

# churn_info WHEN: fsk-cli's RFD counters, summed over the CPUs.
churn_info() {
	proc_read fsk-cli
	info "churn: $1: owner ${PROC_SUM[9]:-0} foreign ${PROC_SUM[10]:-0} steered ${PROC_SUM[11]:-0} offline ${PROC_SUM[12]:-0} overflow ${PROC_SUM[13]:-0} delivered ${PROC_SUM[14]:-0} dropped ${PROC_SUM[15]:-0}"
}

# Churn under load: clients on every CPU until the stop file appears.
STOP=$WORK/stop
ip netns exec fsk-srv "$FSKTEST" server --addr 4 --port $((PORT + 1)) --workers 1 \
	--cpus 0 --expect 100000000 --timeout $((600 * TIME_SCALE)) --ready "$WORK/churn.ready" \
	>"$WORK/churn.srv" 2>"$WORK/churn.err" &
srv=$!
at_exit "kill $srv 2>/dev/null"
wait_file "$WORK/churn.ready"
pids=()
for ((c = 0; c < N; c++)); do
	ip netns exec fsk-cli env LD_PRELOAD="$SHIM" FASTSOCKET_RFD_LAYOUT="$LAYOUT" \
		"$FSKTEST" client --addr $SRV_IP --port $((PORT + 1)) --cpu $c \
		--count 100000000 --timeout $((300 * TIME_SCALE)) --stop-file "$STOP" >"$WORK/churn.cli$c" 2>&1 &
	pids+=($!)
done
sleep 3
churn_info "before"
last=$((N - 1))
online=/sys/devices/system/cpu/cpu$last/online
echo 0 >"$online"
at_exit "echo 1 >$online"
sleep 3
churn_info "CPU $last offline"
echo 1 >"$online"
sleep 3
churn_info "CPU $last online"
fsk_unload
info "churn: module unloaded under load"
sleep 2
fsk_load enable_receive_flow_deliver=1
# A new module, a new layout for fsk-cli (the same): cut it now.
proc_read fsk-cli
sleep 3
churn_info "reloaded"
[ "${PROC_SUM[11]}" -gt 0 ] || fail "churn: nothing steered after the reload"
touch "$STOP"
for c in "${pids[@]}"; do wait "$c" || true; done
for ((c = 0; c < N; c++)); do
	assert_eq 0 "$(kv "$WORK/churn.cli$c" failed)" "churn: failed connections from CPU $c"
	info "churn: CPU $c: $(kv "$WORK/churn.cli$c" ok) connections"
done
kill $srv 2>/dev/null
wait $srv 2>/dev/null || true
# The client netns goes while the module steers: its exit flushes the
# queues; then the module unloads (nothing left holding it).
ip netns del fsk-cli
fsk_unload
echo "PASS: $TEST_NAME"
