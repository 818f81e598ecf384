#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=6
# Garbage to /dev/fastsocket: clean errnos in every mode, no splat (the
# runner checks the kernel log), and authority stays with the fd holder.
. "$(dirname "$0")/lib.sh"

PARAMS=/sys/module/fastsocket/parameters
fsk_load

offline=()
last=$(($(nproc) - 1))
if [ "$last" -gt 0 ] && [ -w /sys/devices/system/cpu/cpu$last/online ]; then
	echo 0 >/sys/devices/system/cpu/cpu$last/online
	at_exit "echo 1 >/sys/devices/system/cpu/cpu$last/online"
	offline=(--offline-cpu "$last")
fi
"$PROGS/fsk-badinput" --mode 2 "${offline[@]}" || fail "mode 2 cases"
if [ ${#offline[@]} -gt 0 ]; then
	echo 1 >/sys/devices/system/cpu/cpu$last/online
fi
echo 1 >$PARAMS/enable_listen_spawn
"$PROGS/fsk-badinput" --mode 1 || fail "mode 1 cases"
echo 0 >$PARAMS/enable_listen_spawn
"$PROGS/fsk-badinput" --mode 0 || fail "mode 0 cases"
echo 2 >$PARAMS/enable_listen_spawn

# A worker that dropped root can spawn on the port-80 socket its root
# parent bound: the copy is bound with the opener's credentials.
"$FSKTEST" spawn-as-user 65534 80 >"$WORK/user" || fail "spawn as nobody on port 80: $(cat "$WORK/user")"
grep -q "spawn_ok uid=65534" "$WORK/user" || fail "spawn as nobody: $(cat "$WORK/user")"

# Nobody can reach a socket it does not hold: fd numbers are per process.
su nobody -s /bin/sh -c "$PROGS/fsk-badinput --mode 2" >"$WORK/nobody" 2>&1 ||
	fail "unprivileged run: $(grep FAIL "$WORK/nobody" || cat "$WORK/nobody")"

# Nothing may be left behind by the failures above.
fsk_unload
echo "PASS: $TEST_NAME"
