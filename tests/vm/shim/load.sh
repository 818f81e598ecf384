# SPDX-License-Identifier: GPL-2.0
# Loopback client load for the shim VM tests: wrk. Sourced by common.sh.
# shellcheck shell=bash

#
# Loopback with "Connection: close": the server closes first, so every
# request leaves a TIME_WAIT socket on the server side for its 4-tuple
# (127.0.0.1:port <- 127.0.0.1:client-port). The client's connect() does
# not see that socket and may reuse the client port while it lasts; such
# a SYN meets the TIME_WAIT socket, which the kernel may answer with an
# ACK/RST instead of a new connection, whatever listener is in use. That
# failure would be the client's setup, not the server's. So that 4-tuples
# rarely repeat, the client port range is widened (about 27000 even ports
# for connect() per destination), tcp_tw_reuse is off, and the load is
# spread over WRK_DEST destination addresses, one wrk per address, each
# making far fewer connections than there are ports (checked in
# shim_assert_wrk). Every load gets addresses no earlier load of this
# guest boot used (wrk_addrs): the kernel restarts its port walk at a
# random place every 10 s (EPHEMERAL_PORT_SHUFFLE_PERIOD), so a second
# load on the same addresses and server port within TIME_WAIT's 60 s, as
# when one test follows another, met a server TIME_WAIT socket in about
# one connect in ten. Such a SYN is the kernel's ("existing", not
# steered); the kernel took each as a new connection, and any error would
# show.
WRK_DEST=${WRK_DEST:-4}
WRK_CONNS=${WRK_CONNS:-8}
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}
WRK_PORTS_LO=10000
WRK_PORTS_HI=65535

shim_client_setup() {
	local old
	old=$(sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' '  ')
	at_exit "sysctl -qw 'net.ipv4.ip_local_port_range=$old'"
	sysctl -qw "net.ipv4.ip_local_port_range=$WRK_PORTS_LO $WRK_PORTS_HI"
	# wrk closes as soon as it has read a response, sometimes before the
	# server's FIN arrived: then the client side holds a TIME_WAIT too,
	# and tcp_tw_reuse (2: loopback only) would let connect() take that
	# port again at once, meeting the server's TIME_WAIT socket. Off for
	# the test, so the client never reuses a 4-tuple in TIME_WAIT.
	sysctl_set net.ipv4.tcp_tw_reuse 0
	# Workers may close local listeners with connections queued
	# (reload, upgrade, exit): move them rather than reset them.
	sysctl_set net.ipv4.tcp_migrate_req 1
}

# wrk_addrs N: N loopback addresses (127.0.0.0/8, all on lo) that no
# earlier call in this guest boot returned, into WRK_ADDRS; the count
# lives in the guest's /tmp (a tmpfs per boot), shared by all tests.
WRK_ADDR_FILE=/tmp/fastsocket-wrk-addrs
WRK_ADDRS=()
wrk_addrs() {
	local n=$1 next=0 k
	[ ! -s "$WRK_ADDR_FILE" ] || read -r next <"$WRK_ADDR_FILE"
	echo $((next + n)) >"$WRK_ADDR_FILE"
	WRK_ADDRS=()
	for k in $(seq "$next" $((next + n - 1))); do
		loopback_addr "$k"
		WRK_ADDRS+=("$LOOPBACK_ADDR")
	done
}

# wrk_start NAME PORT SECS [PATH [BODY-LEN]]: one wrk per destination
# address, in the background; wrk_wait NAME collects them (wrk_stop
# ends them early). WRK_PIN: a CPU per wrk (the i-th word for the i-th),
# which then takes its SYNs (loopback: the sender's CPU).
WRK_PIDS=()
wrk_start() {
	local name=$1 port=$2 secs=$3 path=${4:-/} len=${5:-64} i pin=() cpus
	read -r -a cpus <<<"${WRK_PIN:-}"
	WRK_PIDS=()
	wrk_addrs "$WRK_DEST"
	for i in $(seq 1 "$WRK_DEST"); do
		pin=()
		[ -z "${cpus[i - 1]:-}" ] || pin=(taskset -c "${cpus[i - 1]}")
		# --timeout: a request unanswered for this long counts as an
		# error ("timeout"). Not a latency test: requests take
		# milliseconds even in the emulated guest; this catches a
		# connection left on a queue nobody accepts from (wrk's default
		# 2 s is raised for the guest's hiccups).
		"${pin[@]}" wrk -t1 -c"$WRK_CONNS" -d"${secs}s" --timeout "$WRK_TIMEOUT" \
			-H 'Connection: close' -s "$SHIM_DIR/wrk-count.lua" \
			"http://${WRK_ADDRS[i - 1]}:$port$path" -- "$len" \
			>"$WORK/$name.wrk$i" 2>&1 &
		WRK_PIDS+=($!)
	done
}

# wrk_stop: end the running wrks now (SIGINT: wrk still reports).
wrk_stop() {
	kill -INT "${WRK_PIDS[@]}" 2>/dev/null || true
}

wrk_wait() {
	local name=$1 p rc=0
	for p in "${WRK_PIDS[@]}"; do
		wait "$p" || rc=1
	done
	WRK_PIDS=()
	[ $rc = 0 ] || { cat "$WORK/$name".wrk* >&2; fail "$name: wrk failed"; }
}

# Everything below parses with shell builtins: in the emulated guest,
# with other guests on the host, one fork+exec can take half a second.

# wrk_collect NAME: the key=value lines of NAME's wrk outputs, added up,
# into WRK[key]; WRK_MAX_ONE: the most requests one wrk made.
declare -A WRK
wrk_collect() {
	local name=$1 f k v seen
	WRK=()
	WRK_MAX_ONE=0
	for f in "$WORK/$name".wrk*; do
		seen=0
		while IFS='=' read -r k v; do
			case $k in
			requests | ok | non2xx | badbody | err_*) ;;
			*) continue ;;
			esac
			[[ $v =~ ^[0-9]+$ ]] || continue
			WRK[$k]=$((${WRK[$k]:-0} + v))
			if [ "$k" = requests ]; then
				seen=1
				[ "$v" -le "$WRK_MAX_ONE" ] || WRK_MAX_ONE=$v
			fi
		done <"$f"
		[ $seen = 1 ] || { cat "$f" >&2; fail "$name: no summary in ${f##*/}"; }
	done
}

