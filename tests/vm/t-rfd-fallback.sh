#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=10 4=11
# Receive flow deliver when a CPU's port block is full: the client netns's
# ip_local_port_range is 40000-40999, so the module cuts blocks of
# 1000 / nr_cpu_ids ports (BLOCK). A client pinned to CPU 0 under the shim
# opens 600 connections at once to one backend address over veth: BLOCK of
# them get a port of CPU 0's block, each of the others finds the block full
# for that destination (EADDRNOTAVAIL) and the shim connects it once more
# on the full range. Checked: exactly 600 - BLOCK fallbacks (the shim's
# debug log), none failed or reset, each accepted once.
. "$(dirname "$0")/lib.sh"

CONNS=600
SRV_IP=198.18.1.1
CLI_IP=198.18.1.2
PORT=8087
SHIM=$FSK_ROOT/libshim/libfastsocket.so
NCPU_IDS=$(nr_cpu_ids)
BLOCK=$((1000 / NCPU_IDS))
[ $BLOCK -lt $CONNS ] || fail "blocks of $BLOCK ports: $CONNS connections would not fill one"

fsk_load enable_receive_flow_deliver=2
veth_rps $SRV_IP $CLI_IP
ip netns exec fsk-cli sysctl -qw net.ipv4.ip_local_port_range="40000 40999"
proc_read fsk-cli
assert_eq "2 40000 $BLOCK $NCPU_IDS" "${PROC_RFD[*]}" "fsk-cli's rfd row (mode port_lo block cpus)"

ip netns exec fsk-srv "$FSKTEST" server --addr 4 --port $PORT --workers 1 \
	--expect $CONNS --timeout $((120 * TIME_SCALE)) --ready "$WORK/ready" \
	>"$WORK/srv" 2>"$WORK/srv.err" &
srv=$!
at_exit "kill $srv 2>/dev/null"
wait_file "$WORK/ready"
# Every connect before the first wait: all 600 sockets hold their port
# when the next one picks.
ip netns exec fsk-cli env LD_PRELOAD="$SHIM" FASTSOCKET_LOG=debug \
	FASTSOCKET_RFD_LAYOUT="40000-40999/$NCPU_IDS" \
	"$FSKTEST" client --addr $SRV_IP --port $PORT --cpu 0 --count $CONNS \
	--inflight $CONNS --timeout $((100 * TIME_SCALE)) >"$WORK/cli" 2>"$WORK/cli.err" ||
	{ tail -n 5 "$WORK/cli.err" >&2; fail "client: $(tr '\n' ' ' <"$WORK/cli")"; }
wait $srv || fail "backend: $(cat "$WORK/srv.err")"

fallbacks=$(grep -c "port block .* is full for this destination; connecting on the full range" "$WORK/cli.err")
info "blocks of $BLOCK ports, $CONNS connections at once from CPU 0: $fallbacks fallbacks to the full range"
assert_eq $((CONNS - BLOCK)) "$fallbacks" "fallbacks to the full range"
assert_eq $CONNS "$(kv "$WORK/cli" ok)" "connections completed"
assert_eq 0 "$(kv "$WORK/cli" failed)" "failed connections"
assert_eq 0 "$(kv "$WORK/cli" resets)" "reset connections"
assert_eq $CONNS "$(kv "$WORK/srv" accepted)" "connections accepted"
echo "PASS: $TEST_NAME"
