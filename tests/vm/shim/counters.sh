# SPDX-License-Identifier: GPL-2.0
# The module's counters in the shim VM tests. Sourced by common.sh.
# shellcheck shell=bash

# shim_assert_steered NAME MIN_PERMILLE|any: SYNs steered to local listeners
# (/proc/net/fastsocket, reset by the caller before the load) on every
# CPU, and at least MIN_PERMILLE of all SYNs for served ports. Not all:
# a SYN whose 4-tuple still has a TIME_WAIT socket on the server
# ("existing") is left to the kernel by design (Documentation/design.md);
# the kernel turns it into a new connection (tcp_timewait_state_process)
# and serves it. Such SYNs come from the client: connect() walks the port
# range from an offset hashed from the addresses and jiffies/10 s
# (secure_ipv4_port_ephemeral), so every 10 s the walk restarts somewhere
# else and may take ports whose 4-tuples the server still holds in
# TIME_WAIT (the client cannot see those); only the same load's earlier
# connections can, as every load gets new addresses (wrk_addrs). Under
# this load 0 to 5% of the SYNs; none are retransmissions
# (TcpExtTCPSynRetrans stays 0).
# "any": only that some SYN was steered.
shim_assert_steered() {
	local name=$1 min=$2 cpu
	[ "$SHIM_KMOD" = 1 ] || return 0
	proc_read
	local all=$((PROC_ST_SUM + PROC_NL_SUM + PROC_EX_SUM + PROC_PK_SUM))
	info "$name: SYNs steered $PROC_ST_SUM, no_local $PROC_NL_SUM, existing $PROC_EX_SUM, parked $PROC_PK_SUM; steered per CPU: ${PROC_ST[*]}"
	[ "$PROC_ST_SUM" -gt 0 ] || { cat /proc/net/fastsocket >&2; fail "$name: no SYN was steered to a local listener"; }
	if [ "$min" = any ]; then
		info "$name: SYNs steered to a local listener: $PROC_ST_SUM/$all"
		return 0
	fi
	for cpu in $(seq 0 $((N - 1))); do
		[ "${PROC_ST[$cpu]:-0}" -gt 0 ] || { cat /proc/net/fastsocket >&2; fail "$name: no SYN steered on CPU $cpu"; }
	done
	assert_ratio "$PROC_ST_SUM" "$all" "$min" "$name: SYNs steered to the CPU-local listener"
}

# wait_local_listeners TIMEOUT: every CPU has a local listener.
wait_local_listeners() {
	[ "$SHIM_KMOD" = 1 ] || return 0
	wait_until "$1" local_listener_everywhere && return 0
	cat /proc/net/fastsocket >&2
	fail "timed out after ${1}s waiting for a local listener on every CPU"
}

# local_listener_everywhere: every CPU has a local listener (proc_read).
local_listener_everywhere() {
	local cpu
	proc_read
	for ((cpu = 0; cpu < N; cpu++)); do
		[ "${PROC_LL[$cpu]:-0}" -gt 0 ] || return 1
	done
}
