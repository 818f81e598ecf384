#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=5 4=7
# Review finding 9: CPU hotplug. A worker SPAWNs with FASTSOCKET_CPU_AUTO
# (enable_listen_spawn=2) and is pinned to CPU c >= 1. Taking c offline
# breaks the pin (the kernel's doing); bringing it back online, the
# module must re-pin the worker to exactly c within 2 s. Then clients
# pinned to c are accepted by the worker from its local listener, on c,
# and the module counts them as steered on c.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
[ "$N" -ge 2 ] || fail "needs 2 CPUs"
C=$((N - 1))
ONLINE=/sys/devices/system/cpu/cpu$C/online
[ -w "$ONLINE" ] || fail "CPU $C cannot be taken offline"
COUNT=100

fsk_load enable_listen_spawn=2
echo 0 >/proc/net/fastsocket
"$PROGS/fsk-review" hotplug-worker --port 8311 --cpu "$C" --count $COUNT \
	--ready "$WORK/ready" --go "$WORK/go" >"$WORK/worker.out" 2>&1 &
worker=$!
wait_file "$WORK/ready" 30
allowed() {
	awk '/^Cpus_allowed_list:/ {print $2}' "/proc/$worker/status"
}
assert_eq "$C" "$(allowed)" "worker's Cpus_allowed_list after the AUTO spawn"

at_exit "echo 1 >$ONLINE"
echo 0 >"$ONLINE"
sleep 0.5
info "CPU $C offline: worker's Cpus_allowed_list $(allowed)"
[ "$(allowed)" != "$C" ] || fail "the kernel kept the worker on offline CPU $C?"
echo 1 >"$ONLINE"
start=$(date +%s%N)
repinned=
while :; do
	ms=$((($(date +%s%N) - start) / 1000000))
	if [ "$(allowed)" = "$C" ]; then
		repinned=$ms
		break
	fi
	[ $ms -lt 2000 ] || break
	sleep 0.05
done
[ -n "$repinned" ] || fail "worker not re-pinned to CPU $C within 2 s of its coming back online: Cpus_allowed_list $(allowed)"
info "re-pinned to CPU $C ${repinned} ms after it came back online"

touch "$WORK/go"
"$FSKTEST" client --addr 127.0.0.1 --port 8311 --cpu "$C" --count $COUNT \
	--timeout $((60 * TIME_SCALE)) >"$WORK/client" || fail "clients: $(cat "$WORK/client")"
wait "$worker" || fail "worker: $(grep -E 'FAIL|ERROR' "$WORK/worker.out" | tr '\n' ' ')"
info "$(grep '^accepted' "$WORK/worker.out")"
assert_eq $COUNT "$(proc_cpu 2 "$C")" "SYNs steered on CPU $C"
fsk_unload
echo "PASS: $TEST_NAME"
