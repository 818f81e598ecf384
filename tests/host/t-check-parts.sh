#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/check --part K/N against tests/check --list, in TAP form: for the
# debug and the RT kernel and N = 1, 3 and 4, parts 1 to N hold every VM
# test run of the whole suite exactly once, and the costliest part costs
# no more than the cheapest plus the costliest single run (what dealing
# each run to the least loaded part guarantees); bad --part arguments
# exit 2 with one line. It lists (--list) and runs nothing: no build, no
# guest.

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
		: >"$tmp/loads"
		for k in $(seq 1 $parts); do
			"$check" --kernel $kernel --part "$k/$parts" --list >"$tmp/p" 2>>"$tmp/err" ||
				bad+=" part $k/$parts failed;"
			cat "$tmp/p" >>"$tmp/parts"
			awk '{ s += $3 } END { print s + 0 }' "$tmp/p" >>"$tmp/loads"
		done
		sort "$tmp/parts" | cmp -s - "$tmp/all" ||
			bad+=" N=$parts: the parts are not the suite once;"
		spread=$(sort -n "$tmp/loads" | sed -n '1p;$p' | paste -sd' ')
		biggest=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$tmp/all")
		read -r min max <<<"$spread"
		((max - min <= biggest)) ||
			bad+=" N=$parts: parts cost $min to $max, more apart than the costliest run ($biggest);"
	done
	if [ -z "$bad" ]; then
		ok "$kernel kernel: parts 1..N are the suite's $(wc -l <"$tmp/all") runs once, parts within one run of each other in cost, N=1, 3, 4"
	else
		not_ok "$kernel kernel:$bad"
	fi
done

exits_2 "--part 0/3: exit 2" "$check" --kernel debug --part 0/3 --list
exits_2 "--part 4/3: exit 2" "$check" --kernel debug --part 4/3 --list
exits_2 "--part on the stock kernel: exit 2" "$check" --part 1/2 --list

tap_done
