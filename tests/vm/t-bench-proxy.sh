#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# bench/run --proxy (the receive-flow-deliver scenario) in its smoke size,
# in --host mode in the guest: haproxy under the shim with the module
# proxying wrk's short connections to a backend over veth+RPS, with
# enable_receive_flow_deliver 0, 2 and 1 in one run. No failed request,
# the JSON, table and chart written, and its figures are counts the
# module must reach whatever the speed: with steering >= 99.9% of the
# reply segments on their owner CPU, every steered segment delivered,
# none dropped; with blocks only, segments counted but not steered.
. "$(dirname "$0")/lib.sh"

! fsk_loaded || fail "fastsocket is loaded already"
out=$WORK/out
# The guest's /lib/modules has no build link; the headers are in /usr/src.
KDIR=/usr/src/linux-headers-$(uname -r) \
	"$FSK_ROOT/bench/run" --host --smoke --proxy --out "$out" >"$WORK/log" 2>&1 ||
	{ tail -n 30 "$WORK/log" >&2; fail "bench/run --host --smoke --proxy failed"; }
grep -q "smoke: every configuration ran, 0 failed requests, output complete" "$WORK/log" ||
	fail "no smoke verdict: $(tail -n 5 "$WORK/log")"
json=$(ls "$out"/*-proxy.json)
for ext in json md png; do
	[ -s "${json%.json}.$ext" ] || fail "${json%.json}.$ext is missing or empty"
done
grep -q '^## proxy: ' "${json%.json}.md" || fail "the report has no proxy section"
python3 - "$json" <<'PY' >"$WORK/checks" 2>&1 || fail "$(cat "$WORK/checks")"
import json, sys
r = json.load(open(sys.argv[1]))
by = {x["config"]: x for x in r["results"] if x["server"] == "proxy"}
assert sorted(by) == ["rfd-blocks", "rfd-off", "rfd-steer"], sorted(by)
for name, x in sorted(by.items()):
    assert x["requests_total"] > 0, (name, "no request proxied")
    print("%s: %d requests proxied, %d failed" % (name, x["requests_total"], x["failed_total"]))
assert by["rfd-off"]["rfd_total"] is None, "RFD off reported port blocks"
b = by["rfd-blocks"]["rfd_total"]
assert b and b["owner"] + b["foreign"] > 0 and b["steered"] == 0, ("blocks", b)
s = by["rfd-steer"]["rfd_total"]
seen = s["owner"] + s["foreign"]
print("rfd-blocks: reply segments on the owner CPU %d of %d" % (b["owner"], b["owner"] + b["foreign"]))
print("rfd-steer: reply segments on the owner CPU %d of %d, steered %d, delivered %d, "
      "overflow %d, dropped %d" % (s["owner"], seen, s["steered"], s["delivered"],
                                   s["overflow"], s["dropped"]))
assert seen > 0 and s["owner"] * 1000 >= seen * 999, "steer: fewer than 99.9% on the owner CPU"
assert s["steered"] > 0 and s["steered"] == s["delivered"], "steer: steered != delivered"
assert s["overflow"] == 0 and s["dropped"] == 0, "steer: overflow or drops"
PY
while read -r l; do info "$l"; done <"$WORK/checks"
! fsk_loaded || fail "bench/run left the module loaded"
echo "PASS: $TEST_NAME"
