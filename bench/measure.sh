#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench/measure.sh: the measuring half of bench/run. Runs as root where
# the module can be loaded: inside the QEMU guest (bench/run) or on a real
# machine (bench/run --host). Not meant to be run by hand; bench/run passes
# every option. Writes OUT/raw.jsonl (one JSON object per measurement),
# OUT/meta.json and OUT/logs/.
#
# For each repetition the configurations run one after another, in an order
# rotated by one per repetition, and within each configuration every
# server, workload and client setup: slow drift of the machine hits every
# configuration alike.
#
# Under software emulation starting a process costs 0.1-2 s, so the
# measuring loop runs inside the server's network namespace and parses
# everything with shell builtins; the only processes it starts are the
# servers and wrk.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
SELF=$BENCH/measure.sh
ARGS=("$@")

out='' reps=5 duration=10 warmup=1 servers=nginx,haproxy,fsb-httpd
configs=1,2,3,4 workloads=close,keepalive clients=veth,lo conns_per_cpu=32
addrs=4 hook=1 port=8080 keep_hooks=0 own_workloads=close stage=0 verbose=0
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

# RPS mask of every CPU: comma-separated 32-bit hex words, highest first
rps_mask() {
	local n=$1 words=$((($1 + 31) / 32)) w bits m=''
	for ((w = words - 1; w >= 0; w--)); do
		bits=$((n - w * 32))
		[ $bits -gt 32 ] && bits=32
		m+="${m:+,}$(printf '%08x' $(((1 << bits) - 1)))"
	done
	echo "$m"
}
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
if [ -z "${FSB_INSIDE:-}" ]; then
	outer_cleanup() {
		local rc=$?
		ip netns del "$CLI_NS" 2>/dev/null || true
		ip netns del "$SRV_NS" 2>/dev/null || true
		rmmod fastsocket 2>/dev/null || true
		if [ "$keep_hooks" = 1 ]; then
			nft delete table inet fsb_keep_hooks 2>/dev/null || true
		fi
		exit $rc
	}
	trap outer_cleanup EXIT
	trap 'exit 130' INT TERM
	[ ! -d /sys/module/fastsocket ] ||
		die "fastsocket is already loaded; unload it first (the suite loads and unloads it itself)"
	# QEMU's software emulation can livelock when netfilter hooks come and
	# go under load (see tests/vm/suite): one empty accept-all input chain
	# keeps the LOCAL_IN hook registered for the whole run, for every
	# configuration alike. bench/run --host does not add it.
	if [ "$keep_hooks" = 1 ]; then
		modprobe -q nf_tables || die "modprobe nf_tables"
		nft -f - <<'NFT' || die "cannot register the keep-alive nft chain"
table inet fsb_keep_hooks {
	chain input { type filter hook input priority 0; policy accept; }
}
NFT
	fi
	modprobe -q veth || die "modprobe veth"
	ip netns del "$SRV_NS" 2>/dev/null || true
	ip netns del "$CLI_NS" 2>/dev/null || true
	ip netns add "$SRV_NS"
	ip netns add "$CLI_NS"
	ip link add fsb-veth0 netns "$SRV_NS" type veth peer name fsb-veth1 netns "$CLI_NS" ||
		die "cannot make the veth pair"
	{
		echo "link set lo up"
		for ((i = 1; i <= addrs; i++)); do
			echo "addr add $SRV_IP_BASE.$i/24 dev fsb-veth0"
		done
		echo "link set fsb-veth0 up"
	} | ip -n "$SRV_NS" -batch - || die "server netns setup failed"
	printf '%s\n' "link set lo up" "addr add $CLI_IP/24 dev fsb-veth1" \
		"link set fsb-veth1 up" | ip -n "$CLI_NS" -batch - ||
		die "client netns setup failed"
	# RPS on the receiving side of both directions, over every CPU: flows
	# are spread by hash, the way a multi-queue NIC spreads them.
	ip netns exec "$CLI_NS" sh -c "
		echo $MASK >/sys/class/net/fsb-veth1/queues/rx-0/rps_cpus &&
		echo '1024 65535' >/proc/sys/net/ipv4/ip_local_port_range &&
		echo 65535 >/proc/sys/net/core/somaxconn" || die "client netns setup"
	FSB_INSIDE=1 ip netns exec "$SRV_NS" "$SELF" "${ARGS[@]}"
	exit $?
