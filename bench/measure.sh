#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench/measure.sh: the measuring half of bench/run. Runs as root where
# the module can be loaded: inside the QEMU guest (bench/run) or on a real
# machine (bench/run --host). Not meant to be run by hand; bench/run passes
# every option. Writes OUT/raw.jsonl (one JSON object per measurement),
# OUT/meta.json and OUT/logs/. With --model COUNT (bench/model/run) a
# measurement is a cost-model phase of COUNT connections instead of a
# timed wrk run, and --warmup counts connections, not seconds.
#
# For each repetition the configurations run one after another, in an order
# rotated by one per repetition, and within each configuration every
# server, workload and client setup: slow drift of the machine hits every
# configuration alike.
#
# Under software emulation starting a process costs 0.1-2 s, so the
# measuring loop runs inside the server's network namespace and parses
# everything with shell builtins; the only processes it starts are the
# servers and wrk. The parts: bench/lib/ (netns.sh, server.sh, wrk.sh,
# record.sh) and tests/lib/ (the module, /proc/net/fastsocket, server
# configurations, waiting); this file is the loop.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
SELF=$BENCH/measure.sh
ARGS=("$@")

out='' reps=5 duration=10 warmup=1 servers=nginx,haproxy,fsb-httpd
configs=1,2,3,4 workloads=close,keepalive clients=veth,lo conns_per_cpu=32
addrs=4 hook=1 port=8080 keep_hooks=0 own_workloads=close stage=0 verbose=0
model=0 model_conc=8
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift ;;
	--reps) reps=$2; shift ;;
	--duration) duration=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--servers) servers=$2; shift ;;
	--configs) configs=$2; shift ;;
	--workloads) workloads=$2; shift ;;
	--own-workloads) own_workloads=$2; shift ;;
	--clients) clients=$2; shift ;;
	--conns-per-cpu) conns_per_cpu=$2; shift ;;
	--addrs) addrs=$2; shift ;;
	--hook) hook=$2; shift ;;
	--port) port=$2; shift ;;
	--keep-hooks) keep_hooks=1 ;;
	--stage) stage=1 ;;
	--verbose) verbose=1 ;;
	--model) model=$2; shift ;;
	--model-concurrency) model_conc=$2; shift ;;
	*) echo "measure.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$out" ] || { echo "measure.sh: --out DIR is required" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "measure.sh: must run as root" >&2; exit 2; }

N=$(nproc)
SRV_NS=fsb-srv
CLI_NS=fsb-cli
SRV_IP_BASE=198.18.0	# server .1 .. .$addrs, client .200
CLI_IP=$SRV_IP_BASE.200

# shellcheck source=tests/lib/all.sh
. "$ROOT/tests/lib/all.sh"
# shellcheck source=bench/lib/netns.sh
. "$BENCH/lib/netns.sh"
# shellcheck source=bench/lib/server.sh
. "$BENCH/lib/server.sh"
# shellcheck source=bench/lib/wrk.sh
. "$BENCH/lib/wrk.sh"
# shellcheck source=bench/lib/record.sh
. "$BENCH/lib/record.sh"
MASK=$(rps_mask "$N")

T_START=${EPOCHREALTIME/./}
log() {
	local t=$((${EPOCHREALTIME/./} - T_START))
	printf '# bench: [%d.%01ds] %s\n' $((t / 1000000)) $((t / 100000 % 10)) "$*"
}
die() { echo "bench: ERROR: $*" >&2; exit 1; }
dbg() { [ "$verbose" = 0 ] || log "$@"; }

