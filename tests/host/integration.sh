#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Host integration test of libshim/libfastsocket.so, in TAP form.
#
# fs_testsrv (2 workers, each waiting on the listening socket in one way
# or another) runs with the real library preloaded; fs_testcli connects
# from every CPU in turn, pinned there, so on loopback each SYN is
# processed on the client's CPU. Checked: no connection fails and, where
# the shim is meant to act, the accepting worker runs on the connection's
# SO_INCOMING_CPU for at least 99% of them (this host's kernel has the
# SO_INCOMING_CPU reuseport fix). Then pass-through: python3 -m
# http.server and curl under the shim, with a good and with a bad
# FASTSOCKET_PORTS, and the tools/fastsocket wrapper.
#
# Loopback only; bounded counts (PER_CPU connections per CPU) and time
# (timeout on every step); no timing assertions.
#
# Environment (make check-sanitize sets both; unset, the default holds):
#   FASTSOCKET_TEST_LIB      the library to test (default:
#                            libshim/libfastsocket.so)
#   FASTSOCKET_TEST_PRELOAD  what to preload in front of it, e.g. the ASan
#                            runtime an ASan-built library needs first
#                            (default: nothing)

set -u
here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/../.." && pwd -P)
lib=${FASTSOCKET_TEST_LIB:-$top/libshim/libfastsocket.so}
pre=${FASTSOCKET_TEST_PRELOAD:-}
preload=${pre:+$pre:}$lib
# curl, the client of the http.server case, runs under the shim too, but
# not with a runtime in front: curl 7.88 hangs in setlocale() at start
# with libasan preloaded, shim or no shim (Documentation/sanitizers.md).
curl_preload=$lib
[ -z "$pre" ] || curl_preload=
wrapper=$top/tools/fastsocket
srv=$top/tests/progs/fs_testsrv
cli=$top/tests/progs/fs_testcli
PER_CPU=${PER_CPU:-200}
tmp=$(mktemp -d)
n=0
failed=0
srv_pid=

cleanup() {
	[ -z "$srv_pid" ] || kill "$srv_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $* # SKIP"; }
diag() { sed 's/^/# /' "$@"; }
check() {	# check NAME CONDITION-STATUS [DIAG-FILE...]
	check_name=$1
	check_st=$2
	shift 2
	if [ "$check_st" = 0 ]; then
		ok "$check_name"
	else
		not_ok "$check_name"
		for f in "$@"; do
			[ -s "$f" ] && diag "$f"
		done
	fi
}

for f in "$lib" "$srv" "$cli"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		echo "not ok 1 - integration: $f is missing (make -C libshim; make -C tests/progs)"
		echo "1..1"
		exit 1
	fi
done

ncpu=$("$cli" --port 1 --per-cpu 1 2>/dev/null | sed -n 's/.*total=\([0-9]*\).*/\1/p')
[ -n "$ncpu" ] || ncpu=$(nproc)

# start_server ENV... -- ARGS...: run fs_testsrv preloaded, wait for READY.
start_server() {
	: >"$tmp/srv.out"
	: >"$tmp/srv.err"
	env_args=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		env_args="$env_args $1"
		shift
	done
	shift
	# shellcheck disable=SC2086
	env LD_PRELOAD="$preload" $env_args "${server:-$srv}" --timeout 100 "$@" \
		>"$tmp/srv.out" 2>"$tmp/srv.err" &
	srv_pid=$!
	port=
	i=0
	while [ $i -lt 100 ]; do
		port=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$tmp/srv.out")
		[ -n "$port" ] && return 0
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

stop_server() {
	srv_rc=0
	[ -n "$srv_pid" ] || return 0
	kill -TERM "$srv_pid" 2>/dev/null
	wait "$srv_pid" 2>/dev/null || srv_rc=$?
	srv_pid=
}

field() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" "$tmp/cli.out"; }

# run_case NAME LOCALITY(yes|no) ENV... -- SERVER-ARGS...
run_case() {
	name=$1
	want_local=$2
	shift 2
	v6=
	case " $* " in *" --v6 "*) v6=--v6 ;; esac
	if ! start_server "$@"; then
		stop_server
		not_ok "$name: server did not start"
		diag "$tmp/srv.err"
		return
	fi
	timeout 120 "$cli" --port "$port" --per-cpu "$PER_CPU" $v6 \
		>"$tmp/cli.out" 2>"$tmp/cli.err"
	cli_rc=$?
	stop_server
	total=$(field total)
	good=$(field ok)
	bad=$(field failed)
	local_=$(field local)
	workers=$(field workers)
	acpus=$(field accept_cpus)
	summary="$(cat "$tmp/cli.out")"
	if [ $cli_rc != 0 ] || [ -z "$total" ] || [ "$total" = 0 ]; then
		not_ok "$name: client failed (rc $cli_rc)"
		diag "$tmp/cli.err" "$tmp/srv.err"
		return
	fi
	st=0
	[ "$bad" = 0 ] && [ "$good" = "$total" ] || st=1
	[ "$srv_rc" = 0 ] || st=1	# 3: an epoll event with foreign data
	check "$name: $total connections, $bad failed: $summary" $st \
		"$tmp/cli.err" "$tmp/srv.err"
	[ "$want_local" = yes ] || return
	if [ "$ncpu" -lt 2 ]; then
		skip "$name: locality (needs 2 CPUs, have $ncpu)"
		return
	fi
	st=0
	[ $((local_ * 100)) -ge $((total * 99)) ] || st=1
	[ "$workers" = 2 ] && [ "$acpus" = 2 ] || st=1
	pct=$((local_ * 100 / total))
	check "$name: locality $local_/$total ($pct%) >= 99%, both workers on their own CPUs" \
		$st "$tmp/srv.err"
}