fi

# ================================================================ inside
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
BODY=$(printf '%*s' 64 '' | tr ' ' x)
WORK=$(mktemp -d /tmp/fsb.XXXXXX)
KO=$ROOT/kmod/fastsocket.ko
HTTPD=$BENCH/fsb-httpd
mkdir -p "$out/logs"
RAW=$out/raw.jsonl
: >"$RAW"
SRV_PID=''
MOD_LOADED=0
mkfifo "$WORK/snooze"
exec 9<>"$WORK/snooze"
declare -A LABEL=([1]=stock-shared [2]=stock-reuseport [3]=shim [4]=shim+kmod
	[h]=stock-shared+kmod)

# sleep without starting a process
snooze() { read -rt "$1" -u 9 || true; }

inner_cleanup() {
	local rc=$?
	server_stop 2>/dev/null || true
	mod_unload 2>/dev/null || true
	rm -rf "$WORK"
	exit $rc
}
trap inner_cleanup EXIT
trap 'exit 130' INT TERM

echo 1 >/proc/sys/net/ipv4/tcp_migrate_req
echo '1024 65535' >/proc/sys/net/ipv4/ip_local_port_range
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

strip --strip-debug -o "$WORK/fastsocket.ko" "$KO" 2>/dev/null ||
	cp "$KO" "$WORK/fastsocket.ko"
mkdir -p "$WORK/html"
printf '%s' "$BODY" >"$WORK/html/index.html"
# Programs run in the loop. With --stage (the guest), they and their
# libraries are copied to tmpfs first: the guest's root is a 9p export,
# where each exec costs 0.3-2 s of path walks under emulation. The
# programs are the same files; only their start-up gets faster.
NGINX=/usr/sbin/nginx HAPROXY=/usr/sbin/haproxy WRK=$(command -v wrk)
NSENTER=$(command -v nsenter)
SHIM=$ROOT/libshim/libfastsocket.so
if [ "$stage" = 1 ]; then
	# bench/run lists the programs' libraries (ldd on the host, which
	# shares the guest's root) in OUT/stage-libs.
	mkdir -p "$WORK/stage/bin" "$WORK/stage/lib"
	cp "$NGINX" "$HAPROXY" "$WRK" "$NSENTER" "$HTTPD" "$WORK/stage/bin/"
	mapfile -t libs <"$out/stage-libs"
	cp "${libs[@]}" "$SHIM" "$WORK/stage/lib/"
	export LD_LIBRARY_PATH=$WORK/stage/lib
	B=$WORK/stage/bin
	NGINX=$B/nginx HAPROXY=$B/haproxy WRK=$B/wrk
	NSENTER=$B/nsenter HTTPD=$B/fsb-httpd SHIM=$WORK/stage/lib/libfastsocket.so
fi

srv_addrs=()
for ((i = 1; i <= addrs; i++)); do srv_addrs+=("$SRV_IP_BASE.$i"); done
SRV_ADDR_LIST=$(IFS=,; echo "${srv_addrs[*]}")

mod_load() {
	[ "$MOD_LOADED" = 1 ] && return 0
	insmod "$WORK/fastsocket.ko" enable_listen_spawn=2 || die "insmod fastsocket.ko failed"
	MOD_LOADED=1
}

mod_unload() {
	local i
	[ "$MOD_LOADED" = 1 ] || return 0
	for ((i = 1; i <= 100; i++)); do
		if rmmod fastsocket 2>/dev/null || [ ! -d /sys/module/fastsocket ]; then
			MOD_LOADED=0
			return 0
		fi
		snooze 0.1
	done
	die "rmmod fastsocket still failing after 10 s"
}

# ------------------------------------------------------------ servers

