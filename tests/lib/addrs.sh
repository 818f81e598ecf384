# SPDX-License-Identifier: GPL-2.0
# Loopback client destinations for loads that must not meet each other's
# TIME_WAIT sockets (tests/vm/shim/load.sh, bench/measure.sh --model):
# every address of 127.0.0.0/8 is on lo, so each load can have its own.
# Shell builtins only: the bench loop forks nothing per measurement.
# shellcheck shell=bash
# shellcheck disable=SC2034 # LOOPBACK_ADDR: read by the callers

# loopback_addr K: LOOPBACK_ADDR, the K-th (from 0) of 15 million distinct
# addresses in 127.1.0.1 and up, none ending in .0 or .255.
loopback_addr() {
	LOOPBACK_ADDR=127.$((1 + $1 / 62500 % 250)).$(($1 / 250 % 250)).$((1 + $1 % 250))
}