L="FASTSOCKET_LOG=info"
run_case "epoll, 2 forked workers" yes $L -- --wait epoll
run_case "epoll EPOLLEXCLUSIVE, 2 forked workers" yes $L -- --wait epollex
run_case "epoll EPOLLET, 2 forked workers" yes $L -- --wait epollet
run_case "poll, 2 forked workers" yes $L -- --wait poll
run_case "select, 2 forked workers" yes $L -- --wait select
run_case "blocking accept, 2 forked workers" yes $L -- --wait accept
run_case "epoll, 2 threads" yes $L -- --wait epoll --threads
run_case "poll, 2 threads" yes $L -- --wait poll --threads
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	run_case "IPv6, epoll, 2 forked workers" yes $L -- --wait epoll --v6
else
	skip "IPv6, epoll, 2 forked workers (no [::1] here)"
fi
run_case "mode 1, workers pin themselves" yes $L FASTSOCKET_MODE=1 -- --wait epoll --pin
run_case "FASTSOCKET_CPUS=0-1, 2 forked workers" yes $L FASTSOCKET_CPUS=0-1 -- --wait epollex

# The log tells what happened: two workers pinned, one local listener each.
run_case "log of the epoll case" no $L -- --wait epoll
pinned=$(grep -c 'pinned to CPU' "$tmp/srv.err")
locals=$(grep -c 'local listener fd' "$tmp/srv.err")
st=0
[ "$pinned" = 2 ] && [ "$locals" = 2 ] || st=1
check "log: 2 workers pinned, 2 local listeners (userspace fallback)" $st "$tmp/srv.err"

# Pass-through: mode 0, an unconfigured port, mode 1 without pinning.
run_case "mode 0 passes through" no $L FASTSOCKET_MODE=0 -- --wait epoll
st=0
! grep -q 'local listener\|SO_REUSEPORT' "$tmp/srv.err" || st=1
check "mode 0: no SO_REUSEPORT, no local listener" $st "$tmp/srv.err"

run_case "FASTSOCKET_PORTS without the port passes through" no $L FASTSOCKET_PORTS=1-19999 -- --wait epoll --port-base 20000
st=0
! grep -q 'local listener\|SO_REUSEPORT' "$tmp/srv.err" || st=1
check "unconfigured port: no SO_REUSEPORT, no local listener" $st "$tmp/srv.err"

run_case "mode 1, unpinned workers pass through" no $L FASTSOCKET_MODE=1 -- --wait epoll
st=0
[ "$(grep -c 'not pinned to one CPU' "$tmp/srv.err")" = 1 ] || st=1
! grep -q 'local listener fd' "$tmp/srv.err" || st=1
check "mode 1 unpinned: said once, no local listener" $st "$tmp/srv.err"

# io_uring: its accepts (IORING_OP_ACCEPT) never pass through the shim,
# which therefore makes no local listener: every connection reaches the
# listening socket the server accepts from.
count=$((PER_CPU * ncpu))
server=$top/tests/progs/fs_uringsrv
run_case "io_uring accept server passes through" no $L -- --count $count
server=
st=0
! grep -q 'local listener fd' "$tmp/srv.err" || st=1
check "io_uring: no local listener" $st "$tmp/srv.err"

# The wrapper.
st=0
"$wrapper" --help >"$tmp/help" 2>&1 || st=1
for word in --mode --ports --cpus --log --lib FASTSOCKET_PORTS; do
	grep -q -- "$word" "$tmp/help" || st=1
done
check "tools/fastsocket --help documents every option" $st "$tmp/help"
st=0
"$wrapper" --mode 7 -- true >"$tmp/w.out" 2>&1 && st=1
grep -q '^fastsocket: --mode: "7": not 0, 1 or 2$' "$tmp/w.out" || st=1
"$wrapper" --frobnicate -- true >"$tmp/w.out" 2>&1
[ $? = 2 ] || st=1
check "tools/fastsocket rejects bad options with exit 2" $st "$tmp/w.out"

