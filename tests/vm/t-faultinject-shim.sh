#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# kernels: debug
# cost: 2=17 4=25
# The shim when the module cannot make a local listener for lack of
# memory. failslab fails allocations from the TCP socket cache
# (cache-filter; the runner marks it: slub_debug=A,TCP) made in the context of Debian's nginx (task-filter:
# nginx starts with make-it-fail, which its workers inherit), except the
# first one, the master's listening socket (space): so the module's copy
# of the listener (its sk_alloc() in FASTSOCKET_IOC_SPAWN, called by each
# worker under the shim) fails for real, as does the socket of a
# userspace sibling, while connections (allocated in softirq) and
# everything else are left alone. A worker whose copy failed takes the
# shim's userspace fallback if it can, else it passes through, unpinned.
# Rounds: "all", every such allocation fails: every worker passes
# through and none stays pinned; "one", only the first one fails (times):
# one worker passes through, the others get the module's local
# listener. In both, wrk's load gets
# no error and only 2xx responses, nginx logs no alert and exits
# cleanly, and no local listener is left afterwards; the suite's
# kmemleak scan checks the module's error path for leaks. The failures
# injected are counted from the kernel log (failslab, verbose).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-5}
N=$(nr_cpus)
DBG=/sys/kernel/debug
FS=$DBG/failslab
CACHE=/sys/kernel/slab/TCP
ENOMEM_SAID="FASTSOCKET_IOC_SPAWN: Cannot allocate memory; using the userspace fallback"

[ -d $FS ] || mount -t debugfs none $DBG 2>/dev/null || true
[ -d $FS ] || fail "this kernel has no failslab (run with --kernel debug)"
[ "$(cat $CACHE/failslab 2>/dev/null)" = 1 ] ||
	fail "the TCP cache is not marked for failslab: boot with slub_debug=A,TCP (tests/vm/run --kernel debug does)"
shim_client_setup
fsk_load
# The filters go first: a probability without them fails anyone.
echo Y >$FS/task-filter
echo Y >$FS/cache-filter
echo N >$FS/ignore-gfp-wait
echo 1 >$FS/verbose
echo 1 >$FS/interval
echo 0 >$FS/probability
at_exit "echo 0 >$FS/probability; echo N >$FS/cache-filter; echo 0 >$FS/space; echo 0 >$FS/verbose; echo -1 >$FS/times"
# nginx and every process it forks ask for the faults.
cat >"$WORK/nginx-failing" <<EOF
#!/bin/sh
echo 1 >/proc/self/make-it-fail || exit 1
exec /usr/sbin/nginx "\$@"
EOF
chmod 755 "$WORK/nginx-failing"

# injected: failures failslab reported in the kernel log so far.
injected() {
	dmesg | grep -c 'name failslab, interval' || true
}

# settled LOG BEFORE: each of the N workers has made the module's local
# listener (said in LOG) or had an allocation fail (BEFORE: failures
# before).
settled() {
	[ $(($(grep -c "$SHIM_MADE" "$1") + $(injected) - $2)) -ge "$N" ]
}

# fault_case NAME TIMES: nginx under the shim while allocations from the
# TCP cache in its processes fail (TIMES of them; -1: all), after the
# master's listener; sets MODULE and SIBLING (workers with the module's
# local listener, with a userspace sibling), PASSED (the others) and
# INJECTED, and checks that exactly the workers with a local listener
# are pinned.
fault_case() {
	local name=$1 d=$WORK/$1 before rc w cpus pinned=0
	# The master's listening socket passes: space is one object.
	echo $(($(cat $CACHE/object_size) + 1)) >$FS/space
	echo "$2" >$FS/times
	echo 100 >$FS/probability
	before=$(injected)
	NGINX=$WORK/nginx-failing nginx_start "$d" "$N" off
	wait_until 30 settled "$d/error.log" "$before" ||
		fail "$name: the workers did not settle: $(grep fastsocket "$d/error.log" | head -n 8)"
	echo 0 >$FS/probability
	INJECTED=$(($(injected) - before))
	MODULE=$(grep -c "$SHIM_MADE" "$d/error.log" || true)
	SIBLING=$(grep -c "local listener fd .* (userspace" "$d/error.log" || true)
	PASSED=$((N - MODULE - SIBLING))
	for w in $(pgrep -P "$NGINX_PID"); do
		cpus=$(sed -n 's/^Cpus_allowed_list:\t*//p' "/proc/$w/status")
		[ "$cpus" = "0-$((N - 1))" ] || pinned=$((pinned + 1))
	done
	info "$name: $INJECTED failures injected; workers with the module's local listener $MODULE, with a userspace sibling $SIBLING, passing through $PASSED; workers pinned $pinned"
	assert_eq $((MODULE + SIBLING)) "$pinned" "$name: workers pinned (those with a local listener)"
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

fault_case all -1
grep -q "$ENOMEM_SAID" "$WORK/all/error.log" ||
	fail "all: the shim did not say that FASTSOCKET_IOC_SPAWN failed with ENOMEM"
[ "$INJECTED" -ge "$N" ] || fail "all: $INJECTED failures injected, fewer than the $N workers"
assert_eq 0 "$MODULE" "all: workers with the module's local listener"
assert_eq 0 "$SIBLING" "all: workers with a userspace sibling"

fault_case one 1
assert_eq 1 "$INJECTED" "one: failures injected"
assert_eq $((N - 1)) "$MODULE" "one: workers with the module's local listener"
fsk_unload
echo "PASS: $TEST_NAME"
