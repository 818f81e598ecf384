#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=16
# A worker killed with SIGKILL under load: its local listener closes with
# connections queued. With net.ipv4.tcp_migrate_req=1 the kernel moves
# them to another member of the reuseport group (the original or another
# CPU's local listener), so no client sees a reset.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
[ "$N" -ge 2 ] || fail "needs 2 CPUs"
PER_CPU=10000
TOTAL=$((N * PER_CPU))
sysctl_set net.ipv4.tcp_migrate_req 1

fsk_load
"$FSKTEST" server --port 8085 --workers "$N" --cpus "$(seq -s, 0 $((N - 1)))" \
	--expect $TOTAL --timeout $((500 * TIME_SCALE)) --ready "$WORK/ready" \
	>"$WORK/server" 2>"$WORK/err" &
srv=$!
wait_file "$WORK/ready"
pids=()
for cpu in $(seq 0 $((N - 1))); do
	# Time enough for 4 emulated vCPUs on 2 host cores (about 80 s).
	"$FSKTEST" client --port 8085 --cpu "$cpu" --count $PER_CPU --timeout $((400 * TIME_SCALE)) \
		>"$WORK/client$cpu" &
	pids+=($!)
done
# Kill once the load is on: a tenth of the SYNs steered.
steered_a_tenth() { [ "$(proc_sum 2)" -ge $((TOTAL / 10)) ]; }
wait_until -i 0.05 60 steered_a_tenth || true
victim=$(pgrep -P $srv | tail -n1 || true)
[ -n "$victim" ] || fail "no worker left to kill (server already done?)"
kill -9 "$victim"
info "killed worker $victim after $(proc_sum 2) of $TOTAL SYNs"
for p in "${pids[@]}"; do wait "$p" || true; done
# The clients are the truth: a connection counts as served when the server
# side closed it. (The victim may die between accept and its counter.)
kill -TERM $srv 2>/dev/null || true
wait $srv || fail "server: $(cat "$WORK/err")"
for cpu in $(seq 0 $((N - 1))); do
	assert_eq 0 "$(kv "$WORK/client$cpu" failed)" "failed connections from CPU $cpu"
	assert_eq $PER_CPU "$(kv "$WORK/client$cpu" ok)" "served connections from CPU $cpu"
done
info "server accepted $(kv "$WORK/server" accepted) of $TOTAL"
assert_eq 1 "$(kv "$WORK/server" workers_lost)" "workers killed"
# The dead worker's local listener left the table; the others stayed
# until their workers exited.
assert_eq 0 "$(proc_sum 5)" "local listeners left"
echo "PASS: $TEST_NAME"
