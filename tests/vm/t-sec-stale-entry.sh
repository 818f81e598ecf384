#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=6 4=9
# Review finding 1: a table entry must go when its socket closes, even
# after the socket's owner changed its key (SO_BINDTODEVICE on a copy,
# allowed unprivileged). As uid 65534: SPAWN, SO_BINDTODEVICE "lo" on the
# copy, close; /proc/net/fastsocket must list no local listener, and a
# second SPAWN for the same CPU must work (the old module dereferenced
# the stale entry: kernel panic). Run in a fresh netns too: deleting it
# must run the module's pernet exit (a kprobe counts fsk_net_exit hits;
# a stale entry held the netns alive until rmmod).
. "$(dirname "$0")/lib.sh"

NETEXIT_SYM=${FSK_NETEXIT_SYM:-fsk_net_exit}
TRACING=/sys/kernel/tracing
[ -e $TRACING/kprobe_events ] || TRACING=/sys/kernel/debug/tracing
[ -e $TRACING/kprobe_events ] || fail "no tracefs kprobe_events"
errors=()

fsk_load
grep -Eq " $NETEXIT_SYM(\s|$)" /proc/kallsyms ||
	fail "no symbol $NETEXIT_SYM in the module (set FSK_NETEXIT_SYM)"
echo "p:fsk_netexit fastsocket:$NETEXIT_SYM" >>$TRACING/kprobe_events ||
	fail "cannot place a kprobe on fastsocket:$NETEXIT_SYM"
# Once: the end of the test or, after a failure, the cleanup.
kprobe_off() {
	[ -e $TRACING/events/kprobes/fsk_netexit ] || return 0
	echo 0 >$TRACING/events/kprobes/fsk_netexit/enable
	echo -:fsk_netexit >>$TRACING/kprobe_events
}
at_exit kprobe_off
echo 1 >$TRACING/events/kprobes/fsk_netexit/enable

hits() {
	awk '$1 == "fsk_netexit" {print $2}' $TRACING/kprobe_profile
}

# wait_hits N: until the pernet exit ran N times, at most 20 s
wait_hits() {
	local end=$((SECONDS + 20))
	while [ $SECONDS -lt $end ]; do
		[ "$(hits)" -ge "$1" ] && return 0
		sleep 0.2
	done
	[ "$(hits)" -ge "$1" ]
}

# note_fail MSG: report now (a later step may crash the old module), fail at the end
note_fail() {
	echo "# $TEST_NAME: FAIL: $*"
	errors+=("$*")
}

# The probe works: a netns that never had a socket exits.
base=$(hits)
netns_add fsk-ctl
ip netns del fsk-ctl
wait_hits $((base + 1)) || fail "control netns: no $NETEXIT_SYM hit in 20 s (hits $(hits), before $base)"
info "control netns exited (pernet exit hits: $base -> $(hits))"

# The sequence in a netns of its own, which must then exit.
netns_add fsk-f1
if ! ip netns exec fsk-f1 "$PROGS/fsk-review" stale-entry --uid 65534 \
	--port 8201 --no-respawn >"$WORK/netns.out" 2>&1; then
	note_fail "in a netns: $(grep -E 'FAIL|ERROR' "$WORK/netns.out" | tr '\n' ' ')"
fi
grep -E '^(ok|FAIL|ERROR)' "$WORK/netns.out" | sed 's/^/# netns: /'
base=$(hits)
ip netns del fsk-f1
if wait_hits $((base + 1)); then
	info "the netns of the sequence exited (pernet exit hits: $base -> $(hits))"
else
	note_fail "the netns of the sequence did not exit in 20 s (pernet exit hits stay $(hits))"
fi

# In the init netns, with the second SPAWN.
if ! "$PROGS/fsk-review" stale-entry --uid 65534 --port 8202 >"$WORK/init.out" 2>&1; then
	note_fail "init netns: $(grep -E 'FAIL|ERROR' "$WORK/init.out" | tr '\n' ' ')"
fi
grep -E '^(ok|FAIL|ERROR)' "$WORK/init.out" | sed 's/^/# init netns: /'

[ ${#errors[@]} -eq 0 ] || fail "$(printf '%s; ' "${errors[@]}")"
kprobe_off
fsk_unload
echo "PASS: $TEST_NAME"
