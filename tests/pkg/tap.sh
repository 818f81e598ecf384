# SPDX-License-Identifier: GPL-2.0
# TAP for the packaging tests (tests/pkg/*.sh): "ok N - name" or
# "not ok N - name" followed by the evidence behind "# ", and the plan at
# the end; tap_done exits non-zero when anything failed.
# shellcheck shell=bash

TAP_N=0
TAP_FAILED=0

# tap NAME CMD...: one result, CMD's output shown only when it fails.
tap() {
	local name=$1 out
	shift
	TAP_N=$((TAP_N + 1))
	if out=$("$@" 2>&1); then
		echo "ok $TAP_N - $name"
	else
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $name"
		printf '%s\n' "$out" | tail -n 30 | sed 's/^/# /'
	fi
}

# tap_bail NAME REASON: a prerequisite is missing; nothing else can run.
tap_bail() {
	echo "not ok $((TAP_N + 1)) - $1: $2"
	echo "1..$((TAP_N + 1))"
	exit 1
}

tap_done() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" = 0 ]
}

# quiet CMD...: succeed when CMD succeeds and writes nothing on stderr
# (man and groff report warnings on stderr and still exit 0).
quiet() {
	local err
	err=$("$@" 2>&1 >/dev/null) || { printf '%s\n' "$err"; return 1; }
	[ -z "$err" ] || { printf '%s\n' "$err"; return 1; }
}
