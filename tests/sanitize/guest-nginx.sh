#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Debian's nginx under the ASan+UBSan-built shim in a QEMU guest, module
# loaded, loaded by wrk for SECS seconds (tests/vm/shim's nginx_case:
# no socket error, every response right, SYNs steered). Not part of any
# make target; after make check-sanitize (it uses build/sanitize/asan):
#
#   flock /tmp/fsk-guest.lock tests/vm/run -- tests/sanitize/guest-nginx.sh
#
# nginx runs with the ASan runtime and the sanitized library preloaded
# (only nginx: curl hangs under libasan, Documentation/sanitizers.md);
# every report goes to build/sanitize/asan/guest-logs/ and fails the run.
. "$(dirname "$0")/../vm/lib.sh"
. "$FSK_ROOT/tests/vm/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)	# read by shim/counters.sh
ASAN_LIB=$FSK_ROOT/build/sanitize/asan/libshim/libfastsocket.so
LOGS=$FSK_ROOT/build/sanitize/asan/guest-logs
RUNTIME=$(cc -print-file-name=libasan.so)
[ -f "$ASAN_LIB" ] || fail "$ASAN_LIB is missing: make check-sanitize first"
[ -f "$RUNTIME" ] || fail "no ASan runtime ($RUNTIME)"
mkdir -p "$LOGS"
rm -f "$LOGS"/*

# nginx_start runs "$FASTSOCKET --log info -- nginx ...": this one puts
# the runtime and the sanitized library in front, for nginx alone.
FASTSOCKET=$WORK/fastsocket-asan
cat >"$FASTSOCKET" <<EOF
#!/bin/sh
export LD_PRELOAD=$RUNTIME
export ASAN_OPTIONS=halt_on_error=1:exitcode=66:detect_leaks=1:verify_asan_link_order=0:atexit=1:log_exe_name=1:log_path=$LOGS/asan
export LSAN_OPTIONS=suppressions=$FSK_ROOT/tests/sanitize/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$LOGS/ubsan
exec $FSK_ROOT/tools/fastsocket --lib $ASAN_LIB "\$@"
EOF
chmod 755 "$FASTSOCKET"

shim_client_setup
fsk_load
STEER_MIN=${STEER_MIN:-100} nginx_case asan-workers-nproc "$N" off
fsk_unload
grep -q 'AddressSanitizer\|runtime error:' "$WORK"/asan-workers-nproc/stderr &&
	fail "sanitizer report on nginx's stderr: $(grep -m3 'Sanitizer\|runtime error:' "$WORK"/asan-workers-nproc/stderr)"
# atexit=1, log_exe_name=1: a process that had the runtime writes its
# statistics at exit to asan.EXE.PID. nginx's master does (its workers,
# forked from it with the same mappings, wrote none in the run tried):
# nginx did run sanitized.
n=$(grep -ls 'exit stats' "$LOGS"/asan.nginx.* 2>/dev/null | wc -l)
[ "$n" -ge 1 ] || fail "no ASan exit statistics from nginx: was the runtime loaded?"
info "ASan exit statistics from $n nginx process(es)"
if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOGS"/* 2>/dev/null; then
	head -n 40 "$LOGS"/* >&2
	fail "sanitizer reports in $LOGS"
fi
echo "PASS: $TEST_NAME"
