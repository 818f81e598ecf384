#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Host test of RFD port blocks without the module (FASTSOCKET_RFD_LAYOUT),
# in TAP form. fs_rfdcli starts one thread per CPU, pinned, each keeping
# PER_CPU connections open to its own loopback listener; it prints where
# the local ports fell (fastsocket_rfd_owner() of the uapi header).
# Checked: every port in its thread's block; fallbacks on a full block
# exactly as many as expected and no failure; the same for TCP Fast Open
# connects (sendto, sendmsg, sendmmsg with MSG_FASTOPEN); an explicit port, a bind to
# port 0 and the application's own IP_LOCAL_PORT_RANGE left alone,
# IP_BIND_ADDRESS_NO_PORT binds in the block; bad values said in one line
# and RFD off; and, counted with strace -c, no system call added when the
# variable is unset and exactly one setsockopt per connect when set.
#
# Each client runs in a fresh network namespace (unshare -n, as root), so
# no other socket or TIME_WAIT holds a port of a block: the counts are
# exact. Loopback only; bounded (timeout on every run).

set -u
here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/../.." && pwd -P)
lib=$top/libshim/libfastsocket.so
cli=$top/tests/progs/fs_rfdcli
PER_CPU=${PER_CPU:-200}
tmp=$(mktemp -d)
n=0
failed=0

trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $* # SKIP"; }
diag() { for f in "$@"; do [ -s "$f" ] && sed 's/^/# /' "$f"; done; }
check() {	# check NAME STATUS [DIAG-FILE...]
	check_name=$1
	check_st=$2
	shift 2
	if [ "$check_st" = 0 ]; then
		ok "$check_name"
	else
		not_ok "$check_name"
		diag "$@"
	fi
}
finish() { echo "1..$n"; [ "$failed" = 0 ]; exit $?; }

for f in "$lib" "$cli"; do
	if [ ! -f "$f" ]; then
		not_ok "$f is missing (make -C libshim; make -C tests/progs)"
		finish
	fi
done
if [ "$(id -u)" != 0 ] || ! unshare -n true 2>/dev/null; then
	skip "needs root and unshare -n (a private network namespace)"
	finish
fi

ncpu=$(nproc)
lo=32768
hi=60999

# run NAME [VAR=VALUE...] -- CLIENT-ARGS...: the client in a fresh netns
# with the shim preloaded (VAR=VALUE for its environment; PRELOAD= for
# none), output in $tmp/NAME.out and .err; STRACE=1: under strace -c.
run() {
	name=$1
	shift
	set -- LD_PRELOAD="$lib" "$@"
	envs=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		PRELOAD=) envs="$envs LD_PRELOAD=" ;;
		*) envs="$envs $1" ;;
		esac
		shift
	done
	shift
	tracer=
	if [ "${STRACE:-0}" = 1 ]; then
		tracer="strace -f -qq -c -o $tmp/$name.strace -e trace=socket,connect,setsockopt,getsockopt,sched_getaffinity,bind"
	fi
	# env sets the preload for the client only (not strace, not env).
	# shellcheck disable=SC2086  # $envs and $tracer are word lists
	timeout 120 unshare -n sh -c 'ip link set lo up && exec "$@"' sh \
		$tracer env $envs "$cli" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
}

field() { sed -n "s/.*\\b$2=\\([0-9]*\\).*/\\1/p" "$tmp/$1.out"; }

# calls NAME SYSCALL: calls counted by strace -c (0 when not listed)
calls() {
	c=$(awk -v s="$2" '$NF == s { print ($4 ~ /^[0-9]+$/) ? $4 : $3 }' "$tmp/$1.strace")
	echo "${c:-0}"
}

conns=$((ncpu * PER_CPU))
layout="$lo-$hi/$ncpu"

