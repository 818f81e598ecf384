# SPDX-License-Identifier: GPL-2.0
# Helpers for the shim VM tests (tests/vm/t-shim-*.sh): real servers
# (Debian's nginx and haproxy) run under tools/fastsocket with the module
# loaded, loaded by wrk. Source after lib.sh.
# shellcheck shell=bash

SHIM_DIR=$FSK_ROOT/tests/vm/shim
FASTSOCKET=$FSK_ROOT/tools/fastsocket
SHIM_LIB=$FSK_ROOT/libshim/libfastsocket.so
NGINX=/usr/sbin/nginx
HAPROXY=/usr/sbin/haproxy

# SHIM_KMOD=0: the module is not loaded, the shim makes its local
# listeners in userspace (SO_REUSEPORT + SO_INCOMING_CPU siblings): no
# /proc/net/fastsocket to read.
SHIM_KMOD=${SHIM_KMOD:-1}
if [ "$SHIM_KMOD" = 1 ]; then
	SHIM_MADE="local listener fd .* (module)"
else
	SHIM_MADE="local listener fd .* (userspace"
fi

[ -f "$SHIM_LIB" ] || fail "$SHIM_LIB is missing: make -C libshim"
for _t in wrk curl; do
	command -v $_t >/dev/null || fail "$_t is not installed (tools/install-deps)"
done
# nginx workers drop to nobody: they must reach the document root.
chmod 755 "$WORK"

# server_log_dump: on a failure, the server's complaints (SERVER_LOG:
# the nginx error log or haproxy's output, set by the test).
server_log_dump() {
	[ -n "${SERVER_LOG:-}" ] && [ -f "$SERVER_LOG" ] || return 0
	echo "--- last complaints in $SERVER_LOG:" >&2
	grep -E "\[(warn|error|crit|alert|emerg)\]|WARNING|ALERT|fastsocket: .*(pass|fail|cannot|error)" "$SERVER_LOG" | tail -n 20 >&2 || true
}

# wait_http URL [SECS]: until it answers 200.
wait_http() {
	local secs=${2:-30}
	wait_until -i 0.2 "$secs" http_ok "$1" || fail "timed out after ${secs}s waiting for $1"
}

http_ok() {
	[ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$1")" = 200 ]
}

# http_served URL N: N requests to URL, each on its own connection; prints
# how many got a 200.
http_served() {
	local urls=() codes c i ok=0
	for ((i = 0; i < $2; i++)); do
		urls+=("$1" -o /dev/null)
	done
	codes=$(curl -s -m 60 -H 'Connection: close' -w '%{http_code}\n' "${urls[@]}" || true)
	for c in $codes; do
		[ "$c" = 200 ] && ok=$((ok + 1))
	done
	echo "$ok"
}

# The parts, by subject; tests source only this file.
# shellcheck source=tests/vm/shim/load.sh
. "$SHIM_DIR/load.sh"
# shellcheck source=tests/vm/shim/counters.sh
. "$SHIM_DIR/counters.sh"
# shellcheck source=tests/vm/shim/nginx.sh
. "$SHIM_DIR/nginx.sh"
# shellcheck source=tests/vm/shim/haproxy.sh
. "$SHIM_DIR/haproxy.sh"
# shellcheck source=tests/vm/shim/locality.sh
. "$SHIM_DIR/locality.sh"
