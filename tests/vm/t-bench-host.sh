#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 1200
# cost: 2=305
# bench/run --host, the benchmark's mode for a real machine where the
# module can be loaded, run in the guest (such a machine): --smoke, every
# configuration once. It must build, load and unload the module itself,
# find no failed request, and write its JSON, table and chart; and the
# result must say where it really ran: in an emulated guest, not on a
# real host, though --host was given.
. "$(dirname "$0")/lib.sh"

! fsk_loaded || fail "fastsocket is loaded already"
out=$WORK/out
# The netfilter and tracepoint keys stay on for the whole run (this is
# emulation; tests/vm/suite explains): --host does not add bench's own
# keep-alive chain, the suite's is registered.
# The build tree: the debug kernel's (tools/build-debug-kernel) is its
# modules directory's build link; Debian's kernels have none in the
# guest's /lib/modules, their headers are in /usr/src.
kdir=/lib/modules/$(uname -r)/build
[ -e "$kdir/Makefile" ] || kdir=/usr/src/linux-headers-$(uname -r)
[ -e "$kdir/Makefile" ] || fail "no build tree for $(uname -r) (looked in /lib/modules and /usr/src)"
KDIR=$kdir "$FSK_ROOT/bench/run" --host --smoke --out "$out" >"$WORK/log" 2>&1 ||
	{ tail -n 30 "$WORK/log" >&2; fail "bench/run --host --smoke failed"; }
grep -q "smoke: every configuration ran, 0 failed requests, output complete" "$WORK/log" ||
	fail "no smoke verdict: $(tail -n 5 "$WORK/log")"
json=$(ls "$out"/*.json)
for ext in json md png; do
	[ -s "${json%.json}.$ext" ] || fail "${json%.json}.$ext is missing or empty"
done
python3 - "$json" <<'PY' || fail "the result misstates where it ran: $(head -c 400 "$json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert "--host" in r["run"]["command"], r["run"]
assert r["where"] in ("qemu-tcg", "qemu-kvm"), r["where"]
PY
! fsk_loaded || fail "bench/run --host left the module loaded"
grep -E "^(nginx|haproxy|fsb-httpd|  locality)" "$WORK/log" | while read -r l; do info "$l"; done
echo "PASS: $TEST_NAME"
