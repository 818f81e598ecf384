#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=25
# Review finding 5: the close probe runs in tracepoint (preempt-off)
# context and must not take a sleeping lock; on PREEMPT_RT a contended
# spinlock_t there is "BUG: scheduling while atomic" (the runner fails
# on the splat). Two threads per CPU SPAWN (one for its own CPU, one for
# the next), PARK on and off and close copies of one listener, while a
# client connects, for STRESS_SECONDS. Meant for the RT kernel:
#   make module-rt && tests/vm/run --kernel rt -- tests/vm/suite tests/vm/t-sec-rt-stress.sh
# On the stock kernel it is a plain stress run.
. "$(dirname "$0")/lib.sh"

[ "$(nr_cpus)" -ge 2 ] || fail "needs 2 CPUs"
SECONDS_=${STRESS_SECONDS:-20}
if uname -v | grep -q PREEMPT_RT; then
	info "PREEMPT_RT kernel $(uname -r)"
else
	info "not a PREEMPT_RT kernel ($(uname -r)): stress only"
fi
fsk_load
rc=0
"$PROGS/fsk-review" rt-stress --port 8251 --seconds "$SECONDS_" >"$WORK/out" 2>&1 || rc=$?
grep -E '^(thread|rounds)' "$WORK/out" | while read -r l; do info "$l"; done
[ $rc = 0 ] || fail "$(grep -E 'FAIL|ERROR' "$WORK/out" | tr '\n' ' ')"
assert_eq 0 "$(proc_sum 5)" "local listeners left"
fsk_unload
echo "PASS: $TEST_NAME"
