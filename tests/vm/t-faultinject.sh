#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# kernels: debug
# cost: 2=18 4=25
# Allocation failures (failslab and fail_page_alloc, for the asking task
# only: make-it-fail), in the debugging kernel, the only one built with
# fault injection:
#  - module load: insmod with every allocation liable to fail, again and
#    again; each load either succeeds (and unloads) or fails cleanly,
#    leaving no module behind;
#  - the commands: the ioctl fuzzer (progs/fsk-ioctl-fuzz --fail-ioctls)
#    with allocations failing inside its ioctls only, so every error
#    must still be one the ABI documents for the command;
#  - then a server with local listeners serves every connection, and the
#    module unloads.
# The suite's kmemleak scan after the test finds any leak on those error
# paths. FSK_FAULT_LOADS sets the number of loads (40), FSK_FUZZ_CALLS
# the fuzzer's calls (20,000).
. "$(dirname "$0")/lib.sh"

LOADS=${FSK_FAULT_LOADS:-40}
CALLS=${FSK_FUZZ_CALLS:-20000}
DBG=/sys/kernel/debug

[ -d $DBG/failslab ] || mount -t debugfs none $DBG 2>/dev/null || true
if [ ! -d $DBG/failslab ] || [ ! -d $DBG/fail_page_alloc ]; then
	fail "this kernel has no failslab/fail_page_alloc (run with --kernel debug)"
fi

# faults PERCENT [PAGE_PERCENT]: both injectors, for tasks with make-it-fail only, in
# sleeping allocations too, unlimited; verbose 0 (no stack per failure).
# The filter goes first: a moment with a probability and no filter
# would fail any task's allocations (the shell's own exec among them).
faults() {
	local d
	for d in "$DBG/failslab" "$DBG/fail_page_alloc"; do
		echo Y >"$d/task-filter"
		echo 0 >"$d/verbose"
		echo N >"$d/ignore-gfp-wait"
		echo 1 >"$d/interval"
		echo -1 >"$d/times"
		echo 0 >"$d/space"
	done
	echo N >"$DBG/fail_page_alloc/ignore-gfp-highmem"
	echo 0 >"$DBG/fail_page_alloc/min-order"
	echo "$1" >"$DBG/failslab/probability"
	echo "${2:-$1}" >"$DBG/fail_page_alloc/probability"
}
at_exit "echo 0 >$DBG/failslab/probability; echo 0 >$DBG/fail_page_alloc/probability"

fsk_stage "$KO" "$WORK/fastsocket.ko"
[ ! -e /sys/module/fastsocket ] || fail "the module is loaded already"

# Module load under faults (progs/fsk-faultload: the init_module call
# only, not the exec or reads around it): 1 to 10% of allocations fail,
# a new share each time, so that some loads get past the kernel's own
# part into the module's init and fail there.
loaded=0 failed=0 errs=()
for i in $(seq 1 "$LOADS"); do
	faults $((1 + i % 10))
	out=$("$PROGS/fsk-faultload" "$WORK/fastsocket.ko")
	rc=$?
	faults 0
	[ $rc = 0 ] || fail "fsk-faultload could not try (load $i): $out"
	case $out in
	loaded)
		loaded=$((loaded + 1))
		fsk_rmmod 5 || fail "rmmod after load $i"
		;;
	failed*)
		failed=$((failed + 1))
		errs+=("${out#failed }")
		[ ! -e /sys/module/fastsocket ] ||
			fail "load $i failed ($out) but left the module behind"
		;;
	*) fail "fsk-faultload: $out" ;;
	esac
done
info "module loads under faults: $loaded loaded, $failed failed cleanly (${errs[*]:-})"
[ $failed -gt 0 ] || fail "no load failed: the faults were not injected"

# The commands under faults, 5% of their slab allocations. Not page
# allocations: the fuzzer's own page faults between setting make-it-fail
# and the ioctl (its stack, say) would fail and kill it.
fsk_load enable_listen_spawn=2
faults 5 0
"$PROGS/fsk-ioctl-fuzz" --calls "$CALLS" --port 39300 --fail-ioctls \
	>"$WORK/fuzz.out" 2>&1 ||
	fail "fuzzer: $(grep -E 'seed=|not ok|^#   ' "$WORK/fuzz.out" || cat "$WORK/fuzz.out")"
faults 0
grep -E '^(seed=|[A-Za-z ]+: calls=)' "$WORK/fuzz.out" | while read -r l; do info "fuzz: $l"; done
grep -Eq '^(SPAWN|REGISTER): .*ENOMEM=' "$WORK/fuzz.out" ||
	fail "no SPAWN or REGISTER failed with ENOMEM: the faults did not reach the commands"
assert_eq 0 "$(proc_sum 5)" "local listeners left after the fuzzer"

# Service continues, with the module's local listeners.
N=$(nr_cpus)
"$FSKTEST" server --port 8094 --workers "$N" --cpus "$(seq -s, 0 $((N - 1)))" \
	--expect $((N * 50)) --timeout $((120 * TIME_SCALE)) --ready "$WORK/ready" \
	>"$WORK/server" 2>"$WORK/err" &
srv=$!
wait_file "$WORK/ready"
pids=()
for cpu in $(seq 0 $((N - 1))); do
	"$FSKTEST" client --port 8094 --cpu "$cpu" --count 50 >"$WORK/client$cpu" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
wait $srv || fail "server: $(cat "$WORK/err")"
for cpu in $(seq 0 $((N - 1))); do
	assert_eq 0 "$(kv "$WORK/client$cpu" failed)" "failed connections from CPU $cpu"
done
assert_eq $((N * 50)) "$(kv "$WORK/server" via_local)" "accepted from local listeners"
fsk_unload
echo "PASS: $TEST_NAME"
