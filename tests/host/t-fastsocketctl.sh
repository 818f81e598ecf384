#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/fastsocketctl against crafted /proc, /sys, /etc and /dev trees
# (--root), in TAP form. A clean tree, where doctor must find nothing;
# then one change per doctor finding, where it must find exactly that;
# status and stats against a crafted /proc/net/fastsocket (with a column
# a newer module could add); every --json output through python3's JSON
# parser (json.load); bad usage exits 2 with one line on stderr.
#
# No kernel, no network, no timing: stats -i runs twice for 1 s over a
# file that does not change, so every rate must be 0.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd -P)
ctl=$top/tools/fastsocketctl
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
# check NAME STATUS [FILE...]: ok if STATUS is 0, else not ok and the files.
check() {
	local name=$1 st=$2 f
	shift 2
	if [ "$st" = 0 ]; then
		ok "$name"
	else
		not_ok "$name"
		for f in "$@"; do
			[ -s "$f" ] && sed 's/^/# /' "$f"
		done
	fi
	return 0
}

if [ ! -x "$ctl" ]; then
	echo "not ok 1 - $ctl is missing (make -C tools)"
	echo "1..1"
	exit 1
fi

# put FILE CONTENT...: write a file of a tree, one argument a line.
put() {
	mkdir -p "$(dirname "$1")"
	local f=$1
	shift
	printf '%s\n' "$@" >"$f"
}

# clean_tree DIR: a host where locality has all it needs: module loaded,
# nginx workers on CPUs 0 and 1, each NIC queue's IRQ and XPS on the CPU
# of its worker, no RPS, good sysctls, nginx and haproxy set up well.
clean_tree() {
	local r=$1
	put "$r/proc/sys/net/ipv4/tcp_migrate_req" 1
	put "$r/proc/sys/net/ipv4/tcp_syncookies" 1
	put "$r/proc/sys/net/ipv4/ip_local_port_range" "32768	60999"
	put "$r/proc/sys/net/ipv4/ip_local_reserved_ports" ""
	put "$r/proc/sys/net/core/somaxconn" 4096
	put "$r/proc/sys/net/core/rps_sock_flow_entries" 0
	put "$r/sys/devices/system/cpu/online" 0-1
	put "$r/sys/module/fastsocket/parameters/enable_listen_spawn" 2
	put "$r/sys/module/fastsocket/parameters/unwatched_grace_ms" 10
	put "$r/dev/fastsocket" abi_version=1 features=0x1f
	put "$r/proc/net/fastsocket" \
		"cpu steered no_local existing local_listeners parked skipped unwatched" \
		"0 100 1 2 1 0 0 0" \
		"1 200 3 4 1 0 0 5" \
		"listener dev cpu pid spawns kind" \
		"0.0.0.0:80 0 0 101 1 spawned" \
		"0.0.0.0:80 0 1 102 1 spawned"
	put "$r/proc/101/comm" nginx
	put "$r/proc/101/status" "Name:	nginx" "Cpus_allowed_list:	0"
	put "$r/proc/102/comm" nginx
	put "$r/proc/102/status" "Name:	nginx" "Cpus_allowed_list:	1"
	put "$r/proc/interrupts" \
		"           CPU0       CPU1" \
		" 24:        10         0  PCI-MSIX-0000:00:03.0   0-edge      eth0" \
		" 25:      1000         0  PCI-MSIX-0000:00:03.0   1-edge      eth0-TxRx-0" \
		" 26:         0      1000  PCI-MSIX-0000:00:03.0   2-edge      eth0-TxRx-1"
	put "$r/proc/irq/24/smp_affinity_list" 0-1
	put "$r/proc/irq/25/smp_affinity_list" 0
	put "$r/proc/irq/26/smp_affinity_list" 1
	mkdir -p "$r/sys/class/net/eth0/device/msi_irqs"
	touch "$r/sys/class/net/eth0/device/msi_irqs/"{24,25,26}
	local q
	for q in 0 1; do
		put "$r/sys/class/net/eth0/queues/rx-$q/rps_cpus" 0
		put "$r/sys/class/net/eth0/queues/rx-$q/rps_flow_cnt" 0
		put "$r/sys/class/net/eth0/queues/tx-$q/xps_cpus" $((1 << q))
	done
	put "$r/etc/nginx/nginx.conf" \
		"user www-data;  # a comment; with { braces }" \
		"worker_processes auto;" \
		"events { worker_connections 768; accept_mutex off; }" \
		"http {" "	include /etc/nginx/conf.d/*.conf;" "}"
	put "$r/etc/nginx/conf.d/site.conf" \
		"server {" "	listen 80;" "	listen [::]:80 reuseport backlog=1024;" \
		'	location / { return 200 "a;b"; }' "}"
	put "$r/etc/haproxy/haproxy.cfg" \
		"global" "	nbthread 2" "	tune.listener.multi-queue off" \
		"	cpu-map auto:1/1-2 0-1" "frontend web" "	bind :8080 backlog 2048"
}

