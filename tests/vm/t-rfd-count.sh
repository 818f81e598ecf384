#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# Receive flow deliver's owner counters (rfd_owner, rfd_foreign in
# /proc/net/fastsocket): where the segments to each CPU's port block are
# processed, whatever steered them. Clients pinned one per CPU under the
# shim (ports from their CPU's block) connect over veth, without RPS, to
# a backend in another netns whose one worker runs on CPU 0 and closes
# first. veth processes a packet on the CPU that sent it, so the backend's
# SYN-ACK, sent while the client's SYN is processed, lands on the client's
# CPU (its owner), and its FIN, sent by the worker, on CPU 0 (foreign for
# every other CPU's block): what steering by the module (not built yet)
# or by a NIC would move. Checked: every CPU counted at least a SYN-ACK
# per connection as its owner, CPU 0 counted the other blocks' FINs as
# foreign, and nothing is counted with enable_receive_flow_deliver 0.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
PER_CPU=200
SRV_IP=198.18.0.1
CLI_IP=198.18.0.2
PORT=8086
SHIM=$FSK_ROOT/libshim/libfastsocket.so
PARAM=/sys/module/fastsocket/parameters/enable_receive_flow_deliver
read -r possible </sys/devices/system/cpu/possible
NCPU_IDS=$((${possible##*-} + 1))
LAYOUT="32768-60999/$NCPU_IDS"

fsk_load enable_receive_flow_deliver=2
veth_rps $SRV_IP $CLI_IP
# No RPS: each packet is processed on the CPU that sent it.
ip netns exec fsk-srv sh -c "echo 0 >/sys/class/net/fsk-veth0/queues/rx-0/rps_cpus"
ip netns exec fsk-cli sh -c "echo 0 >/sys/class/net/fsk-veth1/queues/rx-0/rps_cpus"
# The first read cuts fsk-cli's layout, the module's counters need it.
proc_read fsk-cli
assert_eq "2 32768 $(((60999 - 32768 + 1) / NCPU_IDS)) $NCPU_IDS" "${PROC_RFD[*]}" \
	"fsk-cli's rfd row (mode port_lo block cpus)"

# round NAME: the backend for N * PER_CPU connections, a client pinned
# to each CPU under the shim with the module's layout; none may fail.
round() {
	local name=$1 c pids=()
	ip netns exec fsk-srv "$FSKTEST" server --addr 4 --port $PORT --workers 1 \
		--cpus 0 --expect $((N * PER_CPU)) --timeout 120 \
		--ready "$WORK/$name.ready" >"$WORK/$name.srv" 2>"$WORK/$name.err" &
	local srv=$!
	wait_file "$WORK/$name.ready"
	ip netns exec fsk-cli sh -c "echo 0 >/proc/net/fastsocket"
	for ((c = 0; c < N; c++)); do
		ip netns exec fsk-cli env LD_PRELOAD="$SHIM" FASTSOCKET_RFD_LAYOUT="$LAYOUT" \
			"$FSKTEST" client --addr $SRV_IP --port $PORT --cpu $c \
			--count $PER_CPU --timeout 100 >"$WORK/$name.cli$c" 2>&1 &
		pids+=($!)
	done
	for c in "${pids[@]}"; do wait "$c" || true; done
	wait $srv || fail "$name: backend: $(cat "$WORK/$name.err")"
	for ((c = 0; c < N; c++)); do
		assert_eq 0 "$(kv "$WORK/$name.cli$c" failed)" "$name: failed connections from CPU $c"
	done
	assert_eq $((N * PER_CPU)) "$(kv "$WORK/$name.srv" accepted)" "$name: accepted"
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

# Off at runtime: nothing is counted.
echo 0 >"$PARAM"
round off
assert_eq 0 "${PROC_SUM[9]:-0}" "off: rfd_owner"
assert_eq 0 "${PROC_SUM[10]:-0}" "off: rfd_foreign"
fsk_unload
echo "PASS: $TEST_NAME"
