#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=32 4=105
# net.fastsocket.* sysctls: every netns has the table (one that existed
# before insmod too); listen_spawn is per netns and unwatched_grace_ms
# global, each changed at runtime while a server in netns "a" serves
# loopback clients on every CPU: no connection fails, and the counters
# show the change (unwatched_grace_ms's: tests/vm/t-park.sh). Invalid
# writes are EINVAL with a log line and change nothing.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
CPUS=$(seq -s, 0 $((N - 1)))
PORT=8200
K=30	# SYNs per observation window
SYS=/proc/sys/net/fastsocket
PARAMS=/sys/module/fastsocket/parameters

# in_ns NETNS CMD...: CMD in NETNS ("" for this one).
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@"
	else
		"$@"
	fi
}

knob() { # netns name
	in_ns "$1" cat "$SYS/$2"
}

set_knob() { # netns name value
	in_ns "$1" tee "$SYS/$2" <<<"$3" >/dev/null ||
		fail "writing $3 to net.fastsocket.$2 in netns '$1' failed"
}

# bad_write NETNS NAME VALUE ERROR: the write must fail with ERROR.
bad_write() {
	local out
	if out=$(in_ns "$1" tee "$SYS/$2" <<<"$3" 2>&1 >/dev/null); then
		fail "net.fastsocket.$2='$3' accepted in netns '$1'"
	fi
	case $out in
	*"$4"*) ;;
	*) fail "net.fastsocket.$2='$3' in netns '$1': expected '$4', got: $out" ;;
	esac
}

at_least() { # column netns min
	[ "$(proc_sum "$1" "$2")" -ge "$3" ]
}

# grow COLUMN BY WHAT: wait until COLUMN of netns a grew by BY.
grow() {
	local base
	base=$(proc_sum "$1" a)
	wait_until 90 at_least "$1" a $((base + $2)) ||
		fail "$3: column $1 of netns a did not grow by $2 in 90 s"
}

# --- the table in every netns, and invalid writes ---
netns_add pre
fsk_load
netns_add a
netns_add b
for ns in "" pre a b; do
	assert_eq 2 "$(knob "$ns" listen_spawn)" "listen_spawn in netns '$ns'"
	assert_eq 10 "$(knob "$ns" unwatched_grace_ms)" "unwatched_grace_ms in netns '$ns'"
done
for k in fast_epoll receive_flow_deliver; do
	[ ! -e "$SYS/$k" ] || fail "$SYS/$k exists: that knob does nothing yet"
done

dmesg -C
bad_write a listen_spawn 3 "Invalid argument"
dmesg | grep -q "fastsocket: net.fastsocket.listen_spawn: invalid value: use" ||
	fail "no log line for an invalid listen_spawn: $(dmesg | tail -n3)"
for v in -1 abc 1x 99999999999; do
	bad_write a listen_spawn "$v" "Invalid argument"
done
dmesg -C
bad_write "" unwatched_grace_ms 60001 "Invalid argument"
dmesg | grep -q "fastsocket: net.fastsocket.unwatched_grace_ms: invalid value: use" ||
	fail "no log line for an invalid unwatched_grace_ms: $(dmesg | tail -n3)"
for v in -1 abc 1x 99999999999; do
	bad_write "" unwatched_grace_ms "$v" "Invalid argument"
done
# Global: only the initial netns may change it.
bad_write a unwatched_grace_ms 20 "Permission denied"
assert_eq 2 "$(knob a listen_spawn)" "listen_spawn after refused writes"
assert_eq 10 "$(knob "" unwatched_grace_ms)" "unwatched_grace_ms after refused writes"

# The parameter and the global sysctl are one value.
echo 200 >$PARAMS/unwatched_grace_ms
assert_eq 200 "$(knob b unwatched_grace_ms)" "sysctl after a parameter write"
set_knob "" unwatched_grace_ms 300
assert_eq 300 "$(cat $PARAMS/unwatched_grace_ms)" "parameter after a sysctl write"
set_knob "" unwatched_grace_ms 10