# doctor_case NAME CHECK COUNT CHANGE...: a clean tree, CHANGE run in it
# (eval'd with $r set), then doctor must exit 1 with COUNT lines, each
# "CHECK: ...; fix: ...", and its --json must agree.
doctor_case() {
	local name=$1 want=$2 count=$3 r=$tmp/$1 st=0 lines
	shift 3
	clean_tree "$r"
	(cd "$r" && eval "$*") || st=1
	"$ctl" --root "$r" doctor ${PORT:+--port "$PORT"} >"$r.out" 2>&1
	[ $? = 1 ] || st=1
	lines=$(grep -c "^$want: .*; fix: ." "$r.out")
	[ "$lines" = "$count" ] && [ "$(wc -l <"$r.out")" = "$count" ] || st=1
	"$ctl" --root "$r" --json doctor ${PORT:+--port "$PORT"} >"$r.json" 2>&1
	json_is "$r.json" "d['count'] == $count == len(d['findings']) and
		all(f['check'] == '$want' and f['fix'] for f in d['findings'])" || st=1
	check "doctor finds $name ($count \"$want\")" $st "$r.out" "$r.json.why"
}

# usage_case NAME ARGS...: exit 2, one line on stderr, nothing on stdout.
usage_case() {
	local name=$1 st=0
	shift
	"$ctl" "$@" >"$tmp/u.out" 2>"$tmp/u.err"
	[ $? = 2 ] && [ ! -s "$tmp/u.out" ] && [ "$(wc -l <"$tmp/u.err")" = 1 ] &&
		grep -q '^fastsocketctl: ' "$tmp/u.err" || st=1
	check "bad usage exits 2 with one line: $name" $st "$tmp/u.err" "$tmp/u.out"
}

# json_is FILE EXPR: FILE is one JSON document, d, for which the Python
# expression EXPR holds; why not goes to FILE.why.
json_is() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert eval("(" + sys.argv[2] + ")"), d' "$1" "$2" 2>"$1.why"
}

# --- doctor on a clean tree
r=$tmp/clean
clean_tree "$r"
"$ctl" --root "$r" doctor >"$r.out" 2>&1
st=$?
[ $st = 0 ] && [ "$(cat "$r.out")" = "no findings" ] && st=0 || st=1
check "doctor: clean tree: exit 0, no findings" $st "$r.out"
"$ctl" --root "$r" doctor --json >"$r.json" 2>&1
st=$?
json_is "$r.json" 'd == {"findings": [], "count": 0}' || st=1
check "doctor --json: clean tree: no findings" $st "$r.json.why"

