# SPDX-License-Identifier: GPL-2.0
# Loading and unloading kmod/fastsocket.ko, and the hooks kept registered
# under emulation; for tests/vm and bench. Needs wait.sh. The functions
# return non-zero with a message on stderr; the caller decides to fail.
# shellcheck shell=bash

# fsk_ko_default ROOT: the module to test: $FSK_KO if set (e.g. an older
# build to compare with), else the out-of-tree build for the running
# kernel (build/<release>/kmod/fastsocket.ko) if there is one, else
# ROOT/kmod/fastsocket.ko.
fsk_ko_default() {
	local root=$1 rel
	if [ -n "${FSK_KO:-}" ]; then
		echo "$FSK_KO"
		return
	fi
	rel=$(uname -r)
	if [ -e "$root/build/$rel/kmod/fastsocket.ko" ]; then
		echo "$root/build/$rel/kmod/fastsocket.ko"
	else
		echo "$root/kmod/fastsocket.ko"
	fi
}

# fsk_stage KO COPY: COPY is KO without debug info, a third of the size
# to read (over 9p in the guest); a plain copy if strip fails.
fsk_stage() {
	strip --strip-debug -o "$2" "$1" 2>/dev/null || cp "$1" "$2"
}

fsk_loaded() {
	[ -d /sys/module/fastsocket ]
}

# fsk_rmmod SECS: unload the module, retrying every 0.1 s while a last
# user (a socket or /dev/fastsocket being closed) still holds it.
fsk_rmmod() {
	wait_until "$1" fsk_try_rmmod && return 0
	echo "rmmod fastsocket still failing after $1 s" >&2
	return 1
}

fsk_try_rmmod() {
	! fsk_loaded || rmmod fastsocket 2>/dev/null || ! fsk_loaded
}

# Holding the static keys on. QEMU's software emulation does not cope with
# the kernel live-patching code that another vCPU is running. Seen here:
# an rmmod that flipped the netfilter LOCAL_IN key under load left both
# vCPUs retrying the int3 of ip_local_deliver forever (a stale translation
# of patched code), and insmod/rmmod cycles that flipped the
# inet_sock_set_state tracepoint key under load made a few connect()
# calls fail with EPIPE or ECONNRESET; with the keys held on, 100 cycles
# lose nothing. So a run keeps one LOCAL_IN hook (an empty accept-all
# nftables chain) and one consumer of that tracepoint (tracefs, with a
# filter that never matches) registered: loading and unloading fastsocket
# then never flips a key. Nothing removes them: that would flip the keys
# too, and the guest is thrown away. Real hardware and KVM do not need this.

# keep_hook_input TABLE: an empty accept-all input chain in table TABLE.
keep_hook_input() {
	# Module autoloading runs the initramfs's modprobe: load explicitly.
	modprobe -q nf_tables || return 1
	nft -f - <<NFT
table inet $1 {
	chain input { type filter hook input priority 0; policy accept; }
}
NFT
}

# keep_hook_tracepoint: enable sock:inet_sock_set_state, matching nothing.
keep_hook_tracepoint() {
	local ev=/sys/kernel/tracing/events/sock/inet_sock_set_state
	[ -d $ev ] || ev=/sys/kernel/debug/tracing/events/sock/inet_sock_set_state
	echo 'newstate == 9999' >$ev/filter && echo 1 >$ev/enable
}
