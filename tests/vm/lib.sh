# SPDX-License-Identifier: GPL-2.0
# Helpers for the tests in tests/vm/t-*.sh. They run inside the QEMU guest
# as root (tests/vm/run), each in a clean state, and clean up after
# themselves: background jobs, network namespaces, the module.
# shellcheck shell=bash

set -euo pipefail

FSK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib/all.sh
. "$FSK_ROOT/tests/lib/all.sh"
# The module fsk_load loads: $FSK_KO if set (e.g. an older build to
# compare with), else the out-of-tree build for the running kernel
# (build/<release>/kmod/fastsocket.ko), else kmod/fastsocket.ko.
KO=$(fsk_ko_default "$FSK_ROOT")
PROGS=$FSK_ROOT/tests/vm/progs
# shellcheck disable=SC2034 # for the tests
FSKTEST=$PROGS/fsktest
TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "/tmp/$TEST_NAME.XXXXXX")
NETNS_LIST=()
EXIT_HOOKS=()

fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

info() {
	echo "# $TEST_NAME: $*"
}

assert_eq() { # expected actual what
	[ "$1" = "$2" ] || fail "$3: expected $1, got $2"
}

# assert_ratio num den min_permille what: num/den >= min/1000
assert_ratio() {
	local num=$1 den=$2 min=$3 what=$4
	[ "$den" -gt 0 ] || fail "$what: nothing measured (0 connections)"
	if [ $((num * 1000)) -lt $((den * min)) ]; then
		fail "$what: $num/$den is below $((min / 10)).$((min % 10))%"
	fi
	info "$what: $num/$den"
}

# check_eq EXPECTED ACTUAL WHAT: note a failure and go on with the other
# checks; check_errors: fail with every failure noted.
errors=()
check_eq() {
	if [ "$1" = "$2" ]; then
		info "ok: $3: $2"
	else
		echo "# $TEST_NAME: FAIL: $3: expected $1, got $2"
		errors+=("$3: expected $1, got $2")
	fi
}
check_errors() {
	[ ${#errors[@]} -eq 0 ] || fail "$(printf '%s; ' "${errors[@]}")"
}

# kv FILE KEY: the value of a key=value line
kv() {
	sed -n "s/^$2=//p" "$1" | tail -n1
}

# fsk_load [PARAM=VALUE...]: insmod a copy of $KO without debug info (a
# third of the size to read over 9p).
fsk_load() {
	[ -e "$KO" ] || fail "no module at $KO"
	if [ ! -e "$WORK/fastsocket.ko" ]; then
		info "module: $KO"
		fsk_stage "$KO" "$WORK/fastsocket.ko"
	fi
	insmod "$WORK/fastsocket.ko" "$@" || fail "insmod $* failed"
}

# fsk_loaded: tests/lib/kmod.sh

fsk_unload() {
	fsk_rmmod 5 || fail "rmmod fastsocket still failing after 5 s"
}

# proc_sum COLUMN [NETNS], proc_cpu COLUMN CPU, proc_read [NETNS]: see
# tests/lib/procfs.sh; columns: 2 steered, 3 no_local, 4 existing,
# 5 local_listeners, 6 parked, 7 skipped, 8 unwatched, 9 rfd_owner,
# 10 rfd_foreign.

netns_add() {
	ip netns add "$1"
	NETNS_LIST+=("$1")
	ip -n "$1" link set lo up
	tw_room "$1"
}

# tw_room [NETNS]: room for every TIME_WAIT socket the tests' loads leave
# (the server closes first). The guest's default tcp_max_tw_buckets
# (4096) is reached in seconds; past it the kernel drops a closing
# socket instead of keeping it in TIME_WAIT, and a late segment of that
# connection (a duplicate, or the ACK of a FIN retransmitted after a
# stall of the guest) then meets the listener, which answers with a
# reset: the client's connect() returns EPIPE for a connection the server
# accepted, with or without the module (Documentation/limits.md).
TW_ROOM=262144
tw_room() {
	if [ -n "${1:-}" ]; then
		ip netns exec "$1" sysctl -qw net.ipv4.tcp_max_tw_buckets=$TW_ROOM
	else
		sysctl_set net.ipv4.tcp_max_tw_buckets $TW_ROOM
	fi
}

# veth_rps SRV_IP CLI_IP [MASK]: network namespaces fsk-srv and fsk-cli
# joined by a veth pair (fsk-veth0 with SRV_IP/24, fsk-veth1 with
# CLI_IP/24), RPS spreading the receiving side of both directions over
# all CPUs, as a multi-queue NIC would (MASK 0: no RPS).
veth_rps() {
	local mask=${3:-}
	[ -n "$mask" ] || mask=$(printf '%x' $(((1 << $(nr_cpus)) - 1)))
	modprobe -q veth || fail "modprobe veth"
	netns_add fsk-srv
	netns_add fsk-cli
	ip link add fsk-veth0 netns fsk-srv type veth peer name fsk-veth1 netns fsk-cli
	ip -n fsk-srv addr add "$1/24" dev fsk-veth0
	ip -n fsk-cli addr add "$2/24" dev fsk-veth1
	ip -n fsk-srv link set fsk-veth0 up
	ip -n fsk-cli link set fsk-veth1 up
	rps_set fsk-srv fsk-veth0 "$mask"
	rps_set fsk-cli fsk-veth1 "$mask"
}

# rps_set NS DEV MASK: RPS CPUs of DEV's receive queue in netns NS ("-":
# this one), announced in the kernel log for the runner, which knows a
# kernel warning RPS causes on PREEMPT_RT (tests/vm/splats.awk).
rps_set() {
	local in=(ip netns exec "$1")
	[ "$1" != - ] || in=()
	"${in[@]}" sh -c "echo $3 >/sys/class/net/$2/queues/rx-0/rps_cpus" ||
		fail "rps_cpus of $2 in netns $1: cannot write $3"
	echo "fastsocket-test: rps_cpus $1/$2=$3" >/dev/kmsg
}

# Wait until FILE exists (a server's --ready file) or fail after S seconds.
wait_file() {
	local secs=${2:-30}
	wait_until "$secs" test -e "$1" || fail "timed out after ${secs}s waiting for $1"
}

nr_cpus() {
	nproc
}

# nr_cpu_ids: the highest possible CPU + 1 ("0-3" -> 4), the number of
# receive flow deliver's port blocks.
nr_cpu_ids() {
	local possible
	read -r possible </sys/devices/system/cpu/possible
	echo $((${possible##*-} + 1))
}

# at_exit CMD: run CMD (eval'd) during cleanup, e.g. to restore a sysctl.
at_exit() {
	EXIT_HOOKS+=("$1")
}

# Set a sysctl for this test only.
sysctl_set() { # name value
	local old
	old=$(sysctl -n "$1")
	at_exit "sysctl -qw $1=$old"
	sysctl -qw "$1=$2"
}

cleanup() {
	local rc=$? ns hook
	for hook in "${EXIT_HOOKS[@]}"; do
		eval "$hook" || true
	done
	jobs -p | xargs -r kill 2>/dev/null || true
	wait 2>/dev/null || true
	for ns in "${NETNS_LIST[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	fsk_unload >/dev/null 2>&1 || true
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
tw_room