# --- one finding at a time
doctor_case module-not-loaded module 1 'rm -r sys/module dev/fastsocket proc/net/fastsocket'
doctor_case device-missing module 1 'rm dev/fastsocket'
doctor_case abi-mismatch abi 1 'echo abi_version=2 features=0x1f | tr " " "\n" >dev/fastsocket'
doctor_case irq-off-workers irq_affinity 1 'echo 0-2 >proc/irq/26/smp_affinity_list'
doctor_case irqbalance irqbalance 1 'mkdir proc/555 && echo irqbalance >proc/555/comm'
doctor_case rps-off-workers rps 1 'echo 5 >sys/class/net/eth0/queues/rx-1/rps_cpus'
doctor_case rfs-no-flow-cnt rfs 1 'echo 32768 >proc/sys/net/core/rps_sock_flow_entries'
doctor_case rfs-no-sock-flow rfs 1 'echo 4096 >sys/class/net/eth0/queues/rx-0/rps_flow_cnt'
doctor_case xps-unset xps 1 'echo 0 >sys/class/net/eth0/queues/tx-0/xps_cpus; echo 0 >sys/class/net/eth0/queues/tx-1/xps_cpus'
doctor_case tcp-migrate-req tcp_migrate_req 1 'echo 0 >proc/sys/net/ipv4/tcp_migrate_req'
doctor_case tcp-syncookies tcp_syncookies 1 'echo 0 >proc/sys/net/ipv4/tcp_syncookies'
doctor_case somaxconn-haproxy somaxconn 1 'echo 1500 >proc/sys/net/core/somaxconn'
doctor_case somaxconn-both somaxconn 2 'echo 1000 >proc/sys/net/core/somaxconn'
doctor_case port-in-range port_range 1 'printf "1024\t65000\n" >proc/sys/net/ipv4/ip_local_port_range'
doctor_case nginx-accept-mutex nginx 1 'sed -i "s/accept_mutex off/accept_mutex on/" etc/nginx/nginx.conf'
doctor_case nginx-affinity nginx 1 'echo "worker_cpu_affinity 0011 1100;" >>etc/nginx/nginx.conf'
doctor_case nginx-workers workers 1 'sed -i "s/worker_processes auto/worker_processes 4/" etc/nginx/nginx.conf'
doctor_case haproxy-multi-queue haproxy 1 'sed -i "/multi-queue/d" etc/haproxy/haproxy.cfg'
doctor_case haproxy-cpu-map haproxy 1 'sed -i "s|cpu-map auto:1/1-2 0-1|cpu-map 1/all 0-1|" etc/haproxy/haproxy.cfg'
doctor_case haproxy-nbthread workers 1 'sed -i "s/nbthread 2/nbthread 8/" etc/haproxy/haproxy.cfg'
doctor_case workers-per-port workers 1 'echo "0.0.0.0:80 0 0 103 1 spawned" >>proc/net/fastsocket'
PORT=9000 doctor_case port-option port_range 1 'printf "1024\t65000\n" >proc/sys/net/ipv4/ip_local_port_range'

# The same tree as port-in-range, the port reserved, or --port elsewhere.
r=$tmp/port-in-range
echo 8080 >"$r/proc/sys/net/ipv4/ip_local_reserved_ports"
"$ctl" --root "$r" doctor >"$r.out2" 2>&1
check "doctor: a reserved port in ip_local_port_range is no finding" $? "$r.out2"
echo >"$r/proc/sys/net/ipv4/ip_local_reserved_ports"
"$ctl" --root "$r" doctor --port 80 >"$r.out3" 2>&1
check "doctor --port 80: port 8080 in the range is not looked at" $? "$r.out3"

# --- status
r=$tmp/clean
"$ctl" --root "$r" status >"$r.status" 2>&1
st=$?
for want in "^module: loaded, ABI 1 (this tool: 1), features: spawn steer_ipv4 steer_ipv6 register park$" \
	"^parameters: enable_listen_spawn=2 unwatched_grace_ms=10$" \
	"^  0.0.0.0:80 dev 0: pids 101,102; CPUs 0-1; 2 spawned, 0 parked, 0 registered$" \
	"^  pid 101 (nginx) 0.0.0.0:80 CPU 0: allowed CPUs 0: pinned$" \
	"^  pid 102 (nginx) 0.0.0.0:80 CPU 1: allowed CPUs 1: pinned$" \
	"^counters (all CPUs): steered 300 no_local 4 existing 6 local_listeners 2 parked 0 skipped 0 unwatched 5$"; do
	grep -q "$want" "$r.status" || { st=1; echo "missing: $want" >>"$r.status"; }
done
check "status: module, parameters, listeners, workers, counters" $st "$r.status"

"$ctl" --root "$r" status --json >"$r.sjson" 2>&1 &&
	json_is "$r.sjson" 'd["module"]["loaded"] and d["module"]["abi_match"] and
		d["mode"] == "module" and d["parameters"]["enable_listen_spawn"] == "2" and
		d["netns"][0]["ports"] == [{"address": "0.0.0.0:80", "port": 80, "dev": 0,
			"pids": [101, 102], "cpus": "0-1", "spawned": 2, "parked": 0, "registered": 0}] and
		[(w["pid"], w["cpu"], w["pinning"]) for w in d["netns"][0]["workers"]] ==
			[(101, 0, "pinned"), (102, 1, "pinned")] and
		d["netns"][0]["counters"]["steered"] == 300 and d["netns"][0]["counters"]["unwatched"] == 5'
check "status --json: parses, agrees with the crafted tree" $? "$r.sjson" "$r.sjson.why"

