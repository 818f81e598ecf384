# SPDX-License-Identifier: GPL-2.0
#
# tests/vm/splats.awk - find the first splat in guest kernel-log lines
# (tests/vm/run). Prints "N:LINE" for it (N its line number) and stops;
# before it, "known:LINE" for each line that is a known kernel finding,
# not fastsocket's, seen under the condition it is known for
# (Documentation/limits.md). The runner shows those, and fails on a splat.
#
# From the environment (not -v: awk would take escapes out of regexps):
#   KERNEL        stock, rt or debug (tests/vm/run --kernel)
#   SPLAT_IGNORE  ERE: a line matching it is no splat
#                 (FASTSOCKET_VM_SPLAT_IGNORE)
#
# The tests announce RPS in the kernel log (tests/vm/lib.sh rps_set):
# "fastsocket-test: rps_cpus NS/DEV=MASK"; the suite's
# "fastsocket-test: start NAME" forgets them (the last test's netns are
# gone).

BEGIN {
	# Anything that means the kernel found a bug.
	SPLAT = "WARNING:|BUG:|kernel BUG at|Oops|general protection fault|" \
		"KASAN|UBSAN|possible circular locking|possible recursive locking|" \
		"inconsistent lock state|INFO: possible irq lock inversion|" \
		"INFO: trying to register non-static key|DEBUG_LOCKS_WARN_ON|" \
		"turning off the locking correctness validator|rcu: INFO:|" \
		"detected stalls|self-detected stall|" \
		"INFO: task .* blocked for more than|Kernel panic|refcount_t:|" \
		"list_add corruption|list_del corruption|unreferenced object|" \
		"soft lockup|hard LOCKUP"
	# 6.1-RT: RPS's IPI raises NET_RX in the call-function flush, which
	# warns (once per boot); expected while some device has RPS on.
	if (ENVIRON["KERNEL"] == "rt")
		KNOWN_RPS = "WARNING: CPU: [0-9]+ PID: [0-9]+ at " \
			"kernel/softirq\\.c:[0-9]+ do_softirq_post_smp_call_flush"
	IGNORE = ENVIRON["SPLAT_IGNORE"]
}

function rps_on(k) {
	for (k in rps)
		if (rps[k])
			return 1
	return 0
}

/fastsocket-test: start / {
	split("", rps)
	next
}

/fastsocket-test: rps_cpus [^ ]+=[0-9a-fA-F,]+$/ {
	s = $0
	sub(/.*fastsocket-test: rps_cpus /, "", s)
	n = index(s, "=")
	rps[substr(s, 1, n - 1)] = substr(s, n + 1) ~ /[1-9a-fA-F]/
	next
}

$0 !~ SPLAT { next }
IGNORE != "" && $0 ~ IGNORE { next }

KNOWN_RPS != "" && $0 ~ KNOWN_RPS && rps_on() {
	print "known:" $0
	next
}

{
	print NR ":" $0
	exit
}
