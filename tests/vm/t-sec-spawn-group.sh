#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=3
# Review finding 3: SPAWN never hands out another reuseport group's copy
# nor a registered socket. [::]:P with a v6only and a dual-stack
# listener (two reuseport groups on one address; not [::1], where bind()
# forces v6only): the dual-stack one's
# copy must be its own (IPV6_V6ONLY 0, another inode). And a SPAWN for a
# CPU where the group has a registered per-worker socket fails EBUSY.
. "$(dirname "$0")/lib.sh"

fsk_load
"$PROGS/fsk-review" spawn-group --port 8221 >"$WORK/out" 2>&1 ||
	fail "$(grep -E 'FAIL|ERROR' "$WORK/out" | tr '\n' ' ')"
grep -E '^(ok|#)' "$WORK/out" | while read -r l; do info "$l"; done
assert_eq 0 "$(proc_sum 5)" "local listeners left"
fsk_unload
echo "PASS: $TEST_NAME"