nginx_conf() { # config port dir error_log
	local cfg=$1 p=$2 d=$3 elog=$4 listen="listen $2"
	[ "$cfg" = 2 ] && listen="listen $p reuseport"
	[ -d "$d" ] || mkdir -p "$d"
	cat >"$d/nginx.conf" <<EOF
# generated by bench/measure.sh, configuration $cfg (${LABEL[$cfg]})
user root;
worker_processes $N;
worker_rlimit_nofile $((MAXCONN * 2 + 128));
pid $d/nginx.pid;
error_log $elog notice;
events {
	worker_connections $MAXCONN;
	accept_mutex off;
}
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 65;
	keepalive_requests 100000000;
	client_body_temp_path $d/body;
	proxy_temp_path $d/proxy;
	fastcgi_temp_path $d/fastcgi;
	uwsgi_temp_path $d/uwsgi;
	scgi_temp_path $d/scgi;
	default_type text/plain;
	server {
		$listen backlog=65535;
		root $WORK/html;
		location / { }
	}
}
EOF
}

haproxy_conf() { # config port dir
	local cfg=$1 p=$2 d=$3 binds="" t noreuse=noreuseport
	[ -d "$d" ] || mkdir -p "$d"
	if [ "$cfg" = 2 ]; then
		noreuse=''
		for ((t = 1; t <= N; t++)); do
			binds+="	bind :$p thread $t"$'\n'
		done
	else
		binds="	bind :$p"$'\n'
	fi
	cat >"$d/haproxy.cfg" <<EOF
# generated by bench/measure.sh, configuration $cfg (${LABEL[$cfg]})
global
	nbthread $N
	maxconn $MAXCONN
	$noreuse
	# the thread that accepts a connection serves it, as nginx workers do
	tune.listener.multi-queue off
	# do not preload the system CA store for the (unused) HTTP client: it
	# reads every file in /etc/ssl/certs, seconds at each start when emulated
	httpclient.ssl.verify none
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	timeout http-keep-alive 30s
	maxconn $MAXCONN
frontend bench
$binds	http-request return status 200 content-type text/plain string "$BODY"
EOF
}

# Wait until PORT accepts connections (a builtin /dev/tcp connect).
wait_port() {
	local p=$1 i
	for ((i = 1; i <= 600; i++)); do
		if { exec 8<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
			exec 8>&-
			return 0
		fi
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		snooze 0.1
	done
	return 1
}

# KM_STEERED KM_NO_LOCAL KM_EXISTING KM_LISTENERS KM_PARKED: sums over the per-CPU
# rows of this netns's /proc/net/fastsocket
read_kmod() {
	local a b c d e _ rows=0
	KM_STEERED=0 KM_NO_LOCAL=0 KM_EXISTING=0 KM_LISTENERS=0 KM_PARKED=0
	while read -r a b c d e f _; do
		case $a in
		cpu) rows=1; continue ;;
		listener) break ;;
		esac
		[ $rows = 1 ] || continue
		KM_STEERED=$((KM_STEERED + b))
		KM_NO_LOCAL=$((KM_NO_LOCAL + c))
		KM_EXISTING=$((KM_EXISTING + d))
		KM_LISTENERS=$((KM_LISTENERS + e))
		KM_PARKED=$((KM_PARKED + ${f:-0}))
	done </proc/net/fastsocket
}

