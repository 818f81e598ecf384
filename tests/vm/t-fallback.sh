#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=6
# A CPU without a local listener is served by the original listener
# (the kernel's own reuseport choice); the module counts those SYNs.
. "$(dirname "$0")/lib.sh"

[ "$(nr_cpus)" -ge 2 ] || fail "needs 2 CPUs"
COUNT=200
fsk_load
echo 0 >/proc/net/fastsocket
# One worker on CPU 0 with a local listener; it also accepts on the
# original listener. Clients on CPU 1, where nothing is local.
"$FSKTEST" server --port 8081 --workers 1 --cpus 0 --expect $COUNT \
	--timeout $((60 * TIME_SCALE)) --ready "$WORK/ready" >"$WORK/server" 2>"$WORK/err" &
srv=$!
wait_file "$WORK/ready"
"$FSKTEST" client --port 8081 --cpu 1 --count $COUNT >"$WORK/client" ||
	fail "client: $(cat "$WORK/client")"
wait $srv || fail "server: $(cat "$WORK/err")"
assert_eq 0 "$(kv "$WORK/client" failed)" "failed connections"
assert_eq $COUNT "$(kv "$WORK/server" accepted)" "accepted"
assert_eq 0 "$(proc_cpu 2 1)" "SYNs steered on CPU 1 (no local listener there)"
assert_eq $COUNT "$(proc_cpu 3 1)" "SYNs counted as no_local on CPU 1"
# Without the module, the same server still works: pass-through.
fsk_unload
"$FSKTEST" server --port 8081 --workers 1 --cpus 0 --spawn none \
	--expect $COUNT --timeout $((60 * TIME_SCALE)) --ready "$WORK/ready2" >"$WORK/server2" 2>&1 &
srv=$!
wait_file "$WORK/ready2"
"$FSKTEST" client --port 8081 --cpu 1 --count $COUNT >"$WORK/client2" ||
	fail "client without module: $(cat "$WORK/client2")"
wait $srv
echo "PASS: $TEST_NAME"
