#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 1200
# kernels: stock rt
# cost: 2=305
# bench/run --host, the benchmark's mode for a real machine where the
# module can be loaded, run in the guest (such a machine): --smoke, every
# configuration once. It must build, load and unload the module itself,
# find no failed request, and write its JSON, table and chart; and the
# result must say where it really ran: in an emulated guest, not on a
# real host, though --host was given. Not on the debug kernel: there
# the module build that --host must do took 25 minutes before the
# benchmark began, and what it checks is bench/run's, not the kernel's
# (the module's paths under these servers run there in t-shim-*).
. "$(dirname "$0")/lib.sh"

! fsk_loaded || fail "fastsocket is loaded already"
out=$WORK/out
# The netfilter and tracepoint keys stay on for the whole run (this is
# emulation; tests/vm/suite explains): --host does not add bench's own
# keep-alive chain, the suite's is registered.
# The guest's /lib/modules has no build link; the headers are in /usr/src.
KDIR=/usr/src/linux-headers-$(uname -r) \
	"$FSK_ROOT/bench/run" --host --smoke --out "$out" >"$WORK/log" 2>&1 ||
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
