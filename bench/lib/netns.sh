# SPDX-License-Identifier: GPL-2.0
# bench/measure.sh's outer part: the server and client network namespaces
# joined by a veth pair, RPS on both ends. Uses the caller's settings
# (SRV_NS, CLI_NS, SRV_IP_BASE, CLI_IP, addrs, MASK) and die: measure.sh's,
# or bench/syscalls' --veth.
# shellcheck shell=bash
# shellcheck disable=SC2154 # measure.sh sets the settings

# cpu_mask LIST: the RPS mask of a taskset-style CPU list ("0,2-3"),
# comma-separated 32-bit hex words, highest first.
cpu_mask() {
	local part lo hi c top=0 w m='' words=()
	# Builtins only (no here-string): the guest has no /dev/fd. LIST is
	# digits, '-' and ',': nothing for the unquoted split to glob.
	# shellcheck disable=SC2086
	for part in ${1//,/ }; do
		lo=${part%-*} hi=${part#*-}
		for ((c = lo; c <= hi; c++)); do
			words[c / 32]=$((${words[c / 32]:-0} | 1 << (c % 32)))
			[ $((c / 32)) -le $top ] || top=$((c / 32))
		done
	done
	for ((w = top; w >= 0; w--)); do
		m+="${m:+,}$(printf '%08x' "${words[w]:-0}")"
	done
	echo "$m"
}

# rps_mask N: the RPS mask of N CPUs.
rps_mask() {
	cpu_mask "0-$(($1 - 1))"
}

netns_down() {
	ip netns del "$CLI_NS" 2>/dev/null || true
	ip netns del "$SRV_NS" 2>/dev/null || true
}

# netns_up: server addresses SRV_IP_BASE.1..addrs on fsb-veth0 in SRV_NS,
# and 198.18.128.0/17 routed to it, the client CLI_IP on fsb-veth1 in
# CLI_NS.
netns_up() {
	local i
	# Built in, or a module (a kernel without module support has no modprobe).
	modprobe -q veth 2>/dev/null || true
	netns_down
	ip netns add "$SRV_NS"
	ip netns add "$CLI_NS"
	ip link add fsb-veth0 netns "$SRV_NS" type veth peer name fsb-veth1 netns "$CLI_NS" ||
		die "cannot make the veth pair"
	{
		echo "link set lo up"
		for ((i = 1; i <= addrs; i++)); do
			echo "addr add $SRV_IP_BASE.$i/24 dev fsb-veth0"
		done
		echo "link set fsb-veth0 up"
		# Every address of 198.18.128.0/17 is local here (no address
		# each): the cost model gives each phase new ones.
		echo "route add local 198.18.128.0/17 dev lo"
	} | ip -n "$SRV_NS" -batch - || die "server netns setup failed"
	printf '%s\n' "link set lo up" "addr add $CLI_IP/24 dev fsb-veth1" \
		"link set fsb-veth1 up" "route add 198.18.128.0/17 via $SRV_IP_BASE.1" |
		ip -n "$CLI_NS" -batch - || die "client netns setup failed"
	# RPS on the receiving side of both directions, over every CPU: flows
	# are spread by hash, the way a multi-queue NIC spreads them.
	ip netns exec "$CLI_NS" sh -c "
		echo $MASK >/sys/class/net/fsb-veth1/queues/rx-0/rps_cpus &&
		echo '1024 65535' >/proc/sys/net/ipv4/ip_local_port_range &&
		echo 65535 >/proc/sys/net/core/somaxconn" || die "client netns setup"
}