# ================================================================ outside
# Set up the namespaces, run the loop inside the server's, clean up.
outer_cleanup() {
	local rc=$?
	netns_down
	rmmod fastsocket 2>/dev/null || true
	# --keep-hooks's chain stays: removing it would flip the key it
	# holds, which under emulation can hang the guest (seen as a guest
	# that measured everything and never powered off); the guest is
	# thrown away.
	exit $rc
}
if [ -z "${FSB_INSIDE:-}" ]; then
	trap outer_cleanup EXIT
	trap 'exit 130' INT TERM
	! fsk_loaded ||
		die "fastsocket is already loaded; unload it first (the suite loads and unloads it itself)"
	# Under QEMU's emulation, loading and unloading the module must not
	# flip a static key (tests/lib/kmod.sh): the input hook stays on for
	# the whole run, for every configuration alike. bench/run --host does
	# not ask for it.
	if [ "$keep_hooks" = 1 ]; then
		keep_hook_input fsb_keep_hooks || die "cannot register the keep-alive nft chain"
	fi
	netns_up
	FSB_INSIDE=1 ip netns exec "$SRV_NS" "$SELF" "${ARGS[@]}"
	exit $?
fi

# ================================================================ inside
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
BODY=$(printf '%*s' 64 '' | tr ' ' x)
WORK=$(mktemp -d /tmp/fsb.XXXXXX)
HTTPD=$BENCH/fsb-httpd
mkdir -p "$out/logs"
RAW=$out/raw.jsonl
: >"$RAW"
MOD_LOADED=0
# nap (tests/lib/wait.sh) times out a read on this FIFO instead of
# starting sleep.
mkfifo "$WORK/snooze"
exec 9<>"$WORK/snooze"
NAP_FD=9
declare -A LABEL=([1]=stock-shared [2]=stock-reuseport [3]=shim [4]=shim+kmod
	[h]=stock-shared+kmod [p0]=rfd-off [p2]=rfd-blocks [p1]=rfd-steer)
# The proxy's ports: the module's blocks cover the whole range, so the
# listening ports (PORT and the backend's PORT+2) must lie outside it, or
# segments to them would count as (and be steered like) replies. Set
# before the module is loaded for a proxy configuration: the netns's port
# layout is fixed when the shim first asks for it.
PROXY_PORT_RANGE='16384 65535'

SCHEDSTATS=/proc/sys/kernel/sched_schedstats
SCHEDSTATS_WAS=''
inner_cleanup() {
	local rc=$?
	server_stop 2>/dev/null || true
	mod_unload 2>/dev/null || true
	[ -z "$SCHEDSTATS_WAS" ] || echo "$SCHEDSTATS_WAS" >"$SCHEDSTATS" 2>/dev/null || true
	rm -rf "$WORK"
	exit $rc
}
trap inner_cleanup EXIT
trap 'exit 130' INT TERM

echo 1 >/proc/sys/net/ipv4/tcp_migrate_req
# The servers' wake-ups, local or from another CPU (record.sh); restored
# at exit.
if [ -w "$SCHEDSTATS" ]; then
	read -r SCHEDSTATS_WAS <"$SCHEDSTATS"
	echo 1 >"$SCHEDSTATS"
fi
PORT_RANGE='1024 65535'
echo "$PORT_RANGE" >/proc/sys/net/ipv4/ip_local_port_range
# The loopback clients share this netns. With tcp_tw_reuse (2: loopback
# only, the default) connect() takes a port whose client side is still in
# TIME_WAIT at once, and its SYN meets the server's TIME_WAIT socket of
# the same 4-tuple: the kernel places such a SYN itself (the module
# counts it as "existing"), and may answer it with a reset. Off, as in
# the VM tests: every SYN is a new flow.
echo 0 >/proc/sys/net/ipv4/tcp_tw_reuse
echo 65535 >/proc/sys/net/core/somaxconn
echo 65535 >/proc/sys/net/ipv4/tcp_max_syn_backlog
# Connection limits sized to the load: a server sized for 200k connections
# spends many seconds of emulated CPU allocating its tables at start-up.
MAXCONN=$((conns_per_cpu * N * 2 + 1024))
ulimit -n $((MAXCONN * 4 + 4096)) 2>/dev/null || ulimit -n 65536 2>/dev/null || true
echo "$MASK" >/sys/class/net/fsb-veth0/queues/rx-0/rps_cpus

if [[ ,$configs, == *,[4p]* ]] || [ "$hook" = 1 ]; then
	fsk_stage "$ROOT/kmod/fastsocket.ko" "$WORK/fastsocket.ko"
