#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The Debian packages: dpkg-buildpackage -us -uc -b in a copy of the tree
# as git sees it (tracked files and new ones not ignored: what a clean
# clone of this work would hold), each package's contents, lintian; TAP.
# The packages are left in build/deb/ for tests/pkg/dkms.sh (DKMS from
# fastsocket-dkms) and tests/vm/t-pkg-dkms.sh (nginx through them).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd -P)
# shellcheck source=tests/pkg/tap.sh
. "$top/tests/pkg/tap.sh"
keep_dir=$top/build/deb
tmp=$(mktemp -d /tmp/fastsocket-debs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$top" || exit 2

version=$(make -s version)
[ -n "$version" ] || tap_bail "debs" "no MODULE_VERSION in kmod/main.c"
src=$tmp/fastsocket-$version
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard |
	tar --null -cf - -T - | tar -C "$src" -xf - ||
	tap_bail "debs" "cannot copy the tree"

build() {
	(cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 ||
		{ tail -n 30 "$tmp/build.log"; return 1; }
}
tap "debs: dpkg-buildpackage -us -uc -b in a clean copy" build

arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb() { echo "$tmp/$1_${version}_$2.deb"; }
dkms_deb=$(deb fastsocket-dkms all)
lib_deb=$(deb libfastsocket "$arch")
tools_deb=$(deb fastsocket-tools "$arch")

# has DEB PATH...: DEB holds each PATH (a file, not a directory).
has() {
	local d=$1 list p rc=0
	shift
	list=$(dpkg-deb -c "$d" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }') || return 1
	for p in "$@"; do
		grep -qxF "$p" <<<"$list" || { echo "$(basename "$d") lacks $p"; rc=1; }
	done
	[ $rc = 0 ] || printf 'it holds:\n%s\n' "$list"
	return $rc
}

tap "debs: libfastsocket: library, wrapper, man pages, systemd examples" \
	has "$lib_deb" "usr/lib/$multiarch/libfastsocket.so" usr/bin/fastsocket \
	usr/share/man/man7/libfastsocket.7.gz usr/share/man/man8/fastsocket.8.gz \
	usr/share/doc/libfastsocket/examples/systemd/nginx.service.d/fastsocket.conf \
	usr/share/doc/libfastsocket/examples/systemd/haproxy.service.d/fastsocket.conf

dkms_files=()
for f in Kbuild dkms.conf $(git ls-files kmod include); do
	dkms_files+=("usr/src/fastsocket-$version/$f")
done
tap "debs: fastsocket-dkms: module source for DKMS, fastsocket(4), boot examples" \
	has "$dkms_deb" "${dkms_files[@]}" usr/share/man/man4/fastsocket.4.gz \
	usr/share/doc/fastsocket-dkms/examples/modprobe.d/fastsocket.conf \
	usr/share/doc/fastsocket-dkms/examples/modules-load.d/fastsocket.conf

# The dkms.conf DKMS reads names this version (no marker left).
dkms_version() {
	dpkg-deb --fsys-tarfile "$dkms_deb" |
		tar -xOf - "./usr/src/fastsocket-$version/dkms.conf" >"$tmp/dkms.conf" || return 1
	grep -x "PACKAGE_VERSION=\"$version\"" "$tmp/dkms.conf" || { cat "$tmp/dkms.conf"; return 1; }
}
tap "debs: fastsocket-dkms: dkms.conf says version $version" dkms_version

# fastsocket-tools ships what "make -C tools install" puts in sbin.
tools_sbin() {
	local d=$tmp/tools-root f want=()
	make -s -C tools install DESTDIR="$d" PREFIX=/usr >/dev/null || return 1
	for f in "$d"/usr/sbin/*; do
		[ -e "$f" ] && want+=("usr/sbin/${f##*/}")
	done
	echo "sbin from make -C tools install: ${want[*]:-(none)}"
	[ ${#want[@]} = 0 ] || has "$tools_deb" "${want[@]}"
}
tap "debs: fastsocket-tools: the programs make -C tools install puts in sbin" tools_sbin

no_module() {
	local d
	for d in "$dkms_deb" "$lib_deb" "$tools_deb"; do
		! dpkg-deb -c "$d" | grep -E '\.ko(\.[a-z]+)?$' || return 1
	done
}
tap "debs: no package holds a built module (DKMS builds it on the target)" no_module

# lintian: nothing at error or warning level; overrides in debian/ say why.
tap "debs: lintian clean" \
	lintian --fail-on error,warning "$tmp/fastsocket_${version}_$arch.changes"

keep() {
	rm -rf "$keep_dir" && mkdir -p "$keep_dir" &&
		cp "$dkms_deb" "$lib_deb" "$tools_deb" "$keep_dir/"
}
tap "debs: packages kept in build/deb for the guest test" keep

tap_done
