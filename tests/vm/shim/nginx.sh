# SPDX-License-Identifier: GPL-2.0
# nginx under the shim. Sourced by common.sh.
# shellcheck shell=bash
# shellcheck disable=SC2034 # SERVER_LOG: for server_log_dump (common.sh)

# nginx_conf DIR PORT WORKERS MUTEX [DAEMON [MAIN-LINES]]: a config in DIR
# serving DIR/www/index.html (64 bytes); everything nginx writes stays in
# DIR. MAIN-LINES: more directives for the main context.
nginx_conf() {
	local d=$1 port=$2 workers=$3 mutex=$4 daemon=${5:-off} extra=${6:-}
	mkdir -p "$d/www" "$d/tmp"
	chmod 755 "$d" "$d/www"
	head -c 63 /dev/zero | tr '\0' 'x' >"$d/www/index.html"
	echo >>"$d/www/index.html"
	nginx_config "$d/nginx.conf" workers="$workers" rlimit=8192 \
		main="daemon $daemon;" main="$extra" pid="$d/nginx.pid" \
		error_log="$d/error.log info" connections=4096 mutex="$mutex" \
		temp="$d/tmp" listen="$port${NGINX_LISTEN_OPTS:+ $NGINX_LISTEN_OPTS}" \
		root="$d/www"
}

# nginx_case NAME WORKERS ACCEPT_MUTEX: start nginx under the shim (daemon
# off, so this shell is its parent), load it for SECS seconds, check wrk
# and the module's counters, stop it. NGINX_MAIN: more main-context
# directives; NGINX_EXPECT: what the shim must have logged (default: a
# local listener made). The error log stays in $WORK/NAME/error.log.
# nginx_start DIR WORKERS MUTEX: nginx under the shim on the next
# NGINX_PORT, configured in DIR (daemon off: NGINX_PID is its master,
# killed at exit); returns once it answers.
nginx_start() {
	local d=$1 workers=$2 mutex=$3
	NGINX_PORT=$((${NGINX_PORT:-8200} + 1))
	nginx_conf "$d" "$NGINX_PORT" "$workers" "$mutex" off "${NGINX_MAIN:-}"
	SERVER_LOG=$d/error.log
	"$FASTSOCKET" --log info -- "$NGINX" -p "$d" -c "$d/nginx.conf" \
		>"$d/stdout" 2>"$d/stderr" &
	NGINX_PID=$!
	at_exit "kill_tree $NGINX_PID"
	wait_http "http://127.0.0.1:$NGINX_PORT/" 30
}

nginx_case() {
	local name=$1 workers=$2 mutex=$3 d=$WORK/$1 srv rc
	nginx_start "$d" "$workers" "$mutex"
	srv=$NGINX_PID
	# accept_mutex on: a worker arms the listening socket (and gets its
	# local listener) only once it has held the mutex.
	[ "$mutex" = on ] || wait_local_listeners 30
	info "$name: $workers workers, accept_mutex $mutex: serving after ${SECONDS}s"
	[ "$SHIM_KMOD" = 0 ] || echo 0 >/proc/net/fastsocket
	shim_nstat
	wrk_start "$name" "$NGINX_PORT" "$SECS"
	wrk_wait "$name"
	shim_nstat "$name"
	kill -0 $srv 2>/dev/null || fail "$name: nginx died: $(tail -n 5 "$d/error.log")"
	shim_assert_wrk "$name"
	shim_assert_steered "$name" "${STEER_MIN:-900}"
	kill -QUIT $srv
	rc=0
	wait $srv || rc=$?
	info "$name: nginx stopped after ${SECONDS}s"
	[ $rc = 0 ] || fail "$name: nginx exited with $rc: $(tail -n 5 "$d/error.log")"
	grep -q "${NGINX_EXPECT:-$SHIM_MADE}" "$d/error.log" ||
		fail "$name: the shim made no local listener ($SHIM_MADE): $(grep fastsocket "$d/error.log" | head -n 5)"
	if grep -E "\[(alert|emerg|crit)\]" "$d/error.log" >&2; then
		fail "$name: nginx logged alerts (above)"
	fi
}
