#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench/fsb-httpd's master asked for its totals (SIGUSR1) as soon as its
# port answers, in TAP form: bench/lib/server.sh does exactly that, and a
# master that installed its handler after listen() died of the signal
# (seen once on the PREEMPT_RT guest, under the shim). strace holds the
# master 2 s inside listen() after the port opens, so the window is
# always there; the master must survive and print one "stats" line. Also
# with --reuseport (each worker listens). Loopback only, bounded waits.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd -P)
httpd=$top/bench/fsb-httpd
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
# shellcheck source=tests/lib/wait.sh
. "$top/tests/lib/wait.sh"
# wait_tcp, the bench's own wait for a server's port.
# shellcheck source=bench/lib/server.sh
. "$top/bench/lib/server.sh"

# free_port: a loopback port nothing listens on, from the kernel.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# reported PID: fsb-httpd printed its totals, or PID is gone.
reported() {
	grep -q '^stats ' "$tmp/out" || ! kill -0 "$1" 2>/dev/null
}

# usr1_at_open NAME ARGS...: start fsb-httpd ARGS under strace, signal the
# master the moment its port answers, and check it lives and reports.
usr1_at_open() {
	local name=$1 port pid tracer
	shift
	port=$(free_port)
	strace -f -qq -o /dev/null -e trace=listen -e inject=listen:delay_exit=2000000 \
		"$httpd" --port "$port" --workers 1 --timeout 10 "$@" >"$tmp/out" 2>&1 &
	tracer=$!
	pid=
	wait_tcp 127.0.0.1 "$port" "$tracer" && pid=$(pgrep -P "$tracer" -f "^$httpd ")
	if [ -z "$pid" ]; then
		not_ok "$name: the master did not start (port $port)"
		kill "$tracer" 2>/dev/null
		wait "$tracer" 2>/dev/null
		return
	fi
	kill -USR1 "$pid"
	wait_until 5 reported "$pid" || true
	if kill -0 "$pid" 2>/dev/null && grep -q '^stats ' "$tmp/out"; then
		ok "$name: SIGUSR1 while the port opens: master alive, totals printed"
	else
		not_ok "$name: SIGUSR1 while the port opens killed the master or got no totals"
		sed 's/^/# /' "$tmp/out"
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$tracer" 2>/dev/null
}

usr1_at_open "one listener"
usr1_at_open "--reuseport" --reuseport

tap_done
