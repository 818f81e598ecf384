#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cost: 2=56
# The shim without the module (a kernel where it cannot be loaded): each
# worker's local listener is a userspace SO_REUSEPORT sibling with
# SO_INCOMING_CPU set to its CPU, which this kernel's reuseport lookup
# prefers for SYNs processed on that CPU (the SO_INCOMING_CPU fix, in
# Debian's 6.1). Shown, with the module not loaded:
#  - Debian's nginx (accept_mutex off) and haproxy (nbthread = CPUs, by
#    default) under the shim serve wrk with "Connection: close" for SECS
#    seconds: zero socket errors, only 2xx. nginx twice: as configured by
#    default, its workers drop to "nobody" and cannot join the root-owned
#    listening socket's reuseport group, so the shim says so, once, and
#    passes through; with "user root;" they get local listeners;
#  - our own server: >= 99% of connections accepted on the CPU that took
#    the SYN, for processes and threads.
# Not here: nginx with accept_mutex on. Without the module, local
# listeners are closed, not parked, while a worker does not hold the
# mutex, and a handshake completing just as one closes can be reset
# (Documentation/shim.md, Limits).
. "$(dirname "$0")/lib.sh"
SHIM_KMOD=0
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)
LOCALITY_MIN=990

! fsk_loaded || fail "the module is loaded"
shim_client_setup
NGINX_EXPECT="no local listener in userspace: bind: .*passing through" \
	nginx_case nomod-nginx-nobody "$N" off
said=$(grep -c "no local listener in userspace" "$WORK/nomod-nginx-nobody/error.log")
assert_eq 1 "$said" "nginx with workers as nobody: times the shim said it passes through"
NGINX_MAIN="user root;" nginx_case nomod-nginx-root "$N" off
HAPROXY_RP_BY=application haproxy_case nomod-haproxy "$N" 0
locality_case nomod-processes "$N" --wait epoll
locality_case nomod-threads "$N" --wait epoll --threads
echo "PASS: $TEST_NAME"
