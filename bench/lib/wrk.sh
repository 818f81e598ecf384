# SPDX-License-Identifier: GPL-2.0
# bench/measure.sh's clients: wrk from the client netns over veth, or on
# loopback pinned per CPU, and reading wrk's results (bench/wrk.lua's
# FSB_WRK lines). Uses measure.sh's settings (N, addrs, conns_per_cpu,
# srv_addrs, SRV_ADDR_LIST, CLI_NS, WRK, NSENTER, BENCH, out).
# shellcheck shell=bash
# shellcheck disable=SC2154 # measure.sh sets the settings

# run_wrk WORKLOAD CLIENT PORT SECONDS RESULT_PREFIX: RESULT_PREFIX.N hold
# the output of each wrk process.
run_wrk() {
	local wl=$1 cl=$2 p=$3 secs=$4 res=$5 hdr=() c a list pids=() i
	[ "$wl" = close ] && hdr=(-H 'Connection: close')
	case $cl in
	veth)
		FSB_ADDRS=$SRV_ADDR_LIST "$NSENTER" --net="/run/netns/$CLI_NS" "$WRK" -t "${#srv_addrs[@]}" \
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

# parse_wrk RESULT_PREFIX: the FSB_WRK lines of RESULT_PREFIX.* into
# W[key], summed over the wrk processes (duration and latencies: the
# largest); W_PROCS. The outputs are appended to OUT/logs/wrk.log.
declare -A W
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
