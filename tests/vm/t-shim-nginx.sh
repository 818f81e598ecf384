#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2 4
# cost: 2=47 4=56
# Debian's nginx, unmodified, under tools/fastsocket with the module
# loaded, accept_mutex off (nginx's default), serving a 64-byte file to
# wrk with "Connection: close" for SECS seconds: no socket error, every
# response 2xx with the file, and the module steered SYNs to the
# CPU-local listeners on every CPU. One worker per CPU, then twice as
# many workers as CPUs (two workers share each CPU's local listener).
# Then "listen ... reuseport": nginx's master makes one SO_REUSEPORT
# socket per worker; the shim pins each worker and registers the worker's
# own socket as its CPU's local listener (FASTSOCKET_IOC_REGISTER).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)

shim_client_setup
fsk_load
nginx_case workers-nproc "$N" off
nginx_case workers-2x-nproc $((2 * N)) off
NGINX_LISTEN_OPTS=reuseport NGINX_EXPECT="own socket is CPU .* local listener (module)" \
	nginx_case reuseport-workers-nproc "$N" off
fsk_unload
echo "PASS: $TEST_NAME"