# server_start SERVER CONFIG PORT: start it in the background; SRV_PID is
# its main process.
server_start() {
	local srv=$1 cfg=$2 p=$3 d=$WORK/$1-$2 i pre=(env) rp=()
	SRV_LOG=$out/logs/$srv-${LABEL[$cfg]}.log
	# The shim the way tools/fastsocket --ports P runs it, without the
	# wrapper's shell.
	case $cfg in
	# FASTSOCKET_LOG=info: one line per worker placed and local listener
	# made (at start-up only), kept in OUT/logs as evidence.
	3 | 4) pre=(env LD_PRELOAD="$SHIM" FASTSOCKET_PORTS="$p" FASTSOCKET_LOG=info) ;;
	esac
	case $srv in
	nginx)
		nginx_conf "$cfg" "$p" "$d" "$SRV_LOG"
		"${pre[@]}" "$NGINX" -p "$d" -e "$SRV_LOG" \
			-c "$d/nginx.conf" -g 'daemon off;' >>"$SRV_LOG" 2>&1 &
		;;
	haproxy)
		haproxy_conf "$cfg" "$p" "$d"
		"${pre[@]}" "$HAPROXY" -db -f "$d/haproxy.cfg" >>"$SRV_LOG" 2>&1 &
		;;
	fsb-httpd)
		[ -d "$d" ] || mkdir -p "$d"
		OWN_OUT=$d/out
		: >"$OWN_OUT"
		[ "$cfg" = 2 ] && rp=(--reuseport)
		"${pre[@]}" "$HTTPD" --port "$p" --workers "$N" "${rp[@]}" \
			>"$OWN_OUT" 2>>"$SRV_LOG" &
		;;
	esac
	SRV_PID=$!
	dbg "started $srv (${LABEL[$cfg]}), pid $SRV_PID"
	wait_port "$p" || die "$srv (${LABEL[$cfg]}) did not start; see $SRV_LOG"
	if [ "$cfg" = 4 ]; then
		# Every worker should have its local listener before we measure.
		for ((i = 1; i <= 200; i++)); do
			read_kmod
			[ "$KM_LISTENERS" -ge "$N" ] && break
			snooze 0.1
		done
		[ "$KM_LISTENERS" -ge "$N" ] ||
			log "warning: $srv: $KM_LISTENERS local listeners, expected $N"
	fi
	dbg "$srv accepts connections"
}

# Stop the server and wait for it: nginx's master, haproxy and fsb-httpd's
# master exit only after their workers, so the port is free afterwards.
server_stop() {
	local i
	[ -n "$SRV_PID" ] || return 0
	dbg "stopping pid $SRV_PID"
	kill -TERM "$SRV_PID" 2>/dev/null || true
	for ((i = 1; i <= 300; i++)); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		snooze 0.1
	done
	kill -KILL "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	dbg "stopped pid $SRV_PID"
	SRV_PID=''
}

# OWN_ACC OWN_MATCH OWN_REQ: fsb-httpd's running totals (SIGUSR1)
own_stats() {
	local i line last='' seen=0 n=0
	while read -r line; do
		[[ $line == stats\ * ]] && seen=$((seen + 1))
	done <"$OWN_OUT"
	kill -USR1 "$SRV_PID"
	for ((i = 1; i <= 200; i++)); do
		n=0
		while read -r line; do
			[[ $line == stats\ * ]] || continue
			n=$((n + 1))
			last=$line
		done <"$OWN_OUT"
		[ "$n" -gt "$seen" ] && break
		snooze 0.05
	done
	[[ $last =~ accepted=([0-9]+)\ cpu_match=([0-9]+)\ requests=([0-9]+) ]] ||
		die "fsb-httpd did not report its counters"
	OWN_ACC=${BASH_REMATCH[1]} OWN_MATCH=${BASH_REMATCH[2]} OWN_REQ=${BASH_REMATCH[3]}
}

# T_USER T_SYS T_SOFTIRQ T_IRQ T_IDLE: ticks of the whole machine
cpu_ticks() {
	local us ni sy id io irq si rest
	read -r _ us ni sy id io irq si rest </proc/stat
	T_USER=$((us + ni)) T_SYS=$sy T_SOFTIRQ=$si T_IRQ=$irq T_IDLE=$((id + io))
}

# ------------------------------------------------------------- clients

