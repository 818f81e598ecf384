#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The packages as a server gets them, on the host: the .debs of
# tests/pkg/debs.sh (build/deb/) unpacked into a throwaway root (dpkg -x;
# the host's own /usr is never touched), then DKMS adds, builds and
# installs the module from fastsocket-dkms's /usr/src for the kernel the
# guest boots (tools/kernel-version; its headers are here), as the
# package's postinst would, but with private trees (--dkmstree,
# --sourcetree, --installtree): nothing lands in /var/lib/dkms or
# /lib/modules. TAP. Leaves build/pkg/ for tests/vm/t-pkg-dkms.sh, which
# loads that module in the guest and runs nginx through the packaged
# wrapper.
#
# DKMS runs here rather than in the guest: under the guest's emulation
# (TCG) the same build did not finish in 18 minutes; here it takes
# seconds.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd -P)
# shellcheck source=tests/pkg/tap.sh
. "$top/tests/pkg/tap.sh"
cd "$top" || exit 2
pkg=$top/build/pkg
rootfs=$pkg/root
version=$(make -s version)
kver=$(tools/kernel-version) || tap_bail "dkms" "no guest kernel release (tools/install-deps)"
command -v dkms >/dev/null || tap_bail "dkms" "dkms is not installed (tools/install-deps)"

debs=(build/deb/fastsocket-dkms_"$version"_all.deb build/deb/libfastsocket_"$version"_*.deb
	build/deb/fastsocket-tools_"$version"_*.deb)
unpack() {
	local d
	rm -rf "$pkg" && mkdir -p "$rootfs" "$pkg/dkms" "$pkg/modules/$kver" || return 1
	for d in "${debs[@]}"; do
		[ -f "$d" ] || { echo "no $d: run tests/pkg/debs.sh first"; return 1; }
		dpkg -x "$d" "$rootfs" || return 1
	done
}
tap "dkms: the three packages unpacked into a throwaway root" unpack

opts=(-m fastsocket -v "$version" --dkmstree "$pkg/dkms"
	--sourcetree "$rootfs/usr/src" --installtree "$pkg/modules")
ko=$pkg/modules/$kver/updates/dkms/fastsocket.ko
trace() {
	ls -d /var/lib/dkms/fastsocket "/lib/modules/$kver/updates/dkms/fastsocket.ko" 2>/dev/null
}
before=$(trace)

tap "dkms: add (fastsocket-dkms's /usr/src/fastsocket-$version)" dkms add "${opts[@]}"
build() {
	dkms build "${opts[@]}" -k "$kver" --kernelsourcedir "/usr/src/linux-headers-$kver" ||
		{ cat "$pkg/dkms/fastsocket/$version/build/make.log"; return 1; }
}
tap "dkms: build for $kver" build
tap "dkms: install" dkms install "${opts[@]}" -k "$kver" --no-depmod

# modinfo_is FIELD WANT: the installed module's FIELD (first word).
modinfo_is() {
	local got
	got=$(modinfo -F "$1" "$ko" | cut -d' ' -f1) || return 1
	[ "$got" = "$2" ] || { echo "$1 of $ko: $got, expected $2"; return 1; }
}
tap "dkms: the installed module is version $version" modinfo_is version "$version"
tap "dkms: the installed module is for $kver" modinfo_is vermagic "$kver"

no_trace() {
	local after
	after=$(trace)
	[ "$after" = "$before" ] || { echo "new outside the private trees: $after"; return 1; }
}
tap "dkms: nothing added to /var/lib/dkms or /lib/modules" no_trace

tap_done