fi
mkdir -p "$WORK/html"
printf '%s' "$BODY" >"$WORK/html/index.html"
# lighttpd's workers read it as nobody.
chmod 755 "$WORK" "$WORK/html"
chmod 644 "$WORK/html/index.html"
# Programs run in the loop. With --stage (the guest), they and their
# libraries are copied to tmpfs first: the guest's root is a 9p export,
# where each exec costs 0.3-2 s of path walks under emulation. The
# programs are the same files; only their start-up gets faster.
NGINX=/usr/sbin/nginx HAPROXY=/usr/sbin/haproxy LIGHTTPD=/usr/sbin/lighttpd
WRK=$(command -v wrk)
NSENTER=$(command -v nsenter)
SHIM=$ROOT/libshim/libfastsocket.so
FSM_CONN=$BENCH/model/fsm-conn
if [ "$stage" = 1 ]; then
	# bench/run lists the programs' libraries (ldd on the host, which
	# shares the guest's root) in OUT/stage-libs.
	mkdir -p "$WORK/stage/bin" "$WORK/stage/lib"
	cp "$NGINX" "$HAPROXY" "$WRK" "$NSENTER" "$HTTPD" "$WORK/stage/bin/"
	[ "$model" = 0 ] || cp "$FSM_CONN" "$WORK/stage/bin/"
	[ ! -x "$LIGHTTPD" ] || cp "$LIGHTTPD" "$WORK/stage/bin/"
	mapfile -t libs <"$out/stage-libs"
	cp "${libs[@]}" "$SHIM" "$WORK/stage/lib/"
	export LD_LIBRARY_PATH=$WORK/stage/lib
	B=$WORK/stage/bin
	NGINX=$B/nginx HAPROXY=$B/haproxy WRK=$B/wrk LIGHTTPD=$B/lighttpd
	NSENTER=$B/nsenter HTTPD=$B/fsb-httpd SHIM=$WORK/stage/lib/libfastsocket.so
	FSM_CONN=$B/fsm-conn
fi

srv_addrs=()
for ((i = 1; i <= addrs; i++)); do srv_addrs+=("$SRV_IP_BASE.$i"); done
SRV_ADDR_LIST=$(IFS=,; echo "${srv_addrs[*]}")

MOD_SEQ=0
MOD_ARGS=''
# mod_load [PARAM=VALUE...]: the module with enable_listen_spawn=2 and the
# given parameters; reloaded if it is loaded with others.
mod_load() {
	local args=(enable_listen_spawn=2 "$@")
	if [ "$MOD_LOADED" = 1 ]; then
		[ "${args[*]}" = "$MOD_ARGS" ] && return 0
		mod_unload
	fi
	insmod "$WORK/fastsocket.ko" "${args[@]}" || die "insmod fastsocket.ko ${args[*]} failed"
	MOD_LOADED=1
	MOD_ARGS=${args[*]}
	MOD_SEQ=$((MOD_SEQ + 1))
	# The cost model names the code behind the transfers (bench/model/
	# report.py): the module's text moves with every load.
	[ "$model" = 0 ] || grep '\[fastsocket\]' /proc/kallsyms >"$out/kallsyms-fastsocket.$MOD_SEQ" || true
}

mod_unload() {
	[ "$MOD_LOADED" = 1 ] || return 0
	fsk_rmmod 10 || die "rmmod fastsocket still failing after 10 s"
	MOD_LOADED=0
}

