# SPDX-License-Identifier: GPL-2.0
# Source every shared helper: . tests/lib/all.sh
# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
_fsk_lib=$(dirname "${BASH_SOURCE[0]}")
. "$_fsk_lib/wait.sh"
. "$_fsk_lib/procfs.sh"
. "$_fsk_lib/kmod.sh"
. "$_fsk_lib/servers.sh"
unset _fsk_lib
