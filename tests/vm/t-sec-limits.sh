#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=12 4=24
# Issue #14: the limits of local listeners (net.fastsocket.max_local_listeners
# and max_local_listeners_per_user), with a per-user limit of 5 and a
# netns limit of 8:
#  (a) uid 65534 gets exactly 5 local listeners, then EDQUOT; at the limit
#      a new fd of an existing one is still given, a REGISTER of a new
#      socket is refused; /proc/net/fastsocket counts 5 for uid 65534;
#  (b) root, meanwhile, is not held by uid 65534's limit: it gets the
#      3 the netns limit leaves, then EDQUOT;
#  (c) a second netns starts with the same limits, may not raise them
#      above the initial netns's, and has its own counts: uid 65534 gets
#      5 there too;
#  (d) closing a local listener's last fd gives its count back: the
#      refused SPAWN then succeeds, and the counts go back to 0;
#  (e) nginx under tools/fastsocket with a per-user limit of 1 still
#      serves: one worker gets a local listener, the others pass through,
#      the shim saying why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

N=$(nr_cpus)
[ "$N" -ge 2 ] || fail "needs 2 CPUs"
LIMIT=5
TOTAL=8

fsk_load
for v in 0 1048577; do
	if sysctl -qw net.fastsocket.max_local_listeners=$v 2>/dev/null; then
		errors+=("max_local_listeners=$v was accepted")
	fi
done
check_eq 65536 "$(sysctl -n net.fastsocket.max_local_listeners)" "default max_local_listeners"
check_eq 16384 "$(sysctl -n net.fastsocket.max_local_listeners_per_user)" "default max_local_listeners_per_user"
# Not sysctl_set: the values go with the module (fsk_unload, or cleanup).
sysctl -qw net.fastsocket.max_local_listeners_per_user=$LIMIT
sysctl -qw net.fastsocket.max_local_listeners=$TOTAL

# ---- (a) uid 65534 up to its limit, holding -----------------------------
chmod o+x "$WORK"
mkdir -m 1777 "$WORK/shared"
"$PROGS/fsk-review" quota --uid 65534 --port 8801 --count 64 \
	--ready "$WORK/shared/held" --go "$WORK/shared/go" >"$WORK/user.out" 2>&1 &
holder=$!
at_exit "kill $holder 2>/dev/null || true"
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ] && [ ! -e "$WORK/shared/held" ] &&
	kill -0 "$holder" 2>/dev/null; do
	sleep 0.1
done
[ -e "$WORK/shared/held" ] || fail "uid 65534's spawner: $(cat "$WORK/user.out")"
check_eq $LIMIT "$(kv "$WORK/user.out" spawned)" "uid 65534: local listeners made before the first refusal"
check_eq EDQUOT "$(kv "$WORK/user.out" spawn_errno)" "uid 65534: the refusal"
check_eq 0 "$(kv "$WORK/user.out" existing_errno)" "uid 65534 at its limit: a new fd of an existing local listener"
check_eq EDQUOT "$(kv "$WORK/user.out" register_errno)" "uid 65534 at its limit: REGISTER of a new socket"
proc_read
info "quota row: ${PROC_QUOTA[*]}"
check_eq "$LIMIT $TOTAL $LIMIT" "${PROC_QUOTA[*]}" "/proc quota row (count, max, max_per_user)"
check_eq $LIMIT "${PROC_USER[65534]:-none}" "/proc local listeners of uid 65534"
check_eq $LIMIT "${#PROC_PIDS[@]}" "/proc local-listener rows"

# ---- (b) root in the same netns ------------------------------------------
"$PROGS/fsk-review" quota --uid 0 --port 8901 --count 64 >"$WORK/root.out" 2>&1 ||
	fail "root's spawner: $(cat "$WORK/root.out")"