r=$tmp/pins
clean_tree "$r"
put "$r/proc/102/status" "Cpus_allowed_list:	0-1"
put "$r/proc/net/fastsocket" \
	"cpu steered no_local existing local_listeners parked skipped unwatched" \
	"0 0 0 0 1 0 0 0" "1 0 0 0 2 0 0 0" \
	"listener dev cpu pid spawns kind" \
	"[::]:443 0 0 101 1 registered" "[::]:443 0 1 102 1 parked" "[::]:443 0 1 0 1 spawned"
"$ctl" --root "$r" status >"$r.status" 2>&1
st=$?
grep -q '^  \[::\]:443 dev 0: pids 101,102,0; CPUs 0-1; 1 spawned, 1 parked, 1 registered$' "$r.status" || st=1
grep -q '^  pid 102 (nginx) \[::\]:443 CPU 1: allowed CPUs 0-1: not pinned$' "$r.status" || st=1
grep -q '^  pid 0' "$r.status" && st=1
check "status: IPv6, parked and registered rows, an unpinned worker, pid 0 left out" $st "$r.status"

# receive flow deliver's port blocks: the table's last part
r=$tmp/rfd
clean_tree "$r"
put "$r/proc/net/fastsocket" \
	"cpu steered no_local existing local_listeners parked skipped unwatched" \
	"0 0 0 0 0 0 0 0" "1 0 0 0 0 0 0 0" \
	"listener dev cpu pid spawns kind" \
	"rfd port_lo block cpus" "2 32768 14116 2"
"$ctl" --root "$r" status >"$r.status" 2>&1 &&
	grep -q '^rfd: port blocks (enable_receive_flow_deliver=2): CPU c connects from 32768+c\*14116 .. 32768+(c+1)\*14116-1, 2 CPUs$' "$r.status"
check "status: receive flow deliver's port blocks" $? "$r.status"
"$ctl" --root "$r" --json status >"$r.sjson" 2>&1 &&
	json_is "$r.sjson" 'd["rfd"] == {"port_blocks": True, "mode": 2, "port_lo": 32768, "block": 14116, "cpus": 2}'
check "status --json: receive flow deliver's port blocks" $? "$r.sjson" "$r.sjson.why"
"$ctl" --root "$r" stats >"$r.stats" 2>&1
check "stats: a table with port blocks parses" $? "$r.stats"

# A part a newer module adds is skipped, not an error.
r=$tmp/newpart
clean_tree "$r"
put "$r/proc/net/fastsocket" \
	"cpu steered no_local existing local_listeners parked skipped unwatched" \
	"0 0 0 0 0 0 0 0" "1 0 0 0 0 0 0 0" \
	"listener dev cpu pid spawns kind" \
	"future_part a b" "1 2" "3 4" \
	"quota local_listeners max max_per_user" "0 65536 16384" \
	"user uid local_listeners" "0 0"
"$ctl" --root "$r" status >"$r.status" 2>&1 &&
	grep -q '^quota: 0 local listeners in this network namespace, at most 65536' "$r.status"
check "status: a part it does not know is skipped, the quota still read" $? "$r.status"

r=$tmp/nomodule
clean_tree "$r"
rm -r "$r/sys/module" "$r/dev/fastsocket" "$r/proc/net/fastsocket"
"$ctl" --root "$r" status >"$r.status" 2>&1 &&
	grep -q "^module: not loaded: the shim (libfastsocket.so) runs in its userspace fallback" "$r.status"
check "status without the module: says the shim runs in its userspace fallback" $? "$r.status"
"$ctl" --root "$r" --json status >"$r.sjson" 2>&1 &&
	json_is "$r.sjson" 'd["mode"] == "fallback" and "userspace fallback" in d["fallback"] and
		not d["module"]["loaded"] and "netns" not in d'
check "status --json without the module: mode fallback" $? "$r.sjson" "$r.sjson.why"

# --- stats: a column a newer module adds at the end is carried along
r=$tmp/stats
clean_tree "$r"
put "$r/proc/net/fastsocket" \
	"cpu steered no_local existing local_listeners parked skipped unwatched newer" \
	"0 100 1 2 1 0 0 0 7" "1 200 3 4 1 0 0 5 8" \
	"listener dev cpu pid spawns kind" "0.0.0.0:80 0 0 101 1 spawned"
