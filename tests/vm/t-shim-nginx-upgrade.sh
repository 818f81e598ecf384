#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=57
# nginx under tools/fastsocket with the module, loaded by wrk the whole
# time while it is reconfigured (nginx -s reload) and its binary upgraded
# (USR2: the master execs a new binary that inherits the listening
# sockets; WINCH: the old workers stop; QUIT: the old master goes). No
# request may fail.
#
# What happens to acceleration:
#  - reload: the master forks new workers; each gets a local listener
#    from the module on its first wait, the old workers close theirs on
#    the way out (queued connections move: tcp_migrate_req=1).
#  - upgrade: nginx execs the new binary with an environment of its own
#    making (TZ, the "env" directives and NGINX): LD_PRELOAD is dropped
#    unless nginx.conf says "env LD_PRELOAD;". Then the new master and
#    its workers run without the shim: served, but no local listener
#    (case plain-env, checked as such). With "env LD_PRELOAD;" the shim
#    in the new master adopts the inherited listening socket (it has
#    SO_REUSEPORT, set by the shim in the old master) and the new
#    workers get local listeners again (case env-ld-preload, which also
#    reloads first).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-5}
N=$(nr_cpus)

# Every worker of master $1 got a local listener from the module (the
# shim's log line), and every CPU has one. (The module's table names the
# process that first asked for a CPU's listener; workers that come later
# get fds of the same socket.)
locals_of() {
	local kid cpu
	kids_of "$1"
	[ -n "$KIDS" ] || return 1
	for kid in $KIDS; do
		grep -q "fastsocket: pid $kid tid $kid: .*local listener fd .* (module)" "$SERVER_LOG" || return 1
	done
	proc_read
	for ((cpu = 0; cpu < N; cpu++)); do
		[ "${PROC_LL[$cpu]:-0}" -gt 0 ] || return 1
	done
}

kids_of() {
	KIDS=$(pgrep -d ' ' -P "$1")
}

has_kids() {
	kids_of "$1"
	[ -n "$KIDS" ]
}

no_locals() {
	proc_read
	[ ${#PROC_PIDS[@]} = 0 ]
}

upgraded() { # DIR OLD-MASTER
	local new
	[ -e "$1/nginx.pid.oldbin" ] && [ -s "$1/nginx.pid" ] && read -r new <"$1/nginx.pid" &&
		[ -n "$new" ] && [ "$new" != "$2" ]
}

run_case() { # name reload(yes|no) accelerated-after-upgrade(yes|no) main-lines
	local name=$1 reload=$2 accel=$3 d=$WORK/$1 old new oldkids port
	NGINX_PORT=$((${NGINX_PORT:-8600} + 1))
	port=$NGINX_PORT
	nginx_conf "$d" "$port" "$N" off on "$4"
	SERVER_LOG=$d/error.log
	"$FASTSOCKET" --log info -- "$NGINX" -p "$d" -c "$d/nginx.conf" \
		>"$d/stdout" 2>&1 || fail "$name: nginx did not start: $(cat "$d/stdout")"
	read -r old <"$d/nginx.pid"
	at_exit "kill_tree $old"
	wait_http "http://127.0.0.1:$port/" 30
	wait_until 30 locals_of "$old" || { cat /proc/net/fastsocket >&2; fail "$name: no local listeners"; }
	info "$name: serving after ${SECONDS}s"
	# Load through the reload and the upgrade; stopped once done.
	wrk_start "$name" "$port" 600
	sleep 3

	if [ "$reload" = yes ]; then
		oldkids=$(pgrep -d ' ' -P "$old")
		"$NGINX" -p "$d" -c "$d/nginx.conf" -s reload >"$d/reload.out" 2>&1 ||
			fail "$name: nginx -s reload failed: $(cat "$d/reload.out")"
		# shellcheck disable=SC2086
		wait_until 30 all_gone $oldkids || fail "$name: the old workers did not exit after the reload"
		wait_until 30 locals_of "$old" || { cat /proc/net/fastsocket >&2; fail "$name: the new workers have no local listeners after the reload"; }
		info "$name: reloaded after ${SECONDS}s; workers $KIDS have local listeners"
		sleep 2
	fi

	kill -USR2 "$old"
	wait_until 30 upgraded "$d" "$old" || fail "$name: USR2: no new master"
	read -r new <"$d/nginx.pid"
	at_exit "kill_tree $new"
	wait_until 30 has_kids "$new" || fail "$name: the new master started no worker"
	sleep 2
	# The old master's workers (the new master is its child too).
	oldkids=$(pgrep -d ' ' -P "$old")
	oldkids=" $oldkids "
	oldkids=${oldkids/ $new / }
	kill -WINCH "$old"
	# shellcheck disable=SC2086
	wait_until 30 all_gone $oldkids || fail "$name: WINCH: the old workers did not exit"
	kill -QUIT "$old"
	wait_until 30 all_gone "$old" || fail "$name: QUIT: the old master did not exit"
	info "$name: upgraded after ${SECONDS}s (master $old -> $new)"
	sleep 2
	wrk_stop
	wrk_wait "$name"
	shim_assert_wrk "$name"

	# The new binary, on its own.
	if [ "$accel" = yes ]; then
		wait_until 30 locals_of "$new" || { cat /proc/net/fastsocket >&2; fail "$name: the new binary's workers have no local listeners"; }
		info "$name: the new binary's workers $KIDS have local listeners"
		grep -q "inherited listening socket with SO_REUSEPORT: managed" "$d/error.log" ||
			fail "$name: the new master did not adopt the inherited listening socket"
	else
		no_locals || { cat /proc/net/fastsocket >&2; fail "$name: local listeners left after the upgrade"; }
	fi
	echo 0 >/proc/net/fastsocket
	# wrk_start takes new addresses: the first load's 4-tuples are in
	# TIME_WAIT.
	wrk_start "$name-new" "$port" "$SECS"
	wrk_wait "$name-new"
	shim_assert_wrk "$name-new"
	if [ "$accel" = yes ]; then
		shim_assert_steered "$name-new" 900
	else
		proc_read
		assert_eq 0 "$PROC_ST_SUM" "$name-new: SYNs steered without the shim"
	fi
	kill -QUIT "$new"
	wait_until 30 all_gone "$new" || fail "$name: the new master did not exit"
	if grep -E "\[(alert|emerg|crit)\]" "$d/error.log" >&2; then
		fail "$name: nginx logged alerts (above)"
	fi
}

shim_client_setup
fsk_load
run_case env-ld-preload yes yes "env LD_PRELOAD; env FASTSOCKET_LOG;"
run_case plain-env no no ""
fsk_unload
echo "PASS: $TEST_NAME"
