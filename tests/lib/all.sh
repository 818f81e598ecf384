# SPDX-License-Identifier: GPL-2.0
# Source every shared helper: . tests/lib/all.sh
# shellcheck shell=bash
_fsk_lib=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/wait.sh
. "$_fsk_lib/wait.sh"
# shellcheck source=tests/lib/procfs.sh
. "$_fsk_lib/procfs.sh"
# shellcheck source=tests/lib/kmod.sh
. "$_fsk_lib/kmod.sh"
# shellcheck source=tests/lib/servers.sh
. "$_fsk_lib/servers.sh"
# shellcheck source=tests/lib/addrs.sh
. "$_fsk_lib/addrs.sh"
unset _fsk_lib
