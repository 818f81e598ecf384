#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2
# cost: 2=49
# tools/fastsocketctl on a real system: the module loaded, Debian's nginx
# under the shim with one worker per CPU, loaded by wrk. Checked against
# what the system itself says:
#  - status --json: every (address, CPU, pid) row of /proc/net/fastsocket,
#    the workers are exactly nginx's worker processes, each pinned to its
#    local listener's CPU as /proc/PID/status says, ABI and features;
#  - stats --json: every CPU's counters as /proc/net/fastsocket has them
#    (read when no load runs); stats -i 1 -c 2 while wrk runs: a header,
#    two blocks of N+1 rows, some SYNs steered per second;
#  - doctor: every line "check: ...; fix: ...", exit 1 exactly when it
#    found something, nothing about the module, ABI, nginx's port or
#    worker count; net.ipv4.tcp_migrate_req=0 is found, and gone at 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

CTL=$FSK_ROOT/tools/fastsocketctl
N=$(nr_cpus)
PORT=8301
[ -x "$CTL" ] || fail "$CTL is missing: make -C tools"

# json FILE EXPR: the Python expression EXPR on FILE's document d holds.
json() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$1" "$2" ||
		fail "$1: not ($2): $(cat "$1")"
}

# steered_some: some SYN was steered to a local listener since the reset.
steered_some() {
	[ "$(proc_sum 2)" -gt 0 ]
}

# stats_read: stats --json and proc_read between two identical copies of
# /proc/net/fastsocket; its counters only grow, so both saw that copy.
# Fails (showing what changed) if a counter moved meanwhile.
stats_read() {
	cat /proc/net/fastsocket >"$WORK/proc"
	"$CTL" --json stats >"$WORK/stats.json" || fail "stats --json failed"
	proc_read
	cat /proc/net/fastsocket >"$WORK/proc2"
	cmp -s "$WORK/proc" "$WORK/proc2" && return 0
	diff "$WORK/proc" "$WORK/proc2" | sed 's/^/# moved: /'
	return 1
}

shim_client_setup
fsk_load
d=$WORK/nginx
nginx_conf "$d" "$PORT" "$N" off
"$FASTSOCKET" --log info -- "$NGINX" -p "$d" -c "$d/nginx.conf" \
	>"$d/stdout" 2>"$d/stderr" &
srv=$!
at_exit "kill_tree $srv"
wait_http "http://127.0.0.1:$PORT/" 30
wait_local_listeners 30
echo 0 >/proc/net/fastsocket

# Under load: rates.
wrk_start load "$PORT" 8
wait_until 20 steered_some || fail "no SYN steered under load"
"$CTL" stats -i 1 -c 2 >"$WORK/rates" || fail "stats -i 1 -c 2 failed"
wrk_wait load
shim_assert_wrk load
info "stats -i 1 -c 2: $(tr '\n' '|' <"$WORK/rates")"
assert_eq $((1 + 2 * (N + 1))) "$(wc -l <"$WORK/rates")" "lines of stats -i 1 -c 2"
assert_eq "cpu steered" "$(head -n1 "$WORK/rates" | awk '{ print $1, $2 }')" "its header"
[ "$(awk '$1 == "all" { s += $2 } END { print s + 0 }' "$WORK/rates")" -gt 0 ] ||
	fail "stats -i: no SYN steered per second while wrk ran"

# No load now.
wait_until -i 1 20 stats_read || fail "the counters keep moving after the load"
for ((cpu = 0; cpu < N; cpu++)); do
	json "$WORK/stats.json" "d['cpus'][$cpu]['steered'] == ${PROC_ST[cpu]} and
		d['cpus'][$cpu]['no_local'] == ${PROC_NL[cpu]} and
		d['cpus'][$cpu]['local_listeners'] == ${PROC_LL[cpu]}"
