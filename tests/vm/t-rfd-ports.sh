#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=13 4=18
# Receive flow deliver's port blocks from the module
# (enable_receive_flow_deliver=2), without FASTSOCKET_RFD_LAYOUT: each
# netns's layout is cut from its own ip_local_port_range when first asked
# for and shown in /proc/net/fastsocket; a client under the shim that
# listens first (as a proxy does) takes it from FASTSOCKET_IOC_INFO, and
# every outgoing connection of a thread pinned to CPU c gets a local port
# in c's block (tests/progs/fs_rfdcli, its own listeners, loopback).
# An explicit port is kept, bind(port 0) left alone, IP_BIND_ADDRESS_NO_PORT
# binds get block ports. The layout stays fixed when the range changes; 1
# (steering by the module) is refused at runtime with one log line when
# the module was not loaded with it (t-rfd-count.sh loads it with 1); 0
# takes the blocks away from new processes.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
CLI=$FSK_ROOT/tests/progs/fs_rfdcli
SHIM=$FSK_ROOT/libshim/libfastsocket.so
PARAM=/sys/module/fastsocket/parameters/enable_receive_flow_deliver
PER_CPU=50
NCPU_IDS=$(nr_cpu_ids)

# rfd_row NETNS: the netns's "rfd" row of /proc/net/fastsocket, or "".
rfd_row() {
	proc_read "$1"
	echo "${PROC_RFD[*]}"
}

# client NETNS NAME LAYOUT [ARG...]: fs_rfdcli (with ARGs) under the shim
# in NETNS, judging ports by LAYOUT (what the module's should be); its
# line in $WORK/NAME, the shim's log (CLIENT_LOG, default info) in
# $WORK/NAME.log.
client() {
	local ns=$1 name=$2 layout=$3
	shift 3
	ip netns exec "$ns" env LD_PRELOAD="$SHIM" FASTSOCKET_LOG="${CLIENT_LOG:-info}" \
		timeout $((120 * TIME_SCALE)) "$CLI" --listen-first --per-cpu "$PER_CPU" --layout "$layout" "$@" \
		>"$WORK/$name" 2>"$WORK/$name.log" ||
		{ cat "$WORK/$name" "$WORK/$name.log" >&2; fail "$name: fs_rfdcli failed"; }
	info "$name: $(cat "$WORK/$name")"
}

# field NAME KEY: KEY's value in client NAME's line.
field() {
	sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$WORK/$1"
}

fsk_load enable_receive_flow_deliver=2

netns_add rfda
netns_add rfdb
ip netns exec rfdb sysctl -qw net.ipv4.ip_local_port_range="20000 29999"
block_a=$(((60999 - 32768 + 1) / NCPU_IDS))
block_b=$(((29999 - 20000 + 1) / NCPU_IDS))

# Each netns its own layout, from its own range.
got=$(rfd_row rfda)
assert_eq "2 32768 $block_a $NCPU_IDS" "$got" "rfda's rfd row (mode port_lo block cpus)"
got=$(rfd_row rfdb)
assert_eq "2 20000 $block_b $NCPU_IDS" "$got" "rfdb's rfd row"
info "layouts: rfda 32768+c*$block_a, rfdb 20000+c*$block_b, $NCPU_IDS CPUs"

# Every connection of every pinned thread in its CPU's block.
client rfda a1 "32768-60999/$NCPU_IDS"
grep -q "RFD: port blocks from the module (enable_receive_flow_deliver=2)" "$WORK/a1.log" ||
	{ cat "$WORK/a1.log" >&2; fail "a1: the shim did not take the module's port blocks"; }
want=$((N * PER_CPU))
grep -q "^threads=$N conns=$want failed=0 inblock=$want " "$WORK/a1" ||
	fail "a1: expected all $want connections in their CPU's block: $(cat "$WORK/a1")"
client rfdb b1 "20000-29999/$NCPU_IDS"
grep -q "^threads=$N conns=$want failed=0 inblock=$want " "$WORK/b1" ||
	fail "b1: expected all $want connections in their CPU's block: $(cat "$WORK/b1")"

# The application's own binds, with the module's blocks: an explicit port
# is kept, a bind to port 0 left alone (a debug line each), and a bind
# with IP_BIND_ADDRESS_NO_PORT gets a port of the block at connect().
client rfda bx "32768-60999/$NCPU_IDS" --bind explicit
assert_eq "0 $want" "$(field bx failed) $(field bx kept)" "bx: failed, explicit ports kept"
CLIENT_LOG=debug client rfda bz "32768-60999/$NCPU_IDS" --bind zero
assert_eq 0 "$(field bz failed)" "bz: failed"
assert_eq $want "$(grep -c "bind to port 0 without IP_BIND_ADDRESS_NO_PORT" "$WORK/bz.log")" \
	"bz: binds to port 0 the shim left alone (debug lines)"
client rfda bn "32768-60999/$NCPU_IDS" --bind noport
assert_eq "0 $want" "$(field bn failed) $(field bn inblock)" \
	"bn: failed, IP_BIND_ADDRESS_NO_PORT ports in their CPU's block"

# Fixed once cut: the range changes, the layout does not.
ip netns exec rfda sysctl -qw net.ipv4.ip_local_port_range="40000 50000"
got=$(rfd_row rfda)
assert_eq "2 32768 $block_a $NCPU_IDS" "$got" "rfda's rfd row after its range changed"
ip netns exec rfda sysctl -qw net.ipv4.ip_local_port_range="32768 60999"

# 1 at runtime: refused, the value stays.
if echo 1 >"$PARAM" 2>/dev/null; then
	fail "writing 1 to enable_receive_flow_deliver succeeded, the module was loaded with 2"
fi
dmesg | grep -q "enable_receive_flow_deliver=1 (steering by the module) is set at load only" ||
	fail "no log line says why enable_receive_flow_deliver=1 was refused"
assert_eq 2 "$(cat "$PARAM")" "enable_receive_flow_deliver after a refused write"

# 0: no rfd row, and a new process gets no blocks.
echo 0 >"$PARAM"
got=$(rfd_row rfda)
assert_eq "" "$got" "rfda's rfd row with enable_receive_flow_deliver=0"
client rfda a0 "32768-60999/$NCPU_IDS"
if grep -q "RFD: port blocks from the module" "$WORK/a0.log"; then
	fail "a0: the shim took port blocks with enable_receive_flow_deliver=0"
fi
grep -q "^threads=$N conns=$want failed=0 " "$WORK/a0" ||
	fail "a0: connections failed: $(cat "$WORK/a0")"
# And back: the same layout as before.
echo 2 >"$PARAM"
got=$(rfd_row rfda)
assert_eq "2 32768 $block_a $NCPU_IDS" "$got" "rfda's rfd row back at 2"

fsk_unload
echo "PASS: $TEST_NAME"