# enable_listen_spawn: the initial netns's value and the one new netns
# start with; the netns that exist keep theirs.
echo 1 >$PARAMS/enable_listen_spawn
assert_eq 1 "$(knob "" listen_spawn)" "initial netns after enable_listen_spawn=1"
assert_eq 2 "$(knob b listen_spawn)" "netns b after enable_listen_spawn=1"
netns_add c
assert_eq 1 "$(knob c listen_spawn)" "netns created after enable_listen_spawn=1"
echo 2 >$PARAMS/enable_listen_spawn

# --- runtime changes under load in netns a ---
rm -f "$WORK/ready" "$WORK/stop"
ip netns exec a "$FSKTEST" server --port $PORT --workers "$N" --cpus "$CPUS" \
	--spawn cpu --expect 0 --timeout $((600 * TIME_SCALE)) --ready "$WORK/ready" \
	>"$WORK/server" 2>"$WORK/server.err" &
srv=$!
wait_file "$WORK/ready" 60
clients=()
for cpu in $(seq 0 $((N - 1))); do
	ip netns exec a "$FSKTEST" client --port $PORT --cpu "$cpu" \
		--count 1000000 --timeout $((500 * TIME_SCALE)) --stop-file "$WORK/stop" \
		>"$WORK/client$cpu" 2>"$WORK/client$cpu.err" &
	clients+=($!)
done
grow 2 $K "steering before any change"

# listen_spawn 0 in a: its SYNs take the kernel's choice (no_local), b keeps 2.
set_knob a listen_spawn 0
assert_eq 2 "$(knob b listen_spawn)" "netns b after listen_spawn=0 in a"
ip netns exec a "$FSKTEST" info >"$WORK/info"
assert_eq 0 "$(kv "$WORK/info" enable_listen_spawn)" "FASTSOCKET_IOC_INFO in a"
if ip netns exec a "$FSKTEST" spawn-as-user 0 $((PORT + 1)) >"$WORK/spawn"; then
	fail "SPAWN succeeded in a with listen_spawn 0"
fi
assert_eq 95 "$(sed -n 's/^spawn_errno=//p' "$WORK/spawn")" "SPAWN errno (EOPNOTSUPP) with listen_spawn 0"
grow 3 $K "listen_spawn 0: SYNs the kernel places"
st0=$(proc_sum 2 a)
grow 3 $K "listen_spawn 0: SYNs the kernel places"
assert_eq "$st0" "$(proc_sum 2 a)" "SYNs steered in a while listen_spawn is 0"
info "listen_spawn 0: steered stayed at $st0 while no_local reached $(proc_sum 3 a)"

set_knob a listen_spawn 2
nl0=$(proc_sum 3 a)
grow 2 $K "listen_spawn back to 2"
info "listen_spawn 2 again: steered $(proc_sum 2 a), no_local $nl0 -> $(proc_sum 3 a)"

# unwatched_grace_ms 60000 and 0 under load: nothing lost. These epoll
# workers are always watched, so neither changes where a SYN goes here;
# the effect (a listener nobody waits on keeps its CPU's SYNs for the
# grace, or loses them at once) is tests/vm/t-park.sh's unwatched phase,
# run with 10 and with 60000. A stopped worker shows no effect either:
# the epoll set holding its local listener stays on the socket's wait
# queue.
set_knob "" unwatched_grace_ms 60000
grow 2 $K "unwatched_grace_ms 60000"
set_knob "" unwatched_grace_ms 0
grow 2 $K "unwatched_grace_ms 0"
set_knob "" unwatched_grace_ms 10
grow 2 $K "unwatched_grace_ms back to 10"

touch "$WORK/stop"
rc=0
for p in "${clients[@]}"; do wait "$p" || rc=1; done
kill -TERM "$srv"
wait "$srv" || fail "server failed: $(cat "$WORK/server.err")"
served=0
for cpu in $(seq 0 $((N - 1))); do
	assert_eq 0 "$(kv "$WORK/client$cpu" failed)" "failed connections from CPU $cpu: $(cat "$WORK/client$cpu.err")"
	served=$((served + $(kv "$WORK/client$cpu" ok)))
done
[ $rc = 0 ] || fail "a client failed"
assert_eq "$served" "$(kv "$WORK/server" accepted)" "connections accepted"
info "connections served across all changes: $served, failed: 0"
assert_eq 2 "$(knob a listen_spawn)" "listen_spawn in a at the end"
fsk_unload
echo "PASS: $TEST_NAME"