# run_wrk WORKLOAD CLIENT PORT SECONDS RESULT_PREFIX: RESULT_PREFIX.N hold
# the output of each wrk process.
run_wrk() {
	local wl=$1 cl=$2 p=$3 secs=$4 res=$5 hdr=() c a list pids=() i
	[ "$wl" = close ] && hdr=(-H 'Connection: close')
	case $cl in
	veth)
		FSB_ADDRS=$SRV_ADDR_LIST "$NSENTER" --net=/run/netns/$CLI_NS "$WRK" -t "${#srv_addrs[@]}" \
			-c $((conns_per_cpu * N)) -d "${secs}s" --timeout 10s \
			-s "$BENCH/wrk.lua" "${hdr[@]}" \
			"http://${srv_addrs[0]}:$p/index.html" >"$res.0" 2>&1 &
		pids+=($!)
		;;
	lo)
		# One wrk per CPU, pinned (by wrk.lua, FSB_CPU): on loopback the
		# receive softirq runs on the sending CPU, so each CPU takes its
		# own clients' SYNs.
		for ((c = 0; c <= N - 1; c++)); do
			list=''
			for ((a = 1; a <= addrs; a++)); do
				list+="${list:+,}127.0.$((c + 1)).$a"
			done
			FSB_CPU=$c FSB_ADDRS=$list "$WRK" -t "$addrs" \
				-c "$conns_per_cpu" -d "${secs}s" --timeout 10s \
				-s "$BENCH/wrk.lua" "${hdr[@]}" \
				"http://127.0.$((c + 1)).1:$p/index.html" >"$res.$c" 2>&1 &
			pids+=($!)
		done
		;;
	esac
	for i in "${pids[@]}"; do wait "$i" || true; done
}

# Parse the FSB_WRK lines of RESULT_PREFIX.*: W[key] summed over the wrk
# processes (duration and latencies: the largest); W_PROCS.
parse_wrk() {
	local f line kv k v found
	W=([requests]=0 [duration_us]=0 [bytes]=0 [connect]=0 [read]=0 [write]=0
		[status]=0 [timeout]=0 [lat_p50_us]=0 [lat_p99_us]=0)
	W_PROCS=0
	for f in "$1".*; do
		found=0
		while read -r line; do
			[[ $line == FSB_WRK\ * ]] || continue
			found=1
			for kv in ${line#FSB_WRK }; do
				k=${kv%%=*} v=${kv#*=}
				case $k in
				duration_us | lat_*) [ "$v" -gt "${W[$k]}" ] && W[$k]=$v ;;
				*) W[$k]=$((W[$k] + v)) ;;
				esac
			done
		done <"$f"
		if [ $found = 0 ]; then
			echo "bench: wrk produced no result:" >&2
			cat "$f" >&2
			return 1
		fi
		W_PROCS=$((W_PROCS + 1))
	done
	for f in "$1".*; do
		while IFS= read -r line; do printf '%s\n' "$line"; done <"$f"
	done >>"$out/logs/wrk.log"
}
declare -A W

