#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=15
# Under tools/fastsocket with the module loaded, what the shim must not
# break: python3 -m http.server on loopback serves curl (itself run under
# the shim: a client passes through, silently); and an invalid
# FASTSOCKET_PORTS makes the library say so in exactly one line and run
# nginx unaccelerated, still serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

N=$(nr_cpus)
PORT=8701
fsk_load

# ---- python3 -m http.server + curl --------------------------------------
mkdir -p "$WORK/www"
head -c 64 /dev/zero | tr '\0' 'y' >"$WORK/www/f"
"$FASTSOCKET" --log info -- python3 -m http.server --bind 127.0.0.1 \
	--directory "$WORK/www" $PORT >"$WORK/py.out" 2>"$WORK/py.err" &
py=$!
at_exit "kill_tree $py"
wait_http "http://127.0.0.1:$PORT/f" 60
# One curl, 20 transfers (http.server closes each connection).
want=$(printf '%064d' 0 | tr 0 y)
urls=()
for i in $(seq 1 20); do
	urls+=("http://127.0.0.1:$PORT/f" -o "$WORK/got$i")
done
"$FASTSOCKET" --log info -- curl -sS -m 60 "${urls[@]}" 2>"$WORK/curl.err" ||
	fail "curl under the shim failed: $(cat "$WORK/curl.err")"
ok=0
for i in $(seq 1 20); do
	body=
	read -r body <"$WORK/got$i" || true	# no newline at the end
	[ "$body" = "$want" ] && ok=$((ok + 1))
done
assert_eq 20 "$ok" "python3 -m http.server: files fetched by curl"
[ ! -s "$WORK/curl.err" ] || fail "curl under the shim said something: $(head -n 5 "$WORK/curl.err")"
grep -q "local listener fd .* (module)" "$WORK/py.err" ||
	fail "http.server got no local listener from the module: $(grep fastsocket "$WORK/py.err")"
kill $py
wait $py 2>/dev/null || true
info "python3 -m http.server: 20/20 fetched with curl, both under the shim; local listener made by the module"

# ---- an invalid FASTSOCKET_PORTS: one line, nginx serves -----------------
d=$WORK/nginx
nginx_conf "$d" $((PORT + 1)) "$N" off
SERVER_LOG=$d/error.log
echo 0 >/proc/net/fastsocket
FASTSOCKET_PORTS=80,abc "$FASTSOCKET" -- "$NGINX" -p "$d" -c "$d/nginx.conf" \
	>"$d/stdout" 2>"$d/stderr" &
srv=$!
at_exit "kill_tree $srv"
wait_http "http://127.0.0.1:$((PORT + 1))/" 30
assert_eq 20 "$(http_served "http://127.0.0.1:$((PORT + 1))/" 20)" "nginx with an invalid FASTSOCKET_PORTS: requests served"
kill -QUIT $srv
wait $srv || fail "nginx exited with $?"
lines=$(cat "$d/stdout" "$d/stderr" "$d/error.log" | grep -c "^fastsocket:" || true)
info "what the shim said: $(cat "$d/stdout" "$d/stderr" "$d/error.log" | grep "^fastsocket:" || true)"
assert_eq 1 "$lines" "lines printed by the shim"
grep -qx 'fastsocket: FASTSOCKET_PORTS: "80,abc": "abc" is not a port; running unaccelerated' "$d/stderr" ||
	fail "not the documented message: $(cat "$d/stderr")"
proc_read
assert_eq 0 "${#PROC_PIDS[@]}" "local listeners made for the unaccelerated nginx"
assert_eq 0 "$PROC_ST_SUM" "SYNs steered for the unaccelerated nginx"
fsk_unload
echo "PASS: $TEST_NAME"