# shim_assert_wrk NAME: zero socket errors, every response 2xx with the
# expected body; the number of requests is left in WRK_REQUESTS.
shim_assert_wrk() {
	local name=$1 k max=$(((WRK_PORTS_HI - WRK_PORTS_LO) / 2))
	wrk_collect "$name"
	WRK_REQUESTS=${WRK[requests]}
	info "$name: wrk: $WRK_REQUESTS requests, ${WRK[ok]} 2xx, errors connect ${WRK[err_connect]} read ${WRK[err_read]} write ${WRK[err_write]} timeout ${WRK[err_timeout]}, non-2xx ${WRK[non2xx]}, bad bodies ${WRK[badbody]}"
	[ "$WRK_MAX_ONE" -lt "$max" ] ||
		fail "$name: one wrk made $WRK_MAX_ONE requests, more than the $max client ports: lower the load (see common.sh)"
	[ "$WRK_REQUESTS" -gt 0 ] || fail "$name: wrk made no request"
	for k in err_connect err_read err_write err_timeout non2xx badbody; do
		[ "${WRK[$k]}" = 0 ] || { server_log_dump; fail "$name: wrk: $k=${WRK[$k]} (expected 0)"; }
	done
}

# shim_nstat [NAME]: without NAME, start counting; with it, print the TCP
# counters that went up since and tell of lost, reset, retransmitted or
# migrated connections (informational: wrk's errors are what counts).
shim_nstat() {
	command -v nstat >/dev/null || return 0
	local out
	if [ -z "${1:-}" ]; then
		nstat -n >/dev/null 2>&1 || true
		return 0
	fi
	out=$(nstat 2>/dev/null | awk '$1 ~ /^(TcpExtTCPSynRetrans|TcpRetransSegs|TcpExtListen|TcpExtTCPReqQFullDrop|TcpExtTCPBacklogDrop|TcpExtTCPAbortOn|TcpExtTCPMigrateReq|TcpAttemptFails|TcpEstabResets|TcpOutRsts|TcpExtTCPChallengeACK|TcpExtPAWS)/ {printf "%s=%s ", $1, $2}')
	info "$1: TCP counter increments: ${out:-none}"
}