# 1-3: every port in its CPU's block, IPv4 and IPv6, blocking. With two
# blocks a thread's ports could land in its own by chance (each
# destination gets one run of ports); 32 blocks make that all but
# impossible.
for case in "4 $layout" "6 $layout" "4 $lo-$hi/32"; do
	fam=${case%% *}
	lay=${case#* }
	args=
	[ "$fam" = 6 ] && args=-6
	# shellcheck disable=SC2086
	run block FASTSOCKET_RFD_LAYOUT="$lay" -- --per-cpu "$PER_CPU" $args
	st=$?
	got=$(field block inblock)
	[ $st = 0 ] && [ "$got" = "$conns" ] && [ "$(field block failed)" = 0 ]
	check "IPv$fam, $lay: $got of $conns source ports in their CPU's block: $(cat "$tmp/block.out")" $? \
		"$tmp/block.err"
done

# 4: non-blocking connect keeps EINPROGRESS and gets block ports
run nb FASTSOCKET_RFD_LAYOUT="$layout" -- --per-cpu "$PER_CPU" --nonblock
st=$?
[ $st = 0 ] && [ "$(field nb inblock)" = "$conns" ] && [ "$(field nb einprogress)" = "$conns" ]
check "non-blocking connect: EINPROGRESS and block ports for all $conns: $(cat "$tmp/nb.out")" $? "$tmp/nb.err"

# 5-8: TCP Fast Open connects (sendto, sendmsg, sendmmsg with MSG_FASTOPEN) get
# block ports too, and fall back as connect() does on a full block.
for how in sendto sendmsg sendmmsg; do
	run "tfo-$how" FASTSOCKET_RFD_LAYOUT="$lo-$hi/32" -- --per-cpu "$PER_CPU" --fastopen $how
	st=$?
	[ $st = 0 ] && [ "$(field "tfo-$how" inblock)" = "$conns" ] &&
		[ "$(field "tfo-$how" failed)" = 0 ]
	check "$how with MSG_FASTOPEN, $lo-$hi/32: block ports for all $conns: $(cat "$tmp/tfo-$how.out")" $? \
		"$tmp/tfo-$how.err"
done
tfo_hi=$((40000 + 8 * ncpu - 1))
run tfotiny FASTSOCKET_RFD_LAYOUT="40000-$tfo_hi/$ncpu" FASTSOCKET_LOG=debug -- --per-cpu 12 --fastopen sendto
st=$?
fb=$(grep -c "port block .* is full for this destination; connecting on the full range" "$tmp/tfotiny.err")
[ $st = 0 ] && [ "$(field tfotiny failed)" = 0 ] && [ "$fb" = $((4 * ncpu)) ] &&
	[ "$(field tfotiny inblock)" = $((8 * ncpu)) ]
check "sendto with MSG_FASTOPEN, blocks of 8, 12 connections per CPU: $fb fallbacks (want $((4 * ncpu))): $(cat "$tmp/tfotiny.out")" $? \
	"$tmp/tfotiny.out" "$tmp/tfotiny.err"

# 9-10: system calls. plain (no shim), shim without the variable, shim with it.
STRACE=1 run plain PRELOAD= -- --per-cpu "$PER_CPU" --layout "$layout"
STRACE=1 run unset -- --per-cpu "$PER_CPU" --layout "$layout"
STRACE=1 run set FASTSOCKET_RFD_LAYOUT="$layout" -- --per-cpu "$PER_CPU"
summary=
for r in plain unset set; do
	summary="$summary $r:"
	for s in socket connect setsockopt getsockopt sched_getaffinity; do
		summary="$summary $s=$(calls $r $s)"
	done
done
# Without the variable the ports are the kernel's: how many happen to be
# in their thread's block is only shown (each thread's destination gets
# one run of ports, in one block or the other: a coin toss per thread).
st=0
[ "$(field unset failed)" = 0 ] && [ "$(field unset conns)" = "$conns" ] || st=1
st=0
for s in socket connect setsockopt; do
	[ "$(calls unset $s)" = "$(calls plain $s)" ] || st=1
done
check "unset: all $conns connected, no system call added (setsockopt, socket, connect as without the shim; $(field unset inblock) ports in the thread's block by chance):$summary" $st \
	"$tmp/plain.strace" "$tmp/unset.strace" "$tmp/unset.out" "$tmp/unset.err"
st=0
[ "$(calls set setsockopt)" = $(($(calls plain setsockopt) + conns)) ] || st=1
for s in socket connect getsockopt; do
	[ "$(calls set $s)" = "$(calls unset $s)" ] || st=1
done
[ "$(calls set sched_getaffinity)" = $(($(calls unset sched_getaffinity) + ncpu)) ] || st=1
[ "$(field set inblock)" = "$conns" ] || st=1
check "set: exactly one setsockopt per connect ($conns), one sched_getaffinity per thread ($ncpu), nothing else added" $st \
	"$tmp/set.strace" "$tmp/set.out" "$tmp/set.err"

# 11: blocks of 8 ports, 12 connections per thread to one destination:
# 4 per thread fall back to the full range, none fails.
tiny_hi=$((40000 + 8 * ncpu - 1))
run tiny FASTSOCKET_RFD_LAYOUT="40000-$tiny_hi/$ncpu" FASTSOCKET_LOG=debug -- --per-cpu 12
st=$?
fb=$(grep -c "port block .* is full for this destination; connecting on the full range" "$tmp/tiny.err")
other=$(($(field tiny owned_other) + $(field tiny unowned)))
[ $st = 0 ] && [ "$(field tiny failed)" = 0 ] && [ "$fb" = $((4 * ncpu)) ] &&
	[ "$other" = $((4 * ncpu)) ] && [ "$(field tiny inblock)" = $((8 * ncpu)) ]
check "blocks of 8, 12 connections per CPU: $fb fallbacks (want $((4 * ncpu))), $other ports outside the block: $(cat "$tmp/tiny.out")" $? \
	"$tmp/tiny.out" "$tmp/tiny.err"

# 12-14: the application's own binds, with strace: RFD adds no setsockopt
# (the shim's listener bookkeeping of bind() is there with or without it).
STRACE=1 run explicit0 -- --per-cpu 50 --bind explicit --layout "$layout"
STRACE=1 run explicit FASTSOCKET_RFD_LAYOUT="$layout" -- --per-cpu 50 --bind explicit
st=$?
[ $st = 0 ] && [ "$(field explicit kept)" = $((50 * ncpu)) ] &&
	[ "$(calls explicit setsockopt)" = "$(calls explicit0 setsockopt)" ]
check "explicit bind: port kept for all $((50 * ncpu)), no setsockopt added ($(calls explicit setsockopt) with, $(calls explicit0 setsockopt) without RFD): $(cat "$tmp/explicit.out")" $? \
	"$tmp/explicit.err" "$tmp/explicit.strace"
STRACE=1 run zero0 -- --per-cpu 50 --bind zero --layout "$layout"
STRACE=1 run zero FASTSOCKET_RFD_LAYOUT="$layout" FASTSOCKET_LOG=debug -- --per-cpu 50 --bind zero
st=$?
cnt=$(grep -c "bind to port 0 without IP_BIND_ADDRESS_NO_PORT" "$tmp/zero.err")
[ $st = 0 ] && [ "$cnt" = $((50 * ncpu)) ] &&
	[ "$(calls zero setsockopt)" = "$(calls zero0 setsockopt)" ]
check "bind(port 0): left alone and counted ($cnt), no setsockopt added ($(calls zero setsockopt) with, $(calls zero0 setsockopt) without RFD): $(cat "$tmp/zero.out")" $? \
	"$tmp/zero.err" "$tmp/zero.strace"
run noport FASTSOCKET_RFD_LAYOUT="$layout" -- --per-cpu 50 --bind noport
st=$?
[ $st = 0 ] && [ "$(field noport inblock)" = $((50 * ncpu)) ]
check "IP_BIND_ADDRESS_NO_PORT bind: ports in the block: $(cat "$tmp/noport.out")" $? "$tmp/noport.err"

# 15: the application's own IP_LOCAL_PORT_RANGE stays
run apprange FASTSOCKET_RFD_LAYOUT="$layout" -- --per-cpu 50 --app-range 50000-50199
st=$?
[ $st = 0 ] && [ "$(field apprange inrange)" = $((50 * ncpu)) ] &&
	[ "$(field apprange range_kept)" = $((50 * ncpu)) ]
check "the application's IP_LOCAL_PORT_RANGE kept: $(cat "$tmp/apprange.out")" $? "$tmp/apprange.err"

# 16-17: bad values: one line naming the variable, RFD off, the client runs
for bad in "40000-30000/2" "1000-2000/2"; do
	STRACE=1 run bad FASTSOCKET_RFD_LAYOUT="$bad" -- --per-cpu 20 --layout "$layout"
	st=$?
	lines=$(wc -l <"$tmp/bad.err")
	[ $st = 0 ] && [ "$lines" = 1 ] && grep -q "^fastsocket: FASTSOCKET_RFD_LAYOUT: " "$tmp/bad.err" &&
		[ "$(calls bad setsockopt)" = 0 ] && [ "$(field bad failed)" = 0 ]
	check "FASTSOCKET_RFD_LAYOUT=$bad: one line, RFD off, app runs: $(cat "$tmp/bad.err")" $? \
		"$tmp/bad.err" "$tmp/bad.out"
done

finish
