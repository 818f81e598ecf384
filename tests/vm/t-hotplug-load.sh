#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=18 4=48
# CPU hotplug under load. Workers pinned one per CPU, each with its CPU's
# local listener (at 4 vCPUs none on the last CPU), and loopback clients
# on every CPU. A CPU with a worker goes offline and comes back online,
# then (4 vCPUs) the CPU without one, 4 rounds (ROUNDS), while the clients
# connect. No connection fails (but for the kernel's EPIPE, below); the
# server accepted exactly as many connections as the clients completed
# (both numbers printed); while a
# CPU is away its local listener stays in the table and the other CPUs'
# SYNs are still steered; back online, a client pinned there has its
# SYNs steered to that CPU's listener again (or, without one, left to the
# kernel: no_local). Afterwards the table is empty and no TCP socket is
# left allocated.
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
[ "$N" -ge 2 ] || fail "needs 2 CPUs"
PORT=8320
K=30		# SYNs per observation window
ROUNDS=${ROUNDS:-4}
if [ "$N" -ge 3 ]; then
	W=$((N - 1))	# workers on CPUs 0..N-2
	BARE=$((N - 1))	# a CPU without a worker
else
	W=$N
	BARE=
fi
C=$((W - 1))	# the last CPU with a worker (CPU 0 may not go offline)

tcp_alloc() {
	awk '/^TCP:/{for (i = 2; i < NF; i++) if ($i == "alloc") print $(i + 1)}' /proc/net/sockstat
}

at_least() { # column cpu min ("" cpu: the sum)
	local v
	if [ -z "$2" ]; then v=$(proc_sum "$1"); else v=$(proc_cpu "$1" "$2"); fi
	[ "${v:-0}" -ge "$3" ]
}

# grow COLUMN CPU BY WHAT: wait until COLUMN (of CPU, or summed) grew by BY.
grow() {
	local base
	if [ -z "$2" ]; then base=$(proc_sum "$1"); else base=$(proc_cpu "$1" "$2"); fi
	wait_until 120 at_least "$1" "$2" $((${base:-0} + $3)) ||
		fail "$4: column $1${2:+ of CPU $2} did not grow by $3 in 120 s"
}

clients=()
n_clients=0
client() { # cpu
	"$FSKTEST" client --port $PORT --cpu "$1" --count 1000000 --timeout $((600 * TIME_SCALE)) \
		--stop-file "$WORK/stop" >"$WORK/client$n_clients" 2>"$WORK/client$n_clients.err" &
	clients+=($!)
	n_clients=$((n_clients + 1))
}

# pinned PID CPU: PID may run on CPU only.
pinned() {
	[ "$(awk '/^Cpus_allowed_list:/ {print $2}' "/proc/$1/status" 2>/dev/null)" = "$2" ]
}

# cycle CPU COLUMN WHAT: take CPU offline under load and bring it back;
# afterwards a new client pinned to it makes COLUMN grow on it. The next
# cycle waits until that client has pinned itself: pinning to a CPU that
# went offline again fails (EINVAL).
cycle() {
	local cpu=$1 col=$2 what=$3 online=/sys/devices/system/cpu/cpu$1/online
	[ -w "$online" ] || fail "CPU $cpu cannot be taken offline"
	echo 0 >"$online"
	at_exit "echo 1 >$online"
	grow 2 "" $K "$what: CPU $cpu offline, the others' SYNs"
	proc_read
	assert_eq "$LL0" "$PROC_LL_SUM" "$what: local listeners in the table while CPU $cpu is offline"
	echo 1 >"$online"
	client "$cpu"
	wait_until 30 pinned "${clients[-1]}" "$cpu" ||
		fail "$what: the new client did not pin itself to CPU $cpu: $(cat "$WORK/client$((n_clients - 1)).err")"
	grow "$col" "$cpu" $K "$what: CPU $cpu back online"
}

base_alloc=$(tcp_alloc)
fsk_load
proc_reset
"$FSKTEST" server --port $PORT --workers "$W" --cpus "$(seq -s, 0 $((W - 1)))" \
	--spawn cpu --timeout $((900 * TIME_SCALE)) --ready "$WORK/ready" \
	>"$WORK/server" 2>"$WORK/server.err" &
srv=$!
at_exit "kill $srv 2>/dev/null"
wait_file "$WORK/ready" 60
proc_read
LL0=$PROC_LL_SUM
assert_eq "$W" "$LL0" "local listeners"
for cpu in $(seq 0 $((N - 1))); do client "$cpu"; done
grow 2 "" $K "steering before any hotplug"

for r in $(seq 1 "$ROUNDS"); do
	cycle $C 2 "round $r, CPU with a worker"
	[ -z "$BARE" ] || cycle "$BARE" 3 "round $r, CPU without a worker"
	info "round $r: CPU $C${BARE:+ and CPU $BARE} offline and back, ${SECONDS}s"
done

touch "$WORK/stop"
rc=0
for p in "${clients[@]}"; do wait "$p" || rc=1; done
kill -TERM $srv
wait $srv || fail "server failed: $(cat "$WORK/server.err")"
# One kind of failure is the kernel's, with or without the module (seen
# on the PREEMPT_RT kernel only; Documentation/limits.md): connect()
# returns EPIPE for a connection the server accepted and closed, reset
# before the connecting thread ran again. Counted apart, and each must
# be a connection the server accepted; any other failure fails the test.
served=0
epipe=0
for i in $(seq 0 $((n_clients - 1))); do
	e=$(grep -c '^fsktest client: connection failed: connect: Broken pipe$' "$WORK/client$i.err" || true)
	assert_eq "$e" "$(kv "$WORK/client$i" failed)" \
		"failed connections of client $i, other than connect()'s EPIPE: $(cat "$WORK/client$i.err")"
	served=$((served + $(kv "$WORK/client$i" ok)))
	epipe=$((epipe + e))
done
[ $rc = 0 ] || fail "a client failed"
info "clients completed $served connections (and $epipe connect() calls returned EPIPE), the server accepted $(kv "$WORK/server" accepted)"
assert_eq $((served + epipe)) "$(kv "$WORK/server" accepted)" "connections accepted (exactly once each)"
proc_read
info "steered $PROC_ST_SUM, no_local $PROC_NL_SUM, existing $PROC_EX_SUM"
assert_eq 0 "$PROC_LL_SUM" "local listeners after the server exited"
fsk_unload
tcp_back() { [ "$(tcp_alloc)" -le "$base_alloc" ]; }
wait_until 30 tcp_back || true
assert_eq "$base_alloc" "$(tcp_alloc)" "sockstat TCP alloc after everything closed"
echo "PASS: $TEST_NAME"