"$ctl" --root "$r" stats >"$r.out" 2>&1
st=$?
[ "$(awk '{ print $1, $2, $9 }' "$r.out" | tr '\n' ' ')" = "cpu steered newer 0 100 7 1 200 8 all 300 15 " ] || st=1
check "stats: per-CPU counters and their sum, a new column at the end" $st "$r.out"
"$ctl" --root "$r" stats --json >"$r.json" 2>&1 &&
	json_is "$r.json" 'd["cpus"][1] == {"cpu": 1, "steered": 200, "no_local": 3, "existing": 4,
		"local_listeners": 1, "parked": 0, "skipped": 0, "unwatched": 5, "newer": 8}'
check "stats --json: every column by name" $? "$r.json" "$r.json.why"
"$ctl" --root "$r" stats -i 1 -c 2 >"$r.rates" 2>&1
st=$?
[ "$(wc -l <"$r.rates")" = 7 ] && [ "$(head -n1 "$r.rates" | awk '{ print $1 }')" = cpu ] || st=1
# Unchanged counters: every rate 0; local_listeners (a count) stays 1 per CPU.
[ "$(awk 'NR > 1 { print $2 + $3 + $4 + $6 + $7 + $8 + $9, $5 }' "$r.rates" | sort -u | tr '\n' ' ')" = "0 1 0 2 " ] || st=1
check "stats -i 1 -c 2 (not a tty): header once, 2 blocks, rates of unchanged counters 0" $st "$r.rates"
"$ctl" --root "$r" stats --json -i 1 -c 1 >"$r.rjson" 2>&1 &&
	json_is "$r.rjson" 'd["interval"] == 1 and d["rates"][0]["steered"] == 0 and
		d["rates"][0]["local_listeners"] == 1'
check "stats --json -i: one JSON document per interval" $? "$r.rjson" "$r.rjson.why"

# --- usage and errors: exit 2, one line
usage_case "no command"
usage_case "unknown command" frobnicate
usage_case "unknown global option" --frob status
usage_case "--root without its directory" --root
usage_case "unknown status option" status --frob
usage_case "status argument" status extra
usage_case "stats -i 0" stats -i 0
usage_case "stats -i abc" stats -i abc
usage_case "stats -i -1" stats -i -1
usage_case "stats -c without -i" stats -c 3
usage_case "doctor --port 0" doctor --port 0
usage_case "doctor --port 70000" doctor --port 70000
usage_case "doctor --port x" doctor --port x
usage_case "stats without /proc/net/fastsocket" --root "$tmp/nomodule" stats
r=$tmp/garbled
clean_tree "$r"
put "$r/proc/net/fastsocket" "cpu steered no_local" "0 1 x"
usage_case "a garbled /proc/net/fastsocket" --root "$r" stats

st=0
for c in "" status stats doctor; do
	# shellcheck disable=SC2086 # no command: the tool's own --help
	"$ctl" $c --help >"$tmp/h.out" 2>&1 && grep -q "^Usage: fastsocketctl " "$tmp/h.out" || st=1
done
"$ctl" --version | grep -q "^fastsocketctl .* (fastsocket ABI 1)$" || st=1
check "--help for the tool and each command, --version" $st "$tmp/h.out"

# --- the man page renders without a warning; install and uninstall
page=$top/Documentation/man/fastsocketctl.8
if command -v man >/dev/null; then
	MANWIDTH=80 man --warnings -l "$page" 2>"$tmp/man.err" >"$tmp/man.out"
	st=$?
	[ ! -s "$tmp/man.err" ] && grep -q "doctor" "$tmp/man.out" || st=1
	check "man -l fastsocketctl.8: renders without warnings" $st "$tmp/man.err"
else
	ok "man -l fastsocketctl.8 # SKIP no man(1)"
fi
d=$tmp/destdir
st=0
make -s -C "$top/tools" install DESTDIR="$d" PREFIX=/usr >"$tmp/inst.out" 2>&1 || st=1
[ -x "$d/usr/sbin/fastsocketctl" ] && [ -f "$d/usr/share/man/man8/fastsocketctl.8" ] || st=1
make -s -C "$top/tools" uninstall DESTDIR="$d" PREFIX=/usr >>"$tmp/inst.out" 2>&1 || st=1
[ -z "$(find "$d" -type f)" ] || { st=1; find "$d" -type f >>"$tmp/inst.out"; }
check "make -C tools install/uninstall with DESTDIR and PREFIX: sbin and man8" $st "$tmp/inst.out"

tap_done
