#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=4
# Review finding 2: REGISTER must take the socket lock and re-check
# TCP_LISTEN. Two threads released together each round (a spinning
# barrier, with an adaptive delay that keeps them meeting): REGISTER(fd,
# CPU 0) against shutdown(fd, SHUT_RD), a fresh socket every round. Once
# both returned, the socket is not listening, so the table must have no
# row for it; then half the sockets listen() again, and all are closed.
# Afterwards no `registered` row may be left and a SPAWN on the same
# address and CPU must work. The old module could link a socket that had
# already left LISTEN: a row that its close() never removes (and a NULL
# dereference on that SPAWN); the program stops at the first such row.
. "$(dirname "$0")/lib.sh"

[ "$(nr_cpus)" -ge 2 ] || fail "needs 2 CPUs"
ROUNDS=${ROUNDS:-10000}
fsk_load
"$PROGS/fsk-review" register-race --rounds "$ROUNDS" --port 8211 >"$WORK/out" 2>&1 ||
	fail "$(grep -E 'FAIL|ERROR' "$WORK/out" | tr '\n' ' ') [$(grep '^rounds=' "$WORK/out")]"
info "$(grep '^rounds=' "$WORK/out")"
assert_eq 0 "$(awk '/^listener /{r=1; next} r && $6 == "registered"' /proc/net/fastsocket | wc -l)" \
	"registered rows left"
fsk_unload
echo "PASS: $TEST_NAME"
