# SPDX-License-Identifier: GPL-2.0
# haproxy under the shim. Sourced by common.sh.
# shellcheck shell=bash
# shellcheck disable=SC2034 # SERVER_LOG: for server_log_dump (common.sh)

# haproxy_conf FILE PORT NBTHREAD [GLOBAL-LINE...]: haproxy answering
# every request itself with a 64-byte body (http-request return).
haproxy_conf() {
	local f=$1 port=$2 nbthread=$3 line global=()
	shift 3
	for line in "$@"; do
		global+=("global=$line")
	done
	haproxy_config "$f" nbthread="$nbthread" maxconn=4000 \
		"${global[@]}" bind=":$port" body="$(printf '%064d' 0 | tr 0 x)"
}

# haproxy_shim_start DIR PORT: haproxy with DIR/haproxy.cfg under
# tools/fastsocket (foreground, -db, its output in DIR/log), serving on
# PORT with a local listener on every CPU; its pid in HAPROXY_PID.
haproxy_shim_start() {
	local d=$1 port=$2
	SERVER_LOG=$d/log
	"$FASTSOCKET" --log info -- "$HAPROXY" -db -f "$d/haproxy.cfg" >"$d/log" 2>&1 &
	HAPROXY_PID=$!
	at_exit "kill_tree $HAPROXY_PID"
	# 60: haproxy takes up to half a minute to start in a busy 4-vCPU guest.
	wait_http "http://127.0.0.1:$port/" 60
	wait_local_listeners 60
}

# haproxy_case NAME NBTHREAD MIN_PERMILLE [GLOBAL-LINE...]: haproxy under
# the shim (foreground, -db), loaded for SECS seconds; wrk must see no
# error. MIN_PERMILLE: SYNs steered to local listeners (as nginx_case).
# HAPROXY_RP_BY: who the shim must say set SO_REUSEPORT (default shim).
haproxy_case() {
	local name=$1 nbthread=$2 min=$3 d=$WORK/$1 srv rc
	shift 3
	mkdir -p "$d"
	HAPROXY_PORT=$((${HAPROXY_PORT:-8500} + 1))
	haproxy_conf "$d/haproxy.cfg" "$HAPROXY_PORT" "$nbthread" "$@"
	haproxy_shim_start "$d" "$HAPROXY_PORT"
	srv=$HAPROXY_PID
	info "$name: nbthread $nbthread${*:+, }$*: serving after ${SECONDS}s"
	[ "$SHIM_KMOD" = 0 ] || echo 0 >/proc/net/fastsocket
	shim_nstat
	wrk_start "$name" "$HAPROXY_PORT" "$SECS"
	wrk_wait "$name"
	shim_nstat "$name"
	kill -0 $srv 2>/dev/null || { server_log_dump; fail "$name: haproxy died"; }
	shim_assert_wrk "$name"
	shim_assert_steered "$name" "$min"
	grep -q "$SHIM_MADE" "$d/log" ||
		fail "$name: the shim made no local listener ($SHIM_MADE)"
	grep -q "SO_REUSEPORT set by the ${HAPROXY_RP_BY:-shim}" "$d/log" ||
		fail "$name: the shim did not say that the ${HAPROXY_RP_BY:-shim} set SO_REUSEPORT"
	# SIGUSR1: soft stop, exit once the connections are done.
	kill -USR1 $srv
	rc=0
	wait $srv || rc=$?
	info "$name: haproxy stopped after ${SECONDS}s"
	[ $rc = 0 ] || { server_log_dump; fail "$name: haproxy exited with $rc"; }
}
