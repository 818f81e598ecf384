#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=5 4=8
# Review finding 8: no cross-tenant effects.
#  (a) Placement load is per netns and per owner: uid 65534 SPAWNs and
#      closes a copy on CPU 0 1,000 times (holding one fd of it); then
#      FASTSOCKET_CPU_AUTO for root's listener, and for one in another
#      netns, must still pick CPU 0, the lowest unloaded CPU.
#  (b) /proc/net/fastsocket shows pids as seen by the reader: inside a
#      pid namespace the spawner's own getpid(), outside its host pid.
. "$(dirname "$0")/lib.sh"

[ "$(nr_cpus)" -ge 2 ] || fail "needs 2 CPUs"

fsk_load enable_listen_spawn=2

# A directory uid 65534 can write its ready file to.
chmod o+x "$WORK"
mkdir -m 1777 "$WORK/shared"
"$PROGS/fsk-review" load-inflate --uid 65534 --port 8301 --rounds 1000 \
	--ready "$WORK/shared/inflated" >"$WORK/inflate.out" 2>&1 &
inflater=$!
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do
	[ -e "$WORK/shared/inflated" ] && break
	kill -0 "$inflater" 2>/dev/null || break
	sleep 0.1
done
[ -e "$WORK/shared/inflated" ] || fail "inflater: $(cat "$WORK/inflate.out")"
info "$(grep '^inflater:' "$WORK/inflate.out")"
info "uid 65534's copy: $(awk '/^listener /{r=1; next} r && $1 ~ /:8301$/' /proc/net/fastsocket)"
"$PROGS/fsk-review" auto-pick --uid 0 --port 8302 >"$WORK/pick.out" 2>&1 ||
	fail "auto-pick: $(cat "$WORK/pick.out")"
check_eq 0 "$(kv "$WORK/pick.out" auto_cpu)" "AUTO pick for another user's listener after uid 65534's spawns on CPU 0"
netns_add fsk-t8
ip netns exec fsk-t8 "$PROGS/fsk-review" auto-pick --uid 0 --port 8303 >"$WORK/pickns.out" 2>&1 ||
	fail "auto-pick in a netns: $(cat "$WORK/pickns.out")"
check_eq 0 "$(kv "$WORK/pickns.out" auto_cpu)" "AUTO pick in another netns after uid 65534's spawns on CPU 0"
kill "$inflater"
wait "$inflater" 2>/dev/null || true

unshare --pid --fork --mount-proc "$PROGS/fsk-review" pidns --port 8304 \
	--ready "$WORK/pidns.ready" --go "$WORK/pidns.go" >"$WORK/pidns.out" 2>&1 &
ushare=$!
wait_file "$WORK/pidns.ready" 30
# pgrep, not /proc/PID/task/PID/children: the debug kernel is built
# without CONFIG_PROC_CHILDREN.
host_pid=$(pgrep -P "$ushare") || fail "no child of unshare ($ushare)"
row_pid=$(awk '/^listener /{r=1; next} r && $1 ~ /:8304$/ {print $4}' /proc/net/fastsocket)
info "inside: $(grep '^getpid=' "$WORK/pidns.out"); host pid $host_pid, init-netns row pid $row_pid"
touch "$WORK/pidns.go"
wait "$ushare" || errors+=("in the pid namespace: $(grep -E 'FAIL|ERROR' "$WORK/pidns.out" | tr '\n' ' ')")
check_eq "$host_pid" "$row_pid" "pid column read from the init pid namespace"
check_errors
fsk_unload
echo "PASS: $TEST_NAME"
