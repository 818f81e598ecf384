#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# kernels: debug
# The shim when the module cannot make a local listener for lack of
# memory: the debugging kernel's fail_function fails the module's
# listener copy (fsk_clone_listener(), -ENOMEM, as a failed allocation in
# it returns), for every task, while Debian's nginx starts under the
# shim with one worker per CPU. Round "all": every copy fails: each
# worker logs the ENOMEM and takes the userspace fallback, the module
# holds no local listener. Round "every-other": every second copy fails:
# some workers get the module's local listener, the others the fallback.
# In both, wrk's load gets no error and only 2xx responses, nginx logs no
# alert and exits cleanly, and no local listener is left afterwards; the
# suite's kmemleak scan checks the error path for leaks. The failures
# injected are counted from the kernel log (fail_function, verbose).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-5}
N=$(nr_cpus)
DBG=/sys/kernel/debug
FF=$DBG/fail_function
FN=fsk_clone_listener
ENOMEM_SAID="FASTSOCKET_IOC_SPAWN: Cannot allocate memory; using the userspace fallback"

[ -d $FF ] || mount -t debugfs none $DBG 2>/dev/null || true
[ -d $FF ] || fail "this kernel has no fail_function (run with --kernel debug)"
shim_client_setup
fsk_load
grep -qx "$FN.*" $FF/injectable ||
	fail "$FN is not in $FF/injectable: the module was built without CONFIG_FUNCTION_ERROR_INJECTION"
echo $FN >$FF/inject || fail "cannot inject into $FN"
at_exit "echo >$FF/inject"
printf '%#x' -12 >$FF/$FN/retval
echo N >$FF/task-filter
echo -1 >$FF/times
echo 0 >$FF/space
echo 1 >$FF/verbose

# injected: failures fail_function reported in the kernel log so far.
injected() {
	dmesg | grep -c 'name fail_function, interval' || true
}

# settled FILE: each of the N workers has made its local listener or
# taken the fallback.
settled() {
	[ "$(grep -cE "$SHIM_MADE|$ENOMEM_SAID" "$1")" -ge "$N" ]
}

# fault_case NAME INTERVAL: nginx under the shim while every INTERVAL-th
# copy fails; sets MADE and FELL (workers with the module's local
# listener, workers on the fallback) and INJECTED.
fault_case() {
	local name=$1 d=$WORK/$1 before rc
	echo 100 >$FF/probability
	echo "$2" >$FF/interval
	before=$(injected)
	nginx_start "$d" "$N" off
	wait_until 30 settled "$d/error.log" ||
		fail "$name: the workers did not settle: $(grep fastsocket "$d/error.log" | head -n 5)"
	echo 0 >$FF/probability
	INJECTED=$(($(injected) - before))
	MADE=$(grep -cE "$SHIM_MADE" "$d/error.log" || true)
	FELL=$(grep -c "$ENOMEM_SAID" "$d/error.log" || true)
	info "$name: $INJECTED failures injected; workers with the module's local listener $MADE, on the fallback after ENOMEM $FELL"
	wrk_start "$name" "$NGINX_PORT" "$SECS"
	wrk_wait "$name"
	kill -0 "$NGINX_PID" 2>/dev/null || fail "$name: nginx died: $(tail -n 5 "$d/error.log")"
	shim_assert_wrk "$name"
	kill -QUIT "$NGINX_PID"
	rc=0
	wait "$NGINX_PID" || rc=$?
	[ $rc = 0 ] || fail "$name: nginx exited with $rc: $(tail -n 5 "$d/error.log")"
	if grep -E "\[(alert|emerg|crit)\]" "$d/error.log" >&2; then
		fail "$name: nginx logged alerts (above)"
	fi
	assert_eq 0 "$(proc_sum 5)" "$name: local listeners left after nginx exited"
}

fault_case all 1
assert_eq 0 "$MADE" "all: workers with the module's local listener"
assert_eq "$N" "$FELL" "all: workers on the fallback after ENOMEM"
[ "$INJECTED" -ge "$N" ] || fail "all: $INJECTED failures injected, fewer than the $N workers"

fault_case every-other 2
[ "$MADE" -ge 1 ] || fail "every-other: no worker got the module's local listener"
[ "$FELL" -ge 1 ] || fail "every-other: no worker took the fallback"
assert_eq "$N" $((MADE + FELL)) "every-other: workers with a local listener or the fallback"
[ "$INJECTED" -ge 1 ] || fail "every-other: no failure injected"
echo >$FF/inject
fsk_unload
echo "PASS: $TEST_NAME"
