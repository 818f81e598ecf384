# SPDX-License-Identifier: GPL-2.0
# The one reader of /proc/net/fastsocket, for tests/vm and bench. Shell
# builtins only (bench/measure.sh reads it between measurements).
#
# The file holds these parts, each after its header line (rfd only
# while receive flow deliver has port blocks):
#   cpu steered no_local existing local_listeners parked skipped unwatched
#       rfd_owner rfd_foreign rfd_steered rfd_offline rfd_overflow
#       rfd_delivered rfd_dropped
#   listener dev cpu pid spawns kind
#   rfd port_lo block cpus
#   quota local_listeners max max_per_user
#   user uid local_listeners
# Columns are numbered as awk numbers them: 1 cpu, 2 steered, 3 no_local,
# 4 existing, 5 local_listeners, 6 parked, 7 skipped, 8 unwatched,
# 9 rfd_owner, 10 rfd_foreign, 11 rfd_steered, 12 rfd_offline,
# 13 rfd_overflow, 14 rfd_delivered, 15 rfd_dropped.
# shellcheck shell=bash
# shellcheck disable=SC2034 # PROC_*: read by the callers

# proc_read [NETNS]: parse the file (of NETNS, else of this netns) into
#   PROC_CELL[CPU,COLUMN]  every cell of the per-CPU table
#   PROC_SUM[COLUMN]       each column summed over the CPUs
#   PROC_ST PROC_NL PROC_EX PROC_LL PROC_PK  steered, no_local, existing,
#                          local_listeners, parked, indexed by CPU
#   PROC_ST_SUM PROC_NL_SUM PROC_EX_SUM PROC_LL_SUM PROC_PK_SUM  their sums
#   PROC_PIDS              the pid column of the local-listener table
#   PROC_RFD               the rfd row (mode port_lo block cpus), or empty
#   PROC_QUOTA             the quota row (local_listeners max max_per_user)
#   PROC_USER[UID]         local listeners owned by UID (unset: none)
proc_read() {
	declare -gA PROC_CELL=()
	declare -ga PROC_SUM=() PROC_ST=() PROC_NL=() PROC_EX=() PROC_LL=() \
		PROC_PK=() PROC_PIDS=() PROC_RFD=() PROC_QUOTA=()
	declare -gA PROC_USER=()
	local proc_lines=()
	if [ -n "${1:-}" ]; then
		# Not < <(...): the guest has no /dev/fd.
		mapfile -t proc_lines <<<"$(ip netns exec "$1" cat /proc/net/fastsocket)"
	else
		# In one pass: the read builtin seeks back after every line,
		# a seek makes the seq_file print the file again, and a counter
		# that changed length in between cuts a line in two (seen: a
		# cpu row of one field while segments still arrived).
		mapfile -t proc_lines </proc/net/fastsocket
	fi
	proc_parse "${proc_lines[@]}"
	PROC_ST_SUM=${PROC_SUM[2]:-0} PROC_NL_SUM=${PROC_SUM[3]:-0}
	PROC_EX_SUM=${PROC_SUM[4]:-0} PROC_LL_SUM=${PROC_SUM[5]:-0}
	PROC_PK_SUM=${PROC_SUM[6]:-0}
}

# proc_parse LINE...: the parser behind proc_read.
proc_parse() {
	local table=none row c line
	for line; do
		read -r -a row <<<"$line"
		case ${row[0]:-} in
		cpu) table=cpu; continue ;;
		listener) table=listener; continue ;;
		rfd) table=rfd; continue ;;
		quota) table=quota; continue ;;
		user) table=user; continue ;;
		[a-z]*) table=other; continue ;;	# a part a newer module added
		'') continue ;;
		esac
		if [ $table = rfd ]; then
			PROC_RFD=("${row[@]}")
		elif [ $table = quota ]; then
			PROC_QUOTA=("${row[@]}")
		elif [ $table = user ]; then
			PROC_USER[${row[0]}]=${row[1]}
		elif [ $table = listener ]; then
			PROC_PIDS+=("${row[3]}")	# listener dev cpu pid ...
		elif [ $table = cpu ]; then
			for ((c = 2; c <= ${#row[@]}; c++)); do
				PROC_CELL[${row[0]},$c]=${row[c - 1]}
				PROC_SUM[c]=$((${PROC_SUM[c]:-0} + row[c - 1]))
			done
			PROC_ST[row[0]]=${row[1]} PROC_NL[row[0]]=${row[2]}
			PROC_EX[row[0]]=${row[3]} PROC_LL[row[0]]=${row[4]}
			PROC_PK[row[0]]=${row[5]:-0}
		fi
	done
}

# proc_sum COLUMN [NETNS]: one column summed over the CPUs.
proc_sum() {
	proc_read "${2:-}"
	echo "${PROC_SUM[$1]:-0}"
}

# proc_cpu COLUMN CPU: one cell; empty if there is no such CPU row.
proc_cpu() {
	proc_read
	echo "${PROC_CELL[$2,$1]:-}"
}

# proc_reset: zero the counters (the tables of local listeners stay).
proc_reset() {
	echo 0 >/proc/net/fastsocket
}
