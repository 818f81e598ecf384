#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/check --part K/N against tests/check --list, in TAP form: for the
# debug and the RT kernel and N = 1, 3 and 4, parts 1 to N hold every VM test
# run of the whole suite exactly once, no part differs from another by
# more than one run, and bad --part arguments exit 2 with one line. It
# lists (--list) and runs nothing: no build, no guest.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd -P)
check=$top/tests/check
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"

for kernel in debug rt; do
	"$check" --kernel $kernel --list | sort >"$tmp/all" 2>"$tmp/err"
	bad=
	[ -s "$tmp/all" ] || bad="the whole suite lists nothing: $(cat "$tmp/err")"
	for parts in 1 3 4; do
		: >"$tmp/parts"
		min=999999 max=0
		for k in $(seq 1 $parts); do
			"$check" --kernel $kernel --part "$k/$parts" --list >"$tmp/p" 2>>"$tmp/err" ||
				bad+=" part $k/$parts failed;"
			cat "$tmp/p" >>"$tmp/parts"
			c=$(wc -l <"$tmp/p")
			((c < min)) && min=$c
			((c > max)) && max=$c
		done
		sort "$tmp/parts" | cmp -s - "$tmp/all" ||
			bad+=" N=$parts: the parts are not the suite once;"
		((max - min <= 1)) || bad+=" N=$parts: parts of $min to $max runs;"
	done
	if [ -z "$bad" ]; then
		ok "$kernel kernel: parts 1..N are the suite's $(wc -l <"$tmp/all") runs once, N=1, 3, 4"
	else
		not_ok "$kernel kernel:$bad"
	fi
done

# bad_part NAME ARGS...: exit 2, one line on stderr, nothing on stdout.
bad_part() {
	local name=$1 rc
	shift
	"$check" "$@" --list >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && [ ! -s "$tmp/out" ]; then
		ok "$name"
	else
		not_ok "$name (exit $rc)"
		sed 's/^/# /' "$tmp/err"
	fi
}

bad_part "--part 0/3: exit 2" --kernel debug --part 0/3
bad_part "--part 4/3: exit 2" --kernel debug --part 4/3
bad_part "--part on the stock kernel: exit 2" --part 1/2

tap_done
