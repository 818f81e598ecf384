#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=12 4=25
# Concurrent ioctl fuzzer (progs/fsk-ioctl-fuzz.c): threads make random
# calls of every /dev/fastsocket command with random and boundary
# arguments on random fds, racing close, dup, shutdown, fork and exit;
# every error must be documented for its command. Run as root while
# net.fastsocket.listen_spawn cycles through 2, 1, 0 and the last CPU
# goes offline and online, then as nobody.
# Afterwards no local listener may be left, and the module must unload
# (the runner fails the test on any kernel splat). FSK_FUZZ_SEED=N
# replays a run's per-thread call sequences; FSK_FUZZ_CALLS sets the
# number of calls per run (100,000 by default).
. "$(dirname "$0")/lib.sh"

CALLS=${FSK_FUZZ_CALLS:-100000}
seed=()
[ -z "${FSK_FUZZ_SEED:-}" ] || seed=(--seed "$FSK_FUZZ_SEED")
fsk_load enable_listen_spawn=2

# run_fuzz NAME CMD...: run the fuzzer, show its counts, fail on a FAIL
run_fuzz() {
	local name=$1 start=$SECONDS
	shift
	"$@" >"$WORK/$name.out" 2>&1 ||
		fail "$name: $(grep -E 'seed=|not ok|^#   ' "$WORK/$name.out" || cat "$WORK/$name.out")"
	grep -E '^(seed=|calls=|[A-Za-z ]+: calls=|forks=|threads=|# no listener)' "$WORK/$name.out" |
		while read -r l; do info "$name: $l"; done
	info "$name: $((SECONDS - start)) s"
	assert_eq 0 "$(proc_sum 5)" "local listeners left after the $name run"
}

# The mode the calls meet changes under them, and the last CPU goes
# offline and comes back (ENXIO, pinned callers moved).
last=/sys/devices/system/cpu/cpu$(($(nproc) - 1))/online
[ -w "$last" ] || fail "cannot take $last offline"
at_exit "echo 1 >$last"
(
	while :; do
		for m in 1 0 2; do
			sleep 0.5
			sysctl -qw net.fastsocket.listen_spawn=$m
			case $m in
			1) echo 0 >"$last" || true ;;
			2) echo 1 >"$last" || true ;;
			esac
		done
	done
) &
cycler=$!
run_fuzz root "$PROGS/fsk-ioctl-fuzz" --calls "$CALLS" --port 39100 "${seed[@]}"
kill "$cycler"
wait "$cycler" 2>/dev/null || true
sysctl -qw net.fastsocket.listen_spawn=2
echo 1 >"$last"
grep -q '^SPAWN: .* EXDEV=' "$WORK/root.out" ||
	fail "no SPAWN met the listener of another netns (EXDEV)"

# Unprivileged: the permission paths (another netns only through a user
# namespace, if the guest allows one).
chmod o+rx "$WORK"
run_fuzz nobody su nobody -s /bin/sh -c \
	"$PROGS/fsk-ioctl-fuzz --calls $CALLS --port 39200 ${seed[*]}"

fsk_unload
echo "PASS: $TEST_NAME"