check_eq $((TOTAL - LIMIT)) "$(kv "$WORK/root.out" spawned)" "root while uid 65534 is at its limit: local listeners made"
check_eq EDQUOT "$(kv "$WORK/root.out" spawn_errno)" "root: the refusal (the netns limit)"
check_eq 0 "$(kv "$WORK/root.out" after_close_errno)" "root: SPAWN after closing one"
proc_read
check_eq "$LIMIT" "${PROC_QUOTA[0]}" "/proc count after root's spawner exited"
check_eq none "${PROC_USER[0]:-none}" "/proc row of uid 0 after its spawner exited"

# ---- (c) a second netns ---------------------------------------------------
netns_add fsk-lim
check_eq $LIMIT "$(ip netns exec fsk-lim sysctl -n net.fastsocket.max_local_listeners_per_user)" "a new netns's max_local_listeners_per_user"
check_eq $TOTAL "$(ip netns exec fsk-lim sysctl -n net.fastsocket.max_local_listeners)" "a new netns's max_local_listeners"
if ip netns exec fsk-lim sysctl -qw net.fastsocket.max_local_listeners=$((TOTAL + 1)) 2>/dev/null; then
	errors+=("a netns raised max_local_listeners above the initial netns's")
fi
ip netns exec fsk-lim sysctl -qw net.fastsocket.max_local_listeners=$((TOTAL - 1)) ||
	errors+=("a netns could not lower its max_local_listeners")
ip netns exec fsk-lim "$PROGS/fsk-review" quota --uid 65534 --port 8801 --count 64 \
	>"$WORK/ns.out" 2>&1 || fail "spawner in a netns: $(cat "$WORK/ns.out")"
check_eq $LIMIT "$(kv "$WORK/ns.out" spawned)" "uid 65534 in a second netns: local listeners made"
check_eq EDQUOT "$(kv "$WORK/ns.out" spawn_errno)" "uid 65534 in a second netns: the refusal"
check_eq 0 "$(kv "$WORK/ns.out" after_close_errno)" "uid 65534 in a second netns: SPAWN after closing one"
proc_read fsk-lim
check_eq "0 $((TOTAL - 1)) $LIMIT" "${PROC_QUOTA[*]}" "the second netns's /proc quota row after its spawner exited"
proc_read
check_eq "$LIMIT" "${PROC_QUOTA[0]}" "the initial netns's count meanwhile"

# ---- (d) the quota back on close -----------------------------------------
touch "$WORK/shared/go"
wait "$holder" || errors+=("uid 65534's spawner exited with $?")
check_eq 0 "$(kv "$WORK/user.out" after_close_errno)" "uid 65534: the refused SPAWN after closing one"
proc_read
check_eq 0 "${PROC_QUOTA[0]}" "/proc count after every spawner exited"
check_eq 0 "${#PROC_USER[@]}" "/proc user rows after every spawner exited"

# ---- (e) the shim with a per-user limit too small -------------------------
sysctl -qw net.fastsocket.max_local_listeners_per_user=1
d=$WORK/nginx
NGINX_PORT=8950
nginx_start "$d" "$N" off
PORT=$NGINX_PORT srv=$NGINX_PID
said() {
	cat "$d/stdout" "$d/stderr" "$d/error.log" 2>/dev/null |
		grep -c "FASTSOCKET_IOC_SPAWN: Disk quota exceeded: the limit of local listeners is reached" || true
}
said_it() {
	[ "$(said)" -ge 1 ]
}
wait_until 30 said_it ||
	fail "the shim never said it hit the limit: $(cat "$d/stderr" "$d/error.log" | grep fastsocket | head -n 5)"
check_eq 20 "$(http_served "http://127.0.0.1:$PORT/" 20)" "nginx ($N workers) with max_local_listeners_per_user 1: requests served"
proc_read
check_eq 1 "${PROC_QUOTA[0]}" "nginx's local listeners with a per-user limit of 1"
info "what the shim said: $(cat "$d/stdout" "$d/stderr" "$d/error.log" | grep "fastsocket:.*FASTSOCKET_IOC_SPAWN" | head -n 2)"
kill -QUIT $srv
wait $srv || errors+=("nginx exited with $?")

check_errors
fsk_unload
echo "PASS: $TEST_NAME"
