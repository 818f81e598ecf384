# SPDX-License-Identifier: GPL-2.0
# TAP for the host tests (tests/host/t-*.sh): ok/not_ok number the
# results, tap_done prints the plan and fails if any result failed; $tmp
# is a scratch directory removed on exit.
# shellcheck shell=bash
# shellcheck disable=SC2034 # tmp: used by the callers

tmp=$(mktemp -d)
n=0
failed=0
trap 'rm -rf "$tmp"' EXIT

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

tap_done() {
	echo "1..$n"
	[ "$failed" = 0 ]
}

# exits_2 NAME CMD [ARG...]: CMD's bad usage, as every tool here reports
# it: exit status 2, one line on stderr, nothing on stdout.
exits_2() {
	local name=$1 rc
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && [ ! -s "$tmp/out" ]; then
		ok "$name"
	else
		not_ok "$name (exit $rc)"
		sed 's/^/# /' "$tmp/err"
	fi
}
