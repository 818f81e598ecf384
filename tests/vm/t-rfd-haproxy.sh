#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# timeout: 600
# cost: 2=48 4=61
# Receive flow deliver with a real proxy: Debian's haproxy, one thread per
# CPU (cpu-map), under tools/fastsocket with the module loaded, proxies
# wrk's requests ("Connection: close", loopback) to a backend in another
# netns over veth without RPS: a second haproxy, not under the shim, on
# CPU 0, answering itself. Each request opens a backend connection from
# the haproxy thread running it (http-reuse never, tune.idle-pool.shared
# off), pinned, so under the shim its local port is in that CPU's block
# (the module's layout for the root netns). The backend's replies to
# other CPUs' blocks are sent from CPU 0.
#  - blocks (enable_receive_flow_deliver=2): the owner counters reported
#    (no steering: the replies are processed where the backend sent them);
#  - steer (1): >= 99.9% of the segments to the blocks processed on their
#    owner CPU, every steered segment delivered, none dropped, no queue
#    overflow.
# Both: wrk sees no error, frontend SYNs go to the CPU-local listeners
# (listen_spawn, >= 90%).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)
BE_IP=198.18.2.2
HOST_IP=198.18.2.1
BE_PORT=8080
FE_PORT=8560

shim_client_setup
modprobe -q veth || fail "modprobe veth"
netns_add fsk-be
ip link add fsk-rv0 type veth peer name fsk-rv1 netns fsk-be
at_exit "ip link del fsk-rv0 2>/dev/null"
ip addr add $HOST_IP/24 dev fsk-rv0
ip -n fsk-be addr add $BE_IP/24 dev fsk-rv1
ip link set fsk-rv0 up
ip -n fsk-be link set fsk-rv1 up
# No RPS: a reply is processed on the CPU that sent it.
rps_set - fsk-rv0 0
rps_set fsk-be fsk-rv1 0

# The backend: one thread on CPU 0.
haproxy_config "$WORK/be.cfg" nbthread=1 "global=cpu-map 1/1 0" \
	bind="$BE_IP:$BE_PORT" body="$(printf '%064d' 0 | tr 0 x)"
ip netns exec fsk-be "$HAPROXY" -db -f "$WORK/be.cfg" >"$WORK/be.log" 2>&1 &
be=$!
at_exit "kill_tree $be"
wait_until 30 ip netns exec fsk-be curl -s -o /dev/null -m 5 "http://$BE_IP:$BE_PORT/" ||
	fail "the backend does not answer: $(cat "$WORK/be.log")"

# proxy_conf FILE: haproxy, thread t on CPU t-1, proxying to the backend.
proxy_conf() {
	cat >"$1" <<CONF
global
	nbthread $N
	cpu-map auto:1/1-$N 0-$((N - 1))
	maxconn 4000
	tune.idle-pool.shared off
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	http-reuse never
frontend fe
	bind :$FE_PORT
	default_backend be
backend be
	server s1 $BE_IP:$BE_PORT
CONF
}

# proxy_case NAME RFD: the module loaded with enable_receive_flow_deliver
# RFD, the proxy under the shim loaded by wrk for SECS seconds; the RFD
# counters in PROC_SUM after.
proxy_case() {
	local name=$1 rfd=$2 d=$WORK/$1 srv rc
	mkdir -p "$d"
	fsk_load enable_receive_flow_deliver="$rfd"
	proxy_conf "$d/haproxy.cfg"
	haproxy_shim_start "$d" $FE_PORT
	srv=$HAPROXY_PID
	grep -q "RFD: port blocks from the module (enable_receive_flow_deliver=$rfd)" "$d/log" ||
		{ server_log_dump; fail "$name: the shim did not take the module's port blocks"; }
	echo 0 >/proc/net/fastsocket
	wrk_start "$name" $FE_PORT "$SECS"
	wrk_wait "$name"
	shim_assert_wrk "$name"
	shim_assert_steered "$name" 900
	kill -USR1 $srv
	rc=0
	wait $srv || rc=$?
	[ $rc = 0 ] || { server_log_dump; fail "$name: haproxy exited with $rc"; }
	proc_read
	fsk_unload
	RFD_OWNER=${PROC_SUM[9]:-0} RFD_FOREIGN=${PROC_SUM[10]:-0}
	info "$name: $WRK_REQUESTS requests proxied; segments to the blocks on their owner CPU: $RFD_OWNER of $((RFD_OWNER + RFD_FOREIGN)); steered ${PROC_SUM[11]:-0}, delivered ${PROC_SUM[14]:-0}, offline ${PROC_SUM[12]:-0}, overflow ${PROC_SUM[13]:-0}, dropped ${PROC_SUM[15]:-0}"
}

proxy_case blocks 2
[ "$RFD_OWNER" -gt 0 ] || fail "blocks: no segment counted on its owner CPU"
[ $((RFD_OWNER + RFD_FOREIGN)) -ge "$WRK_REQUESTS" ] ||
	fail "blocks: $((RFD_OWNER + RFD_FOREIGN)) segments to the blocks for $WRK_REQUESTS backend connections"

proxy_case steer 1
assert_ratio "$RFD_OWNER" $((RFD_OWNER + RFD_FOREIGN)) 999 "steer: segments to the blocks processed on their owner CPU"
[ "${PROC_SUM[11]:-0}" -gt 0 ] || fail "steer: the module steered no segment"
assert_eq "${PROC_SUM[11]}" "${PROC_SUM[14]}" "steer: segments delivered on the owner CPU (= steered)"
assert_eq 0 "${PROC_SUM[13]}" "steer: queue overflows"
assert_eq 0 "${PROC_SUM[15]}" "steer: segments dropped"
echo "PASS: $TEST_NAME"
