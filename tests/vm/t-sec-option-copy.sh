#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=8
# Review finding 7: copies must not fail open.
#  - SPAWN is refused (EOPNOTSUPP) when the original has a socket filter,
#    a TCP_MD5SIG key, an IP(V6)_XFRM_POLICY or a ULP (each skipped with
#    a message if the guest kernel does not let us set it);
#  - a drop-all filter on the original is never bypassed by steering:
#    filter then SPAWN (refused; no client on CPU 0 connects), and SPAWN
#    then filter (the copy takes the SYNs the kernel gives it, as any
#    reuseport member; those the kernel gives the filtered original must
#    be dropped, not steered to the copy: see fsk-review.c);
#  - a copy carries IP_TOS, IPV6_TCLASS, IP_TTL, IPV6_UNICAST_HOPS,
#    SO_LINGER, TCP_CONGESTION, TCP_LINGER2, TCP_NOTSENT_LOWAT,
#    SO_RCVLOWAT, SO_RCVTIMEO, SO_SNDTIMEO and TCP_SAVE_SYN.
. "$(dirname "$0")/lib.sh"

errors=()
modprobe -q xfrm_user || info "xfrm_user does not load: the XFRM cases will skip"
modprobe -q tls || info "tls does not load: the ULP case will skip"
fsk_load
# subcommand:port (each uses a few ports from there on)
for case_ in refuse:8270 filter-steer:8280 options:8290; do
	sub=${case_%:*}
	if ! "$PROGS/fsk-review" "$sub" --port "${case_#*:}" >"$WORK/$sub.out" 2>&1; then
		errors+=("$sub: $(grep -E 'FAIL|ERROR' "$WORK/$sub.out" | tr '\n' ' ')")
	fi
	grep -E '^(ok|FAIL|ERROR|#|filter|spawn)' "$WORK/$sub.out" | sed "s/^/# $sub: /"
done
[ ${#errors[@]} -eq 0 ] || fail "$(printf '%s; ' "${errors[@]}")"
assert_eq 0 "$(proc_sum 5)" "local listeners left"
fsk_unload
echo "PASS: $TEST_NAME"