# measure REP SERVER CONFIG WORKLOAD CLIENT PORT: one measurement, one
# JSON line in raw.jsonl.
measure() {
	local rep=$1 srv=$2 cfg=$3 wl=$4 cl=$5 p=$6 res=$WORK/wrk-$5
	local u0 s0 si0 i0 id0 a0=0 m0=0 r0=0 own=null kmod errs extra='' rate
	if [ "$MOD_LOADED" = 1 ]; then
		echo 0 >/proc/net/fastsocket
	fi
	if [ "$srv" = fsb-httpd ]; then
		own_stats
		a0=$OWN_ACC m0=$OWN_MATCH r0=$OWN_REQ
	fi
	cpu_ticks
	u0=$T_USER s0=$T_SYS si0=$T_SOFTIRQ i0=$T_IRQ id0=$T_IDLE
	dbg "wrk $wl/$cl"
	run_wrk "$wl" "$cl" "$p" "$duration" "$res"
	cpu_ticks
	dbg "wrk done"
	parse_wrk "$res" || die "wrk failed ($srv ${LABEL[$cfg]} $wl/$cl)"
	if [ "$srv" = fsb-httpd ]; then
		own_stats
		own="{\"accepted\":$((OWN_ACC - a0)),\"cpu_match\":$((OWN_MATCH - m0)),\"requests\":$((OWN_REQ - r0))}"
		extra+=" cpu_match=$((OWN_MATCH - m0))/$((OWN_ACC - a0))"
	fi
	if [ "$MOD_LOADED" = 1 ]; then
		read_kmod
		kmod="{\"loaded\":true,\"steered\":$KM_STEERED,\"no_local\":$KM_NO_LOCAL,\"existing\":$KM_EXISTING,\"parked\":$KM_PARKED}"
		extra+=" steered=$KM_STEERED/$((KM_STEERED + KM_NO_LOCAL + KM_PARKED)) existing=$KM_EXISTING"
	else
		kmod='{"loaded":false}'
	fi
	errs=$((W[connect] + W[read] + W[write] + W[timeout] + W[status]))
	printf '{"rep":%d,"server":"%s","config":"%s","config_id":"%s","workload":"%s","client":"%s",' \
		"$rep" "$srv" "${LABEL[$cfg]}" "$cfg" "$wl" "$cl" >>"$RAW"
	printf '"requests":%d,"duration_us":%d,"wrk_processes":%d,' \
		"${W[requests]}" "${W[duration_us]}" "$W_PROCS" >>"$RAW"
	printf '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' \
		"${W[connect]}" "${W[read]}" "${W[write]}" "${W[timeout]}" "${W[status]}" >>"$RAW"
	printf '"lat_p50_us_max":%d,"lat_p99_us_max":%d,' "${W[lat_p50_us]}" "${W[lat_p99_us]}" >>"$RAW"
	printf '"cpu_ticks":{"user":%d,"system":%d,"softirq":%d,"irq":%d,"idle":%d},"hz":%d,' \
		$((T_USER - u0)) $((T_SYS - s0)) $((T_SOFTIRQ - si0)) $((T_IRQ - i0)) \
		$((T_IDLE - id0)) "$HZ" >>"$RAW"
	printf '"kmod":%s,"own":%s}\n' "$kmod" "$own" >>"$RAW"
	rate=0
	[ "${W[duration_us]}" -gt 0 ] && rate=$((W[requests] * 1000000 / W[duration_us]))
	log "rep $rep $srv ${LABEL[$cfg]} $wl/$cl: $rate/s errors=$errs$extra"
}

# --------------------------------------------------------------- meta

ver() { # the first line of a program's version output, JSON-safe
	local v
	v=$("$@" 2>&1 || true)
	v=${v%%$'\n'*}
	v=${v//\\/}
	echo "${v//\"/}"
}
model=''
while IFS=: read -r k v; do
	[[ $k == model\ name* ]] && { model=${v# }; break; }
done </proc/cpuinfo
model=${model//\"/}
{
	printf '{"kernel":"%s","ncpu":%d,"hz":%d,"cpu_model":"%s",' "$(uname -r)" "$N" "$HZ" "$model"
	printf '"in_vm":%s,' "$([ "${FASTSOCKET_IN_VM:-}" = 1 ] && echo true || echo false)"
	printf '"nginx":"%s","haproxy":"%s","wrk":"%s",' "$(ver "$NGINX" -v)" \
		"$(ver "$HAPROXY" -v)" "$(ver "$WRK" -v)"
	printf '"reps":%d,"duration_s":%s,"warmup_s":%s,"conns_per_cpu":%d,"addrs":%d,' \
		"$reps" "$duration" "$warmup" "$conns_per_cpu" "$addrs"
	printf '"servers":"%s","configs":"%s","workloads":"%s","own_workloads":"%s","clients":"%s","hook":%d,' \
		"$servers" "$configs" "$workloads" "$own_workloads" "$clients" "$hook"
	printf '"keep_hooks_chain":%s,"started":"%s"}\n' \
		"$([ "$keep_hooks" = 1 ] && echo true || echo false)" "$(TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1)"
} >"$out/meta.json"

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
		case $cfg in
		4 | h) mod_load ;;
		*) mod_unload ;;
		esac
		for srv in "${srv_list[@]}"; do
			wls=("${wl_list[@]}")
			p=$port
			if [ "$cfg" = h ]; then
				# The hook's cost where it has nothing to do: the module
				# is loaded, this port has no local listener. nginx only,
				# short connections only; compared with stock-shared.
				[ "$srv" = nginx ] || continue
				wls=(close)
				p=$((port + 1))
			fi
			[ "$srv" = fsb-httpd ] && wls=("${own_wl_list[@]}")
			server_start "$srv" "$cfg" "$p"
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