done
"$CTL" status --json >"$WORK/status.json" || fail "status --json failed"
"$CTL" status >"$WORK/status.txt" || fail "status failed"
sed 's/^/# /' "$WORK/status.txt"

json "$WORK/status.json" "d['module']['loaded'] and d['module']['abi_match'] and
	d['mode'] == 'module' and 'spawn' in d['module']['features']"
# (address, CPU, pid) of every local listener, from the file and the tool.
rows=$(awk '/^listener / { t = 1; next } /^[a-z]/ { t = 0 } t { print $1, $3, $4 }' "$WORK/proc" | sort)
[ -n "$rows" ] || fail "no local listener in /proc/net/fastsocket"
tool=$(python3 -c 'import json, sys
for w in json.load(open(sys.argv[1]))["netns"][0]["workers"]:
	print(w["address"], w["cpu"], w["pid"])' "$WORK/status.json" | sort)
assert_eq "$rows" "$tool" "status --json workers vs /proc/net/fastsocket"
# tools/fastsocket execs nginx: $srv is the master, its children the workers.
workers=$(ps --ppid "$srv" -o pid= | tr -d ' ' | sort -n)
assert_eq "$(echo "$workers" | tr '\n' ' ')" \
	"$(echo "$rows" | awk '{ print $3 }' | sort -un | tr '\n' ' ')" "nginx worker pids vs local listeners' pids"
assert_eq "$N" "$(echo "$workers" | wc -l)" "nginx workers"
for pid in $workers; do
	allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$pid/status")
	json "$WORK/status.json" "[w for w in d['netns'][0]['workers'] if w['pid'] == $pid and
		w['cpus_allowed'] == '$allowed' and w['pinning'] == 'pinned' and str(w['cpu']) == '$allowed']"
done
json "$WORK/status.json" "len(d['netns'][0]['ports']) == 1 and d['netns'][0]['ports'][0]['port'] == $PORT and
	d['netns'][0]['ports'][0]['cpus'] == '0-$((N - 1))' and d['netns'][0]['ports'][0]['spawned'] == $N"
info "status agrees with /proc/net/fastsocket and nginx's $N workers"

# doctor on this system, then with one setting made wrong.
sysctl_set net.ipv4.tcp_migrate_req 1
rc=0
"$CTL" doctor >"$WORK/doctor" || rc=$?
sed 's/^/# doctor: /' "$WORK/doctor"
if [ -s "$WORK/doctor" ] && ! grep -qx "no findings" "$WORK/doctor"; then
	assert_eq 1 "$rc" "doctor's exit status with findings"
	grep -vE '^[a-z_]+: .+; fix: .+' "$WORK/doctor" && fail "doctor: lines not 'check: ...; fix: ...' (above)"
else
	assert_eq 0 "$rc" "doctor's exit status without findings"
fi
grep -E "^(module|abi|tcp_migrate_req|workers):|port $PORT " "$WORK/doctor" &&
	fail "doctor: findings that are not true here (above)"
rc=0
"$CTL" doctor --port "$PORT" --json >"$WORK/doctor.json" || rc=$?
json "$WORK/doctor.json" "d['count'] == len(d['findings']) and (d['count'] > 0) == ($rc == 1)"
sysctl -qw net.ipv4.tcp_migrate_req=0
rc=0
"$CTL" doctor --port "$PORT" --json >"$WORK/doctor0.json" || rc=$?
assert_eq 1 "$rc" "doctor's exit status with tcp_migrate_req=0"
json "$WORK/doctor0.json" "[f for f in d['findings'] if f['check'] == 'tcp_migrate_req' and
	f['fix'] == 'sysctl -w net.ipv4.tcp_migrate_req=1']"
sysctl -qw net.ipv4.tcp_migrate_req=1
info "doctor: $(wc -l <"$WORK/doctor") line(s); tcp_migrate_req=0 found"

kill -QUIT $srv
wait $srv || fail "nginx exited with $?"
fsk_unload
echo "PASS: $TEST_NAME"
