#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# kernels: rt
# smp: 2 4
# cost: 2=5 4=8
# Receive flow deliver's steering (enable_receive_flow_deliver=1) on the
# PREEMPT_RT kernel, with no RPS anywhere in the boot before it: there a
# softirq raised from an IPI's callback is a WARNING
# (do_softirq_post_smp_call_flush), which 6.1-RT's own RPS triggers, so
# the module kicks the owner CPU's NAPI context by a work item instead
# (kmod/rfd_steer.c). Clients pinned one per CPU under the shim connect
# one at a time over veth (no RPS) to a backend whose one worker runs on
# CPU 0: the backend's FINs, sent from CPU 0, are steered to their
# owners, which sit idle in read(), the case where RPS's IPI warns.
# Checked: segments steered and all delivered, >= 99.9% processed on
# their owner CPU, none dropped or overflowed, no connection failed,
# each accepted once; the runner fails on any splat (the RT kernel's
# known RPS warning is excused only while a test has RPS on, and this
# one never does).
. "$(dirname "$0")/lib.sh"

N=$(nr_cpus)
PER_CPU=${RFD_STEER_RT_CONNS:-500}
SRV_IP=198.18.0.1
CLI_IP=198.18.0.2
PORT=8087
SHIM=$FSK_ROOT/libshim/libfastsocket.so
NCPU_IDS=$(nr_cpu_ids)
LAYOUT="32768-60999/$NCPU_IDS"

if uname -v | grep -q PREEMPT_RT; then
	info "PREEMPT_RT kernel $(uname -r)"
else
	info "not a PREEMPT_RT kernel ($(uname -r)): the IPI kick is checked instead"
fi
fsk_load enable_receive_flow_deliver=1
veth_rps $SRV_IP $CLI_IP 0
proc_read fsk-cli

ip netns exec fsk-srv "$FSKTEST" server --addr 4 --port $PORT --workers 1 \
	--cpus 0 --expect $((N * PER_CPU)) --timeout $((240 * TIME_SCALE)) \
	--ready "$WORK/ready" >"$WORK/srv" 2>"$WORK/srv.err" &
srv=$!
wait_file "$WORK/ready"
ip netns exec fsk-cli sh -c "echo 0 >/proc/net/fastsocket"
pids=()
for ((c = 0; c < N; c++)); do
	ip netns exec fsk-cli env LD_PRELOAD="$SHIM" FASTSOCKET_RFD_LAYOUT="$LAYOUT" \
		"$FSKTEST" client --addr $SRV_IP --port $PORT --cpu $c \
		--count "$PER_CPU" --timeout $((200 * TIME_SCALE)) >"$WORK/cli$c" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
wait $srv || fail "backend: $(cat "$WORK/srv.err")"

ok=0
for ((c = 0; c < N; c++)); do
	assert_eq 0 "$(kv "$WORK/cli$c" failed)" "failed connections from CPU $c"
	assert_eq 0 "$(kv "$WORK/cli$c" resets)" "reset connections from CPU $c"
	ok=$((ok + $(kv "$WORK/cli$c" ok)))
done
assert_eq $((N * PER_CPU)) "$ok" "connections the clients completed"
assert_eq $((N * PER_CPU)) "$(kv "$WORK/srv" accepted)" "accepted"
info "$ok connections completed, $(kv "$WORK/srv" accepted) accepted"

proc_read fsk-cli
owner=${PROC_SUM[9]} foreign=${PROC_SUM[10]}
info "owner $owner, foreign $foreign, steered ${PROC_SUM[11]}, delivered ${PROC_SUM[14]}, offline ${PROC_SUM[12]}, overflow ${PROC_SUM[13]}, dropped ${PROC_SUM[15]}"
# Each connection's FIN comes from CPU 0: the other CPUs' ones are steered.
[ "${PROC_SUM[11]}" -ge $(((N - 1) * PER_CPU)) ] ||
	fail "steered ${PROC_SUM[11]} segments, fewer than the $(((N - 1) * PER_CPU)) FINs for CPUs other than 0"
assert_eq "${PROC_SUM[11]}" "${PROC_SUM[14]}" "segments delivered on the owner CPU (= steered)"
assert_ratio "$owner" $((owner + foreign)) 999 "segments processed on their owner CPU"
assert_eq 0 "${PROC_SUM[13]}" "queue overflows"
assert_eq 0 "${PROC_SUM[15]}" "segments dropped"
ip netns del fsk-cli
fsk_unload
echo "PASS: $TEST_NAME"
