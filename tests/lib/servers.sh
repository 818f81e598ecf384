# SPDX-License-Identifier: GPL-2.0
# nginx and haproxy configurations, and stopping a server; for tests/vm
# and bench. Needs wait.sh.
# shellcheck shell=bash

# nginx_config FILE KEY=VALUE...: an nginx configuration serving ROOT on
# one port, everything it writes under the given paths. Keys:
#   listen=ARGS       the listen directive's arguments ("8080 reuseport")
#   root=DIR          the document root
#   workers=N         worker_processes
#   connections=N     worker_connections
#   rlimit=N          worker_rlimit_nofile
#   mutex=on|off      accept_mutex
#   pid=FILE          the pid file
#   error_log=ARGS    "FILE LEVEL"
#   temp=DIR          where the *_temp_path directories go
#   main=LINE         a main-context line (repeatable)
#   http=LINE         an http-context line (repeatable)
#   comment=TEXT      a first comment line
nginx_config() {
	local file=$1 kv k v main=() http=() line
	local -A o=([workers]=1 [connections]=1024 [rlimit]=8192 [mutex]=off)
	shift
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		case $k in
		main) main+=("$v") ;;
		http) http+=("$v") ;;
		*) o[$k]=$v ;;
		esac
	done
	{
		[ -z "${o[comment]:-}" ] || echo "# ${o[comment]}"
		for line in "${main[@]}"; do echo "$line"; done
		cat <<EOF
worker_processes ${o[workers]};
worker_rlimit_nofile ${o[rlimit]};
pid ${o[pid]};
error_log ${o[error_log]};
events {
	worker_connections ${o[connections]};
	accept_mutex ${o[mutex]};
}
http {
	access_log off;
EOF
		for line in "${http[@]}"; do echo "	$line"; done
		cat <<EOF
	client_body_temp_path ${o[temp]}/body;
	proxy_temp_path ${o[temp]}/proxy;
	fastcgi_temp_path ${o[temp]}/fastcgi;
	uwsgi_temp_path ${o[temp]}/uwsgi;
	scgi_temp_path ${o[temp]}/scgi;
	server {
		listen ${o[listen]};
		root ${o[root]};
		location / { }
	}
}
EOF
	} >"$file"
}

# haproxy_config FILE KEY=VALUE...: haproxy answering every request itself
# (http-request return) with status 200 and BODY. Keys:
#   nbthread=N maxconn=N body=TEXT frontend=NAME (default fe)
#   bind=ARGS       a bind line of the frontend (repeatable)
#   global=LINE     a global-section line (repeatable)
#   defaults=LINE   a defaults-section line (repeatable)
#   comment=TEXT    a first comment line
haproxy_config() {
	local file=$1 kv k v binds=() global=() defaults=() line
	local -A o=([frontend]=fe [maxconn]=4000)
	shift
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		case $k in
		bind) binds+=("$v") ;;
		global) global+=("$v") ;;
		defaults) defaults+=("$v") ;;
		*) o[$k]=$v ;;
		esac
	done
	{
		[ -z "${o[comment]:-}" ] || echo "# ${o[comment]}"
		echo "global"
		echo "	nbthread ${o[nbthread]}"
		echo "	maxconn ${o[maxconn]}"
		for line in "${global[@]}"; do echo "	$line"; done
		printf '%s\n' defaults "	mode http" "	timeout connect 5s" \
			"	timeout client 30s" "	timeout server 30s"
		for line in "${defaults[@]}"; do echo "	$line"; done
		echo "frontend ${o[frontend]}"
		for line in "${binds[@]}"; do echo "	bind $line"; done
		echo "	http-request return status 200 content-type text/plain string \"${o[body]}\""
	} >"$file"
}

# stop_pids SECS PID...: SIGTERM to the first PID (an nginx or haproxy
# master stops its workers on it), then SIGKILL to whichever of them is
# still alive after SECS seconds. The workers of a master killed outright
# would live on, holding /dev/fastsocket open (rmmod fails): pass them too.
stop_pids() {
	local secs=$1
	shift
	kill -0 "$1" 2>/dev/null || return 0
	kill -TERM "$1" 2>/dev/null || true
	wait_until "$secs" all_gone "$@" && return 0
	kill -KILL "$@" 2>/dev/null || true
}

# kill_tree PID: stop_pids 5 with PID's children, for cleanups.
kill_tree() {
	local kids
	kill -0 "$1" 2>/dev/null || return 0
	read -r -a kids <<<"$(pgrep -P "$1" | tr '\n' ' ')"
	stop_pids 5 "$1" "${kids[@]}"
}
