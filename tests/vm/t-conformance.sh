#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=138 4=177
# The conformance cases (tests/conformance) with the module loaded: each
# case runs plainly and under the shim, each run in a network namespace of
# its own, and the two must print the same (tests/conformance/inherent
# lists what cannot be hidden). On the host the shim falls back to
# userspace; here its local listeners come from the module, which changes
# the answer for the cases that spawn, register or park.
. "$(dirname "$0")/lib.sh"

CONF=$FSK_ROOT/tests/conformance
[ -x "$CONF/conf" ] || fail "tests/conformance/conf is not built (make -C tests/conformance)"
fsk_load
[ -e /dev/fastsocket ] || fail "module loaded but /dev/fastsocket is missing"

out=$WORK/conf
rc=0
CONF_KEEP=1 CONF_OUT=$out CONF_TIMEOUT=60 "$CONF/run" >"$WORK/tap" 2>&1 || rc=$?
sed 's/^/  /' "$WORK/tap"
summary=$(grep -m1 '^# [0-9]* cases:' "$WORK/tap" || true)
[ -n "$summary" ] || fail "tests/conformance/run printed no summary (exit $rc)"
[ $rc -eq 0 ] || fail "divergent cases with the module: ${summary#'# '}"

# The module, not the userspace fallback, made the local listeners: a
# run that silently fell back would compare nothing new.
kmod=$(cat "$out"/*.shim.err | grep -c 'local listener fd .* (module)' || true)
user=$(cat "$out"/*.shim.err | grep -c 'local listener fd .* (userspace' || true)
[ "$kmod" -gt 0 ] || fail "no local listener came from the module"
[ "$user" -eq 0 ] || fail "$user local listeners were made in userspace with the module loaded"
info "${summary#'# '}; local listeners made by the module: $kmod, in userspace: $user"
