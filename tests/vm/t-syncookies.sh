#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=5
# tcp_syncookies=2 (cookies for every SYN): no request sockets exist, the
# final ACK takes the normal listener lookup and cookie check. Local
# listeners sit in the original's reuseport group, so every connection
# must complete.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
PER_CPU=150
sysctl_set net.ipv4.tcp_syncookies 2
fsk_load
"$FSKTEST" server --port 8082 --workers "$N" --cpus "$(seq -s, 0 $((N - 1)))" \
	--expect $((N * PER_CPU)) --timeout $((90 * TIME_SCALE)) --ready "$WORK/ready" \
	>"$WORK/server" 2>"$WORK/err" &
srv=$!
wait_file "$WORK/ready"
pids=()
for cpu in $(seq 0 $((N - 1))); do
	"$FSKTEST" client --port 8082 --cpu "$cpu" --count $PER_CPU \
		>"$WORK/client$cpu" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
wait $srv || fail "server: $(cat "$WORK/err")"
for cpu in $(seq 0 $((N - 1))); do
	assert_eq 0 "$(kv "$WORK/client$cpu" failed)" "failed connections from CPU $cpu"
	assert_eq $PER_CPU "$(kv "$WORK/client$cpu" ok)" "completed connections from CPU $cpu"
done
assert_eq $((N * PER_CPU)) "$(kv "$WORK/server" accepted)" "accepted"
sent=$(nstat -az TcpExtSyncookiesSent 2>/dev/null | awk '/SyncookiesSent/{print $2}')
info "syncookies sent: ${sent:-unknown}"
echo "PASS: $TEST_NAME"
