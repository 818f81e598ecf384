#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/reliability-table against the fixture logs directories in
# tests/host/reliability/ (lines of real runs, trimmed; its README says
# which), in TAP form: the rows and per-kernel totals with the figures
# the fixture's lines give, the header (commit from the logs directory's
# "commit" file or --commit, tests/check's summary, kernel releases, a
# kernel not run), a row for a test the tool has no pattern for, a
# changed figure changing the row, --update between the markers only,
# the parts of a split run (tests/check --part K/N: all there on one
# code, one missing, different code), and exit 2 on bad usage. No
# kernel, no guest.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd -P)
tool=$top/tools/reliability-table
fix=$top/tests/host/reliability
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"

# has NAME FILE LINE...: each LINE is a whole line of FILE.
has() {
	local name=$1 file=$2 line missing=0
	shift 2
	for line in "$@"; do
		grep -qFx -- "$line" "$file" && continue
		missing=1
		echo "# missing: $line"
	done
	if [ $missing = 0 ]; then ok "$name"; else not_ok "$name"; sed 's/^/#   /' "$file"; fi
}

echo "1..13"

"$tool" --commit 1234567 "$fix/stock" "$fix/debug" >"$tmp/both" 2>"$tmp/err" ||
	{ sed 's/^/# /' "$tmp/err"; }

has "rows: result, time and each test's figures" "$tmp/both" \
	'| t-hotplug-load | stock | 2 | pass | 16s | 3243 | — | — | 4 | — | — |' \
	'| t-ioctl-fuzz | stock | 2 | pass | 13s | — | 205258 | — | — | — | — |' \
	'| t-sec-rt-stress | stock | 2 | pass | 25s | 5490 | — | — | — | — | — |' \
	'| t-synflood | stock | 2 | pass | 36s | 242 | — | — | — | — | 341760 |' \
	'| t-hotplug-load | stock | 4 | pass | 50s | 11214 | — | — | 8 | — | — |' \
	'| t-park | rt | 2 | pass | 13s | 1000 | — | — | — | — | — |' \
	'| t-sec-rt-stress | rt | 2 | pass | 32s | 4939 | — | — | — | — | — |' \
	'| t-faultinject | debug | 2 | pass | 2m08s | — | 20285 | 215 | — | — | — |'

has "the failed test is a FAIL row" "$tmp/both" \
	'| t-shim-locality | stock | 4 | FAIL | 38s | 5000 | — | — | — | — | — |'

has "totals per kernel, with the release the logs name" "$tmp/both" \
	'| stock 6.1.0-57-amd64 | 6 | 5 | 1 | 0 | 2m58s | 25189 | 205258 | — | 12 | — | 341760 |' \
	'| debug 6.1.192-fsk-debug | 1 | 1 | 0 | 0 | 2m08s | — | 20285 | 215 | — | — | — |' \
	'| rt 6.1.0-57-rt-amd64 | 2 | 2 | 0 | 0 | 45s | 5939 | — | — | — | — | — |'

sed -E 's/^- [0-9-]+ [0-9:]+ UTC, /- DATE, /' "$tmp/both" >"$tmp/both.nodate"
has "header: commit from the logs or --commit, tests/check's summary" "$tmp/both.nodate" \
	'- DATE, commit 4b32bcb: kernels stock 6.1.0-57-amd64, rt 6.1.0-57-rt-amd64; tests/check said: 410 passed, 1 failed in 52m04s' \
	'- DATE, commit 1234567: kernels debug 6.1.192-fsk-debug'

"$tool" "$fix/stock" >"$tmp/stock" 2>&1
has "a kernel not in the logs is said not run" "$tmp/stock" \
	"- the debug kernel's VM tests: not run in this log set"

# A copy of the fixture with one figure changed and one test renamed to
# a name the tool has no pattern for.
cp -r "$fix/stock" "$tmp/changed"
sed -i -e 's/clients completed 3243 connections/clients completed 3244 connections/' \
	-e 's/t-sec-rt-stress/t-new-thing/g' "$tmp/changed/VM_run__stock_kernel__2_vCPUs_.log"
"$tool" "$tmp/changed" >"$tmp/changed.out" 2>&1
has "a changed figure changes the row" "$tmp/changed.out" \
	'| t-hotplug-load | stock | 2 | pass | 16s | 3244 | — | — | 4 | — | — |'
has "a test without patterns gets result and time only" "$tmp/changed.out" \
	'| t-new-thing | stock | 2 | pass | 25s | — | — | — | — | — | — |'

# --update: the text between the markers replaced, the rest kept; twice
# gives the same file.
printf 'intro\n<!-- reliability:begin -->\nold table\n<!-- reliability:end -->\noutro\n' >"$tmp/doc.md"
"$tool" --update "$tmp/doc.md" "$fix/stock" 2>"$tmp/err"
cp "$tmp/doc.md" "$tmp/doc1.md"
"$tool" --update "$tmp/doc.md" "$fix/stock" 2>>"$tmp/err"
{ echo intro; echo '<!-- reliability:begin -->'; cat "$tmp/stock"; echo '<!-- reliability:end -->'; echo outro; } >"$tmp/want.md"
if cmp -s "$tmp/doc.md" "$tmp/want.md" && cmp -s "$tmp/doc.md" "$tmp/doc1.md"; then
	ok "--update rewrites between the markers only"
else
	not_ok "--update rewrites between the markers only"
	diff "$tmp/want.md" "$tmp/doc.md" | sed 's/^/# /'
	sed 's/^/# /' "$tmp/err"
fi

# A run split in parts: copies of the debug fixture, each with the
# "part" and "code" files tests/check --part writes.
for k in 1 2 3; do
	cp -r "$fix/debug" "$tmp/part$k"
	echo "debug $k/3" >"$tmp/part$k/part"
	echo abcdef012345 >"$tmp/part$k/code"
	echo "123456$k" >"$tmp/part$k/commit"
done
"$tool" "$tmp/part1" "$tmp/part2" "$tmp/part3" >"$tmp/parts.out" 2>&1
sed -E 's/^- [0-9-]+ [0-9:]+ UTC, /- DATE, /' "$tmp/parts.out" >"$tmp/parts.nodate"
has "parts: each run's part and code, all N on the same code" "$tmp/parts.nodate" \
	'- DATE, commit 1234562 (code abcdef012345), part 2/3: kernels debug 6.1.192-fsk-debug' \
	"- the debug kernel's VM tests: all 3 parts, on the same code (abcdef012345, commits 1234561, 1234562, 1234563)"
"$tool" "$tmp/part1" "$tmp/part3" >"$tmp/parts.out" 2>&1
has "parts: a missing part is named" "$tmp/parts.out" \
	"- the debug kernel's VM tests: parts 1, 3 of 3 in this log set; missing 2"
echo 0123456789ab >"$tmp/part2/code"
"$tool" "$tmp/part1" "$tmp/part2" "$tmp/part3" >"$tmp/parts.out" 2>&1
has "parts: different code is not one run" "$tmp/parts.out" \
	"- the debug kernel's VM tests: all 3 parts, but not on one committed code (0123456789ab, abcdef012345): not one run of the suite"

exits_2 "bad usage: not a logs directory, exit 2" "$tool" "$top/tests"
printf 'no markers\n' >"$tmp/plain.md"
exits_2 "bad usage: --update FILE without markers, exit 2" "$tool" --update "$tmp/plain.md" "$fix/stock"

tap_done
