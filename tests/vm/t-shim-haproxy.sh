#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=39 4=54
# Debian's haproxy, unmodified, under tools/fastsocket with the module
# loaded, one thread per CPU, answering itself (http-request return) a
# 64-byte body to wrk with "Connection: close" for SECS seconds: no
# socket error, every response 2xx with the body.
#
# haproxy sets SO_REUSEPORT on its listening socket itself unless
# "noreuseport" is given. Its one socket per "bind" line is shared by all
# threads, so the shim gives it local listeners like any other (only
# several app sockets on one address are per-worker sockets, see
# t-shim-nginx's reuseport case). Both ways every thread gets a local
# listener from the module, and the module steers SYNs to them:
#  - haproxy's default (it sets SO_REUSEPORT; a thread may hand an
#    accepted connection to another, tune.listener.multi-queue);
#  - noreuseport + tune.listener.multi-queue off, so that a connection
#    also stays on the thread that accepted it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)

shim_client_setup
fsk_load
HAPROXY_RP_BY=application haproxy_case default "$N" 900
haproxy_case noreuseport "$N" 900 noreuseport "tune.listener.multi-queue off"
fsk_unload
echo "PASS: $TEST_NAME"
