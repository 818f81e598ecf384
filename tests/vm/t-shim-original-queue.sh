#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=20 4=23
# No queue starves. nginx under the shim with the module and one worker:
# only the worker's CPU has a local listener, so the SYNs the other CPUs
# take are queued on the original listening socket (the module's
# no_local). The worker takes from its local listener first and from the
# original when a wait showed it ready, when the local one is empty, or
# every 64th accept (Documentation/shim.md, "accept"). Loaded from wrk
# clients pinned half on the worker's CPU, half on another one, every
# connection must be served, none waiting past wrk's timeout (5 s), and
# both queues must have had connections (or the test tested nothing).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)
name=one-worker
d=$WORK/$name

# one_local: the worker's local listener is in the table (PROC_LL_SUM).
one_local() {
	proc_read
	[ "$PROC_LL_SUM" -ge 1 ]
}

shim_client_setup
fsk_load
NGINX_PORT=8310
nginx_start "$d" 1 off
srv=$NGINX_PID
wait_until 30 one_local || { cat /proc/net/fastsocket >&2; fail "no local listener"; }
[ "$PROC_LL_SUM" = 1 ] || { cat /proc/net/fastsocket >&2; fail "$PROC_LL_SUM local listeners, expected 1 (one worker)"; }
wcpu=-1
for ((c = 0; c < N; c++)); do
	[ "${PROC_LL[$c]:-0}" = 0 ] || wcpu=$c
done
other=$(((wcpu + 1) % N))
info "the worker's local listener is on CPU $wcpu; clients on CPUs $wcpu and $other"

echo 0 >/proc/net/fastsocket
shim_nstat
WRK_PIN="$wcpu $other $wcpu $other" wrk_start "$name" "$NGINX_PORT" "$SECS"
wrk_wait "$name"
shim_nstat "$name"
kill -0 $srv 2>/dev/null || fail "nginx died: $(tail -n 5 "$d/error.log")"
shim_assert_wrk "$name"
proc_read
info "$name: $WRK_REQUESTS requests served; SYNs steered to the local listener $PROC_ST_SUM, queued on the original (no_local) $PROC_NL_SUM, existing $PROC_EX_SUM"
[ "$PROC_ST_SUM" -gt 0 ] || fail "no SYN went to the local listener: the test tested nothing"
[ "$PROC_NL_SUM" -gt 0 ] || fail "no SYN was queued on the original: the test tested nothing"
kill -QUIT $srv
rc=0
wait $srv || rc=$?
[ $rc = 0 ] || fail "nginx exited with $rc: $(tail -n 5 "$d/error.log")"
if grep -E "\[(alert|emerg|crit)\]" "$d/error.log" >&2; then
	fail "nginx logged alerts (above)"
fi
fsk_unload
echo "PASS: $TEST_NAME"
