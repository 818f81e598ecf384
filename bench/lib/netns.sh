# SPDX-License-Identifier: GPL-2.0
# bench/measure.sh's outer part: the server and client network namespaces
# joined by a veth pair, RPS on both ends. Uses measure.sh's settings
# (SRV_NS, CLI_NS, SRV_IP_BASE, CLI_IP, addrs, MASK) and die.
# shellcheck shell=bash
# shellcheck disable=SC2154 # measure.sh sets the settings

# rps_mask N: the RPS mask of N CPUs, comma-separated 32-bit hex words,
# highest first.
rps_mask() {
	local n=$1 words=$((($1 + 31) / 32)) w bits m=''
	for ((w = words - 1; w >= 0; w--)); do
		bits=$((n - w * 32))
		[ $bits -gt 32 ] && bits=32
		m+="${m:+,}$(printf '%08x' $(((1 << bits) - 1)))"
	done
	echo "$m"
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