# kmod_json: KMOD_JSON, the module's counters since proc_reset (read by
# proc_read) as JSON: the SYNs it placed and, while port blocks are on,
# receive flow deliver's (columns 9-15 of /proc/net/fastsocket: segments
# to the blocks processed on their owner CPU or elsewhere, steered,
# queued for an offline CPU, queue overflows, delivered, dropped).
kmod_json() {
	if [ "$MOD_LOADED" = 0 ]; then
		KMOD_JSON='{"loaded":false}'
		return
	fi
	KMOD_JSON="{\"loaded\":true,\"steered\":$PROC_ST_SUM,\"no_local\":$PROC_NL_SUM,\"existing\":$PROC_EX_SUM,\"parked\":$PROC_PK_SUM"
	[ ${#PROC_RFD[@]} = 0 ] ||
		KMOD_JSON+=",\"rfd\":{\"owner\":${PROC_SUM[9]:-0},\"foreign\":${PROC_SUM[10]:-0},\"steered\":${PROC_SUM[11]:-0},\"offline\":${PROC_SUM[12]:-0},\"overflow\":${PROC_SUM[13]:-0},\"delivered\":${PROC_SUM[14]:-0},\"dropped\":${PROC_SUM[15]:-0}}"
	KMOD_JSON+='}'
}

# measure REP SERVER CONFIG WORKLOAD CLIENT PORT: one measurement, one
# JSON line in raw.jsonl.
measure() {
	local rep=$1 srv=$2 cfg=$3 wl=$4 cl=$5 p=$6 res=$WORK/wrk-$5
	local a0=0 m0=0 r0=0 own=null errs extra='' rate
	if [ "$MOD_LOADED" = 1 ]; then
		proc_reset
	fi
	if [ "$srv" = fsb-httpd ]; then
		own_stats
		a0=$OWN_ACC m0=$OWN_MATCH r0=$OWN_REQ
	fi
	server_wakeups "$SRV_PID"
	WK0_ALL=$WK_ALL WK0_REMOTE=$WK_REMOTE
	cpu_ticks
	U0=$T_USER S0=$T_SYS SI0=$T_SOFTIRQ I0=$T_IRQ ID0=$T_IDLE
	dbg "wrk $wl/$cl"
	run_wrk "$wl" "$cl" "$p" "$duration" "$res"
	cpu_ticks
	server_wakeups "$SRV_PID"
	dbg "wrk done"
	parse_wrk "$res" || die "wrk failed ($srv ${LABEL[$cfg]} $wl/$cl)"
	if [ "$srv" = fsb-httpd ]; then
		own_stats
		own="{\"accepted\":$((OWN_ACC - a0)),\"cpu_match\":$((OWN_MATCH - m0)),\"requests\":$((OWN_REQ - r0))}"
		extra+=" cpu_match=$((OWN_MATCH - m0))/$((OWN_ACC - a0))"
	fi
	if [ "$MOD_LOADED" = 1 ]; then
		proc_read
		extra+=" steered=$PROC_ST_SUM/$((PROC_ST_SUM + PROC_NL_SUM + PROC_PK_SUM)) existing=$PROC_EX_SUM"
		[ ${#PROC_RFD[@]} = 0 ] ||
			extra+=" rfd_owner=${PROC_SUM[9]:-0}/$((${PROC_SUM[9]:-0} + ${PROC_SUM[10]:-0})) rfd_steered=${PROC_SUM[11]:-0}"
	fi
	kmod_json
	[ "${W[requests]}" -gt 0 ] && [ $((WK_ALL - WK0_ALL)) -gt 0 ] &&
		extra+=" remote_wakeups/req=$(((WK_REMOTE - WK0_REMOTE) * 1000 / W[requests]))e-3"
	extra+=" pinned=$WK_PINNED/$WK_TASKS"
	errs=$((W[connect] + W[read] + W[write] + W[timeout] + W[status]))
	record "$RAW" "$rep" "$srv" "$cfg" "${LABEL[$cfg]}" "$wl" "$cl" "$KMOD_JSON" "$own"
	rate=0
	[ "${W[duration_us]}" -gt 0 ] && rate=$((W[requests] * 1000000 / W[duration_us]))
	log "rep $rep $srv ${LABEL[$cfg]} $wl/$cl: $rate/s errors=$errs$extra"
}

# ---------------------------------------------------------------- model
# --model COUNT (bench/model/run): a measurement is one cost-model phase of
# exactly COUNT short connections made by fsm-conn, which marks the phase
# itself once its threads wait, pinned; the plugin on the host counts
# it. Each phase gets destination addresses no earlier phase used, so no
# SYN meets a TIME_WAIT socket of an earlier phase: loopback takes any
# 127/8 address, and the server netns takes 198.18.128.0/17 as local
# (netns.sh). Records go to raw.jsonl like wrk's, with the phase's id.
MODEL_PHASE=0
MODEL_ADDR_NEXT=0

# model_addrs CLIENT: MODEL_ADDRS, $addrs fresh comma-separated addresses.
model_addrs() {
	local k list=''
	for ((k = MODEL_ADDR_NEXT; k < MODEL_ADDR_NEXT + addrs; k++)); do
		if [ "$1" = lo ]; then
			loopback_addr "$k"
			list+="${list:+,}$LOOPBACK_ADDR"
		else
			list+="${list:+,}198.18.$((128 + k / 250 % 128)).$((1 + k % 250))"
		fi
	done
	MODEL_ADDR_NEXT=$k
	MODEL_ADDRS=$list
}

# in_segs: IN_SEGS and OUT_SEGS, TCP segments received and sent in this
# netns (/proc/net/snmp).
in_segs() {
	local hdr=() val=() i
	while read -r -a val; do
		[ "${val[0]}" = Tcp: ] || continue
		if [ ${#hdr[@]} = 0 ]; then hdr=("${val[@]}"); continue; fi
		for i in "${!hdr[@]}"; do
			case ${hdr[i]} in
			InSegs) IN_SEGS=${val[i]} ;;
			OutSegs) OUT_SEGS=${val[i]} ;;
			esac
		done
	done </proc/net/snmp
}

# run_conn CLIENT PORT COUNT RESULT [PHASE]: fsm-conn from CLIENT (lo:
# a thread pinned to each CPU; veth: one thread per CPU, unpinned, in the
# client netns); its FSM_CONN line into C[].
declare -A C
run_conn() {
	local cl=$1 p=$2 n=$3 res=$4 ph=() line kv cpus='' k
	[ -z "${5:-}" ] || ph=(--phase "$5")
	model_addrs "$cl"
	if [ "$cl" = lo ]; then
		for ((k = 0; k < N; k++)); do cpus+="${cpus:+,}$k"; done
		"$FSM_CONN" --conns "$n" --port "$p" --addrs "$MODEL_ADDRS" \
			--concurrency "$model_conc" --pin "$cpus" "${ph[@]}" >"$res" 2>&1 || true
	else
		"$NSENTER" --net="/run/netns/$CLI_NS" "$FSM_CONN" --conns "$n" --port "$p" \
			--addrs "$MODEL_ADDRS" --concurrency "$model_conc" --threads "$N" \
			"${ph[@]}" >"$res" 2>&1 || true
	fi
	C=()
	while read -r line; do
		[[ $line == FSM_CONN\ * ]] || continue
		for kv in ${line#FSM_CONN }; do C[${kv%%=*}]=${kv#*=}; done
	done <"$res"
	cat "$res" >>"$out/logs/fsm-conn.log"
	[ -n "${C[ok]:-}" ] || { cat "$res" >&2; return 1; }
}

# model_measure REP SERVER CONFIG CLIENT PORT: one phase, one JSON line.
model_measure() {
	local rep=$1 srv=$2 cfg=$3 cl=$4 p=$5 name s0 o0 errs
	MODEL_PHASE=$((MODEL_PHASE + 1))
	name="r$rep $srv ${LABEL[$cfg]} $cl"
	[ "$MOD_LOADED" = 0 ] || proc_reset
	in_segs
	s0=$IN_SEGS o0=$OUT_SEGS
	run_conn "$cl" "$p" "$model" "$WORK/conn" "$MODEL_PHASE:$name" ||
		die "fsm-conn failed ($name)"
	in_segs
	[ "$MOD_LOADED" = 0 ] || proc_read
	kmod_json
	errs=$((C[connect] + C[read] + C[status] + C[timeout]))
	printf '{"phase_id":%d,"phase":"%s","rep":%d,"server":"%s","config":"%s","config_id":"%s","client":"%s","conns":%d,"ok":%d,"errors":%d,"in_segs":%d,"out_segs":%d,"duration_us":%d,"mod_seq":%d,"kmod":%s}\n' \
		"$MODEL_PHASE" "$name" "$rep" "$srv" "${LABEL[$cfg]}" "$cfg" "$cl" \
		"${C[conns]}" "${C[ok]}" "$errs" $((IN_SEGS - s0)) $((OUT_SEGS - o0)) "${C[duration_us]}" \
		"$((MOD_LOADED * MOD_SEQ))" "$KMOD_JSON" >>"$RAW"
	log "phase $MODEL_PHASE $name: ${C[ok]}/${C[conns]} ok, $((IN_SEGS - s0)) segments in, $((C[duration_us] / 1000)) ms"
}

write_meta "$out/meta.json"
# The kernel's text symbols, for the model's transfer sites.
[ "$model" = 0 ] || grep ' [tT] ' /proc/kallsyms >"$out/kallsyms" || die "cannot read /proc/kallsyms"

# ---------------------------------------------------------------- run

IFS=, read -r -a cfg_list <<<"$configs"
IFS=, read -r -a srv_list <<<"$servers"
IFS=, read -r -a wl_list <<<"$workloads"
IFS=, read -r -a own_wl_list <<<"$own_workloads"
IFS=, read -r -a cl_list <<<"$clients"
[ "$hook" = 1 ] && cfg_list+=(h)
ncfg=${#cfg_list[@]}
log "$N CPUs, $reps repetitions of ${duration}s, configurations ${cfg_list[*]}, servers ${srv_list[*]}"

for ((rep = 1; rep <= reps; rep++)); do
	for ((k = 0; k <= ncfg - 1; k++)); do
		cfg=${cfg_list[$(((k + rep - 1) % ncfg))]}
		range=$PORT_RANGE
		case $cfg in
		p*) range=$PROXY_PORT_RANGE ;;
		esac
		echo "$range" >/proc/sys/net/ipv4/ip_local_port_range
		case $cfg in
		4 | h) mod_load ;;
		p*) mod_load enable_receive_flow_deliver="${cfg#p}" ;;
		*) mod_unload ;;
		esac
		for srv in "${srv_list[@]}"; do
			wls=("${wl_list[@]}")
			p=$port
			# The proxy runs in its own configurations only.
			[[ $srv == proxy && $cfg == p* || $srv != proxy && $cfg != p* ]] || continue
			if [ "$cfg" = h ]; then
				# The hook's cost where it has nothing to do: the module
				# is loaded, this port has no local listener. nginx only,
				# short connections only; compared with stock-shared.
				[ "$srv" = nginx ] || continue
				wls=(close)
				p=$((port + 1))
			fi
			[ "$srv" = fsb-httpd ] && wls=("${own_wl_list[@]}")
			# lighttpd has no per-worker SO_REUSEPORT sockets.
			[ "$srv" = lighttpd ] && [ "$cfg" = 2 ] && continue
			server_start "$srv" "$cfg" "$p"
			if [ "$model" != 0 ]; then
				# Code and caches warm, the server's connection
				# structures allocated: the phase measures steady state.
				run_conn "${cl_list[0]}" "$p" "$warmup" "$WORK/warm" ||
					die "warm-up failed ($srv ${LABEL[$cfg]})"
				for cl in "${cl_list[@]}"; do
					model_measure "$rep" "$srv" "$cfg" "$cl" "$p"
				done
				server_stop
				continue
			fi
			if [ "$warmup" != 0 ]; then
				run_wrk "${wls[0]}" "${cl_list[0]}" "$p" "$warmup" "$WORK/warm-${cl_list[0]}"
				parse_wrk "$WORK/warm-${cl_list[0]}" || die "warm-up failed"
			fi
			for wl in "${wls[@]}"; do
				for cl in "${cl_list[@]}"; do
					measure "$rep" "$srv" "$cfg" "$wl" "$cl" "$p"
				done
			done
			server_stop
		done
	done
done
mod_unload
n=0
while read -r _; do n=$((n + 1)); done <"$RAW"
log "done: $n measurements in $RAW"
