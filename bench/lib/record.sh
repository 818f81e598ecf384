# SPDX-License-Identifier: GPL-2.0
# bench/measure.sh's records: CPU time, one JSON line per measurement in
# OUT/raw.jsonl and OUT/meta.json. Shell builtins only (printf), so the
# guest starts no process per measurement. bench/report.py reads them.
# shellcheck shell=bash
# shellcheck disable=SC2154 # measure.sh sets the settings

# cpu_ticks: T_USER T_SYS T_SOFTIRQ T_IRQ T_IDLE, ticks of the whole machine
cpu_ticks() {
	local us ni sy id io irq si _
	read -r _ us ni sy id io irq si _ </proc/stat
	T_USER=$((us + ni)) T_SYS=$sy T_SOFTIRQ=$si T_IRQ=$irq T_IDLE=$((id + io))
}

# task_wakeups DIR: add /proc/.../task/T/sched's wake-up counts of one
# task to WK_ALL and WK_REMOTE (schedstats; 0 while they are off), and
# count it in WK_TASKS, and in WK_PINNED if it may run on one CPU only.
task_wakeups() {
	local k _ v
	while read -r k _ v; do
		case $k in
		nr_wakeups) WK_ALL=$((WK_ALL + v)) ;;
		nr_wakeups_remote) WK_REMOTE=$((WK_REMOTE + v)) ;;
		esac
	done <"$1/sched" 2>/dev/null || true
	while read -r k v; do
		[ "$k" = Cpus_allowed_list: ] || continue
		WK_TASKS=$((WK_TASKS + 1))
		[[ $v == *[,-]* ]] || WK_PINNED=$((WK_PINNED + 1))
	done <"$1/status" 2>/dev/null || true
}

# server_wakeups PID: WK_ALL and WK_REMOTE, the wake-ups of every thread
# of PID and of its children (nginx's and fsb-httpd's workers; WK_TASKS
# threads, WK_PINNED of them pinned to one CPU), and how
# many of them came from another CPU than the one the thread was woken
# onto: the softirq that queued a connection or its data waking a worker
# elsewhere. Needs kernel.sched_schedstats=1 (measure.sh sets it).
server_wakeups() {
	local t t2 c kids
	WK_ALL=0 WK_REMOTE=0 WK_TASKS=0 WK_PINNED=0
	for t in /proc/"$1"/task/*; do
		task_wakeups "$t"
		kids=''
		read -r kids <"$t/children" 2>/dev/null || true
		for c in $kids; do
			for t2 in /proc/"$c"/task/*; do
				task_wakeups "$t2"
			done
		done
	done
}

# record FILE REP SERVER CONFIG-ID LABEL WORKLOAD CLIENT KMOD-JSON OWN-JSON:
# one measurement: W[] and W_PROCS (parse_wrk), the CPU ticks since
# U0 S0 SI0 I0 ID0 (cpu_ticks before, cpu_ticks after), HZ, the server's
# wake-ups since WK0_ALL WK0_REMOTE (server_wakeups before and after).
record() {
	local f=$1
	{
		printf '{"rep":%d,"server":"%s","config":"%s","config_id":"%s","workload":"%s","client":"%s",' \
			"$2" "$3" "$5" "$4" "$6" "$7"
		printf '"requests":%d,"duration_us":%d,"wrk_processes":%d,' \
			"${W[requests]}" "${W[duration_us]}" "$W_PROCS"
		printf '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' \
			"${W[connect]}" "${W[read]}" "${W[write]}" "${W[timeout]}" "${W[status]}"
		printf '"lat_p50_us_max":%d,"lat_p99_us_max":%d,' "${W[lat_p50_us]}" "${W[lat_p99_us]}"
		printf '"cpu_ticks":{"user":%d,"system":%d,"softirq":%d,"irq":%d,"idle":%d},"hz":%d,' \
			$((T_USER - U0)) $((T_SYS - S0)) $((T_SOFTIRQ - SI0)) $((T_IRQ - I0)) \
			$((T_IDLE - ID0)) "$HZ"
		printf '"wakeups":{"all":%d,"remote":%d},"threads":{"all":%d,"pinned":%d},' \
			$((WK_ALL - ${WK0_ALL:-0})) $((WK_REMOTE - ${WK0_REMOTE:-0})) \
			"$WK_TASKS" "$WK_PINNED"
		printf '"kmod":%s,"own":%s}\n' "$8" "$9"
	} >>"$f"
}

# version CMD...: the first line of a program's version output, JSON-safe
version() {
	local v
	v=$("$@" 2>&1 || true)
	v=${v%%$'\n'*}
	v=${v//\\/}
	echo "${v//\"/}"
}

# write_meta FILE: the run's settings and the machine (measure.sh's
# options and programs).
write_meta() {
	local model='' k v
	while IFS=: read -r k v; do
		[[ $k == model\ name* ]] && { model=${v# }; break; }
	done </proc/cpuinfo
	model=${model//\"/}
	{
		printf '{"kernel":"%s","ncpu":%d,"hz":%d,"cpu_model":"%s",' "$(uname -r)" "$N" "$HZ" "$model"
		printf '"in_vm":%s,' "$([ "${FASTSOCKET_IN_VM:-}" = 1 ] && echo true || echo false)"
		printf '"nginx":"%s","haproxy":"%s","wrk":"%s",' "$(version "$NGINX" -v)" \
			"$(version "$HAPROXY" -v)" "$(version "$WRK" -v)"
		printf '"reps":%d,"duration_s":%s,"warmup_s":%s,"conns_per_cpu":%d,"addrs":%d,' \
			"$reps" "$duration" "$warmup" "$conns_per_cpu" "$addrs"
		printf '"servers":"%s","configs":"%s","workloads":"%s","own_workloads":"%s","clients":"%s","hook":%d,' \
			"$servers" "$configs" "$workloads" "$own_workloads" "$clients" "$hook"
		printf '"keep_hooks_chain":%s,"started":"%s"}\n' \
			"$([ "$keep_hooks" = 1 ] && echo true || echo false)" "$(TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1)"
	} >"$1"
}
