#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=32
# Module parameters: every documented value loads and shows in sysfs,
# invalid values are refused with one log line naming the parameter,
# modinfo describes each, runtime writes are checked.
. "$(dirname "$0")/lib.sh"

PARAMS=/sys/module/fastsocket/parameters

declare -A VALUES=(
	[enable_listen_spawn]="0 1 2"
	[enable_fast_epoll]="0 1"
	[enable_receive_flow_deliver]="0 1 2"
	[unwatched_grace_ms]="0 10 60000"
)
declare -A DEFAULTS=(
	[enable_listen_spawn]=2 [enable_fast_epoll]=1 [enable_receive_flow_deliver]=0
	[unwatched_grace_ms]=10
)
# Values each parameter must refuse, "|"-separated (one is empty).
declare -A BAD=(
	[enable_listen_spawn]="3|-1|abc||1x|99999999999"
	[enable_fast_epoll]="3|-1|abc||1x|99999999999"
	[enable_receive_flow_deliver]="3|-1|abc||1x|99999999999"
	[unwatched_grace_ms]="60001|-1|abc||1x|99999999999"
)

for p in "${!VALUES[@]}"; do
	modinfo -F parm "$KO" | grep -q "^$p:.\{20,\}" ||
		fail "modinfo has no description for $p"
done

fsk_load
for p in "${!DEFAULTS[@]}"; do
	assert_eq "${DEFAULTS[$p]}" "$(cat "$PARAMS/$p")" "default $p"
done
[ -c /dev/fastsocket ] || fail "/dev/fastsocket missing after insmod"
"$FSKTEST" info >"$WORK/info"
assert_eq 1 "$(kv "$WORK/info" abi_version)" "ABI version"
fsk_unload

for p in "${!VALUES[@]}"; do
	for v in ${VALUES[$p]}; do
		fsk_load "$p=$v"
		assert_eq "$v" "$(cat "$PARAMS/$p")" "sysfs $p after insmod $p=$v"
		if [ "${p#enable_}" != "$p" ]; then	# the ones INFO reports
			"$FSKTEST" info >"$WORK/info"
			assert_eq "$v" "$(kv "$WORK/info" "$p")" "FASTSOCKET_IOC_INFO $p"
		fi
		fsk_unload
	done
done

for p in "${!VALUES[@]}"; do
	IFS='|' read -r -a bads <<<"${BAD[$p]}"
	for bad in "${bads[@]}"; do
		dmesg -C
		if insmod "$KO" "$p=$bad" 2>/dev/null; then
			fail "insmod $p='$bad' was accepted"
		fi
		dmesg | grep -q "fastsocket: $p=$bad is invalid: use" ||
			fail "no clear log line for $p='$bad': $(dmesg | tail -n3)"
	done
done
fsk_loaded && fail "module loaded after invalid parameters"

# Runtime: enable_listen_spawn, unwatched_grace_ms and
# enable_receive_flow_deliver are writable (its 1 only if loaded with
# it), enable_fast_epoll read-only.
fsk_load
for v in 0 1 2; do
	echo "$v" >$PARAMS/enable_listen_spawn
	assert_eq "$v" "$(cat $PARAMS/enable_listen_spawn)" "runtime write $v"
done
if echo 7 >$PARAMS/enable_listen_spawn 2>/dev/null; then
	fail "runtime write of 7 accepted"
fi
assert_eq 2 "$(cat $PARAMS/enable_listen_spawn)" "value after refused write"
for v in 0 200 10; do
	echo "$v" >$PARAMS/unwatched_grace_ms
	assert_eq "$v" "$(cat $PARAMS/unwatched_grace_ms)" "runtime write of unwatched_grace_ms $v"
done
if echo 60001 >$PARAMS/unwatched_grace_ms 2>/dev/null; then
	fail "runtime write of unwatched_grace_ms 60001 accepted"
fi
if { echo 1 >$PARAMS/enable_fast_epoll; } 2>/dev/null; then
	fail "enable_fast_epoll is writable but does nothing at runtime"
fi
for v in 2 0; do
	echo "$v" >$PARAMS/enable_receive_flow_deliver
	assert_eq "$v" "$(cat $PARAMS/enable_receive_flow_deliver)" "runtime write of enable_receive_flow_deliver $v"
done
# 1, steering by the module, only if loaded with it: refused with its
# own line otherwise.
dmesg -C
if { echo 1 >$PARAMS/enable_receive_flow_deliver; } 2>/dev/null; then
	fail "runtime write of enable_receive_flow_deliver 1 accepted by a module loaded without it"
fi
assert_eq 0 "$(cat $PARAMS/enable_receive_flow_deliver)" "enable_receive_flow_deliver after a refused write"
dmesg | grep -q "fastsocket: enable_receive_flow_deliver=1 (steering by the module) is set at load only: rmmod, then insmod" ||
	fail "no clear log line for enable_receive_flow_deliver=1: $(dmesg | tail -n3)"
fsk_unload
fsk_load enable_receive_flow_deliver=1
for v in 2 0 1; do
	echo "$v" >$PARAMS/enable_receive_flow_deliver
	assert_eq "$v" "$(cat $PARAMS/enable_receive_flow_deliver)" "runtime write of enable_receive_flow_deliver $v, loaded with 1"
done
fsk_unload
echo "PASS: $TEST_NAME"