# The wrapper, a shell script, runs the server. A runtime preloaded in
# front (FASTSOCKET_TEST_PRELOAD) runs in the shell too, and libtsan
# crashes dash and bash at start: then this case cannot run.
if [ -n "$pre" ] && ! env LD_PRELOAD="$pre" sh -c : 2>/dev/null; then
	skip "tools/fastsocket -- fs_testsrv: accelerated (sh cannot run with $pre preloaded)"
else
	st=0
	# The wrapper puts --lib in front of LD_PRELOAD, which is ours or unset.
	timeout 60 env ${pre:+LD_PRELOAD="$pre"} sh "$wrapper" --lib "$lib" --log info --mode 2 --cpus 0-1 -- "$srv" --timeout 50 \
		>"$tmp/srv.out" 2>"$tmp/srv.err" &
	srv_pid=$!
	i=0
	port=
	while [ $i -lt 100 ] && [ -z "$port" ]; do
		port=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$tmp/srv.out")
		sleep 0.1
		i=$((i + 1))
	done
	if [ -n "$port" ]; then
		timeout 120 "$cli" --port "$port" --per-cpu 50 >"$tmp/cli.out" 2>"$tmp/cli.err" || st=1
		[ "$(field failed)" = 0 ] || st=1
		grep -q 'local listener fd' "$tmp/srv.err" || st=1
	else
		st=1
	fi
	stop_server
	check "tools/fastsocket -- fs_testsrv: accelerated, $(cat "$tmp/cli.out" 2>/dev/null)" $st "$tmp/srv.err" "$tmp/cli.err"
fi

# python3 -m http.server and curl under the shim.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -z "$py" ] || ! command -v curl >/dev/null 2>&1; then
	skip "python3 -m http.server + curl (python3 or curl missing)"
	skip "bad FASTSOCKET_PORTS (python3 or curl missing)"
else
	mkdir -p "$tmp/www"
	echo "fastsocket pass-through" >"$tmp/www/index.txt"

	# http_case NAME PORTS-VALUE: start the server, fetch a few times.
	http_case() {
		hport=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		timeout 60 env LD_PRELOAD="$preload" FASTSOCKET_LOG=info FASTSOCKET_PORTS="$2" \
			"$py" -m http.server "$hport" --bind 127.0.0.1 \
			--directory "$tmp/www" >"$tmp/py.out" 2>"$tmp/py.err" &
		srv_pid=$!
		got=0
		i=0
		while [ $i -lt 100 ]; do
			if env ${curl_preload:+LD_PRELOAD="$curl_preload"} FASTSOCKET_PORTS="$2" \
				curl -sf --max-time 5 "http://127.0.0.1:$hport/index.txt" \
				>"$tmp/curl.out" 2>"$tmp/curl.err"; then
				got=1
				break
			fi
			sleep 0.1
			i=$((i + 1))
		done
		fetched=0
		if [ $got = 1 ]; then
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				env ${curl_preload:+LD_PRELOAD="$curl_preload"} FASTSOCKET_PORTS="$2" \
					curl -sf --max-time 5 "http://127.0.0.1:$hport/index.txt" \
					>>"$tmp/curl.out" 2>>"$tmp/curl.err" && fetched=$((fetched + 1))
			done
		fi
		stop_server
	}

	http_case "http.server" "1-65535"
	st=0
	[ "$fetched" = 10 ] || st=1
	[ "$(grep -c '^fastsocket pass-through$' "$tmp/curl.out")" = 11 ] || st=1
	check "python3 -m http.server + curl under the shim: 11/11 fetched" $st "$tmp/py.err" "$tmp/curl.err"
	st=0
	grep -q 'local listener fd' "$tmp/py.err" || st=1
	! grep -q '^fastsocket:' "$tmp/curl.err" || st=1
	check "http.server accelerated (local listener), curl passed through silently" $st "$tmp/py.err" "$tmp/curl.err"

	http_case "bad ports" "80,abc"
	st=0
	[ "$fetched" = 10 ] || st=1
	want='fastsocket: FASTSOCKET_PORTS: "80,abc": "abc" is not a port; running unaccelerated'
	[ "$(grep -c '^fastsocket:' "$tmp/py.err")" = 1 ] || st=1
	[ "$(grep '^fastsocket:' "$tmp/py.err")" = "$want" ] || st=1
	check "bad FASTSOCKET_PORTS: the server says it once and still serves 10/10" $st "$tmp/py.err"
fi

echo "1..$n"
[ $failed = 0 ]
