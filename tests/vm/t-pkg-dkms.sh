#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2
# cost: 2=20
# The Debian packages serving: in build/pkg/, tests/pkg/dkms.sh unpacked
# the .debs into a throwaway root and had DKMS build and install the
# module from fastsocket-dkms's source for this kernel (on the host: the
# guest's emulation is too slow for kbuild). Here that DKMS-installed
# module is loaded and Debian's nginx runs through the packaged wrapper,
# which must preload the packaged library: wrk for SECS seconds, zero
# failed requests, SYNs steered to the CPU-local listeners.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)
PKG=$FSK_ROOT/build/pkg
ROOTFS=$PKG/root
KVER=$(uname -r)

KO=$PKG/modules/$KVER/updates/dkms/fastsocket.ko
[ -f "$KO" ] || fail "no $KO: run tests/pkg/debs.sh and tests/pkg/dkms.sh first"
VERSION=$(sed -n 's/^MODULE_VERSION("\(.*\)");$/\1/p' "$FSK_ROOT/kmod/main.c")
assert_eq "$VERSION" "$(modinfo -F version "$KO")" "version of the DKMS-built module"

# The packaged wrapper finds the packaged library (not the source tree's).
FASTSOCKET=$ROOTFS/usr/bin/fastsocket
[ -x "$FASTSOCKET" ] || fail "libfastsocket unpacked no $FASTSOCKET"
want=$(cd "$ROOTFS"/usr/lib/*/ && pwd -P)/libfastsocket.so
[ -f "$want" ] || fail "libfastsocket unpacked no library"
got=$("$FASTSOCKET" --dry-run -- true | sed -n 's/^LD_PRELOAD=//p')
assert_eq "$want" "$got" "library the packaged wrapper preloads"

shim_client_setup
fsk_load
info "loaded the DKMS-built module: $(modinfo -F filename "$KO")"
nginx_case pkg-workers-nproc "$N" off
fsk_unload
echo "PASS: $TEST_NAME"
