#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# smp: 2
# The Debian packages as a server would get them: the .debs that
# tests/pkg/debs.sh built (build/deb/) are unpacked into a throwaway root
# (dpkg -x: the guest's / is the host's, read-only, and must stay as it
# is), DKMS builds and installs the module from fastsocket-dkms's
# /usr/src for this kernel with private trees (--dkmstree, --sourcetree,
# --installtree: no trace in /var/lib/dkms or /lib/modules), the module
# DKMS installed is loaded, and Debian's nginx runs through the packaged
# wrapper, which must preload the packaged library: wrk for SECS seconds,
# zero failed requests, SYNs steered to the CPU-local listeners.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shim/common.sh"

SECS=${SECS:-10}
N=$(nr_cpus)
DEBS=$FSK_ROOT/build/deb
KVER=$(uname -r)
VERSION=$(sed -n 's/^MODULE_VERSION("\(.*\)");$/\1/p' "$FSK_ROOT/kmod/main.c")
ROOTFS=$WORK/root

command -v dkms >/dev/null || fail "dkms is not installed (tools/install-deps)"
debs=("$DEBS"/fastsocket-dkms_*.deb "$DEBS"/libfastsocket_*.deb "$DEBS"/fastsocket-tools_*.deb)
for d in "${debs[@]}"; do
	[ -f "$d" ] || fail "no $d: build the packages first (tests/pkg/debs.sh)"
	dpkg -x "$d" "$ROOTFS"
done
info "unpacked: ${debs[*]##*/}"

# DKMS, as the package's postinst would run it, in trees of its own.
dkms_opts=(-m fastsocket -v "$VERSION" --dkmstree "$WORK/dkms"
	--sourcetree "$ROOTFS/usr/src" --installtree "$WORK/modules")
mkdir -p "$WORK/dkms" "$WORK/modules/$KVER"
dkms add "${dkms_opts[@]}" >"$WORK/dkms.log" 2>&1 ||
	{ cat "$WORK/dkms.log" >&2; fail "dkms add failed"; }
info "dkms build for $KVER (emulated: minutes)"
if ! dkms build "${dkms_opts[@]}" -k "$KVER" \
	--kernelsourcedir "/usr/src/linux-headers-$KVER" >>"$WORK/dkms.log" 2>&1; then
	cat "$WORK/dkms.log" "$WORK/dkms/fastsocket/$VERSION/build/make.log" >&2 || true
	fail "dkms build failed"
fi
dkms install "${dkms_opts[@]}" -k "$KVER" --no-depmod >>"$WORK/dkms.log" 2>&1 ||
	{ cat "$WORK/dkms.log" >&2; fail "dkms install failed"; }
KO=$WORK/modules/$KVER/updates/dkms/fastsocket.ko
[ -f "$KO" ] || { cat "$WORK/dkms.log" >&2; fail "dkms installed no $KO"; }
assert_eq "$VERSION" "$(modinfo -F version "$KO")" "version of the DKMS-built module"
assert_eq "$KVER" "$(modinfo -F vermagic "$KO" | cut -d' ' -f1)" "kernel the DKMS-built module is for"
info "dkms: $(dkms status "${dkms_opts[@]}")"

# The packaged wrapper finds the packaged library (not the source tree's).
FASTSOCKET=$ROOTFS/usr/bin/fastsocket
want=$(cd "$ROOTFS"/usr/lib/*/ && pwd -P)/libfastsocket.so
[ -f "$want" ] || fail "libfastsocket unpacked no library"
got=$("$FASTSOCKET" --dry-run -- true | sed -n 's/^LD_PRELOAD=//p')
assert_eq "$want" "$got" "library the packaged wrapper preloads"

shim_client_setup
fsk_load
nginx_case pkg-workers-nproc "$N" off
fsk_unload
echo "PASS: $TEST_NAME"
