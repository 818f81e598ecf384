#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=6
# Review finding 4: no global lock may be held across user memory.
# Process A (root) SPAWNs with its argument in a userfaultfd
# write-protected page: copy_from_user works, the copy_to_user of the
# result faults and A's handler holds the fault for 3 s. Meanwhile B
# (uid 65534, its own listener) SPAWNs: it must finish in < 0.5 s.
. "$(dirname "$0")/lib.sh"

fsk_load
"$PROGS/fsk-review" mutex --port 8231 --uid 65534 --hold-ms 3000 >"$WORK/out" 2>&1 ||
	fail "$(grep -E 'FAIL|ERROR' "$WORK/out" | tr '\n' ' ') [$(grep '_ms=' "$WORK/out")]"
info "$(grep '_ms=' "$WORK/out")"
fsk_unload
echo "PASS: $TEST_NAME"
