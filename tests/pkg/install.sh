#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make install / make uninstall into a throwaway DESTDIR (never the
# host's /usr), the man pages, and the systemd drop-in examples; TAP.
#
# - install with the default PREFIX (/usr/local) and with PREFIX=/opt/fs
#   and no multiarch directory: the library, the wrapper, the man pages
#   and the module (for KDIR's release) land where the Makefile says; the
#   installed wrapper preloads the installed library; uninstall leaves no
#   file behind;
# - every page in Documentation/man renders with man and groff without a
#   warning (and a broken page does warn: the check can fail);
# - the drop-ins in Documentation/examples/systemd pass systemd-analyze
#   verify over Debian's own nginx.service and haproxy.service, pointing
#   at the wrapper installed with PREFIX=/usr (and a broken drop-in fails).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd -P)
# shellcheck source=tests/pkg/tap.sh
. "$top/tests/pkg/tap.sh"
tmp=$(mktemp -d /tmp/fastsocket-pkg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$top" || exit 2

kver=$(make -s module-release)
[ -n "$kver" ] || tap_bail "install" "no kernel build tree (tools/install-deps)"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

fails() { ! "$@"; }

# expect_files ROOT FILE...: each FILE is a regular file under ROOT.
expect_files() {
	local root=$1 f rc=0
	shift
	for f in "$@"; do
		[ -f "$root$f" ] || { echo "missing: $f"; rc=1; }
	done
	[ $rc = 0 ] || { echo "installed:"; (cd "$root" && find . -type f); }
	return $rc
}

# no_files ROOT: nothing but directories left under ROOT.
no_files() {
	local left
	left=$(cd "$1" && find . ! -type d)
	[ -z "$left" ] || { echo "left behind:"; echo "$left"; return 1; }
}

# vermagic_is KO RELEASE: KO loads into RELEASE.
vermagic_is() {
	local got
	got=$(modinfo -F vermagic "$1" | cut -d' ' -f1) || return 1
	[ "$got" = "$2" ] || { echo "$1 is for $got"; return 1; }
}

# wrapper_preloads ROOT BINDIR LIBDIR: the installed wrapper picks the
# library installed next to it.
wrapper_preloads() {
	local out
	out=$("$1$2/fastsocket" --dry-run -- true) || return 1
	echo "$out"
	[ "$(sed -n 's/^LD_PRELOAD=//p' <<<"$out")" = "$(cd "$1$3" && pwd -P)/libfastsocket.so" ]
}

install_case() { # NAME PREFIX LIBDIR [MAKE-VARS...]
	local name=$1 prefix=$2 libdir=$3 d=$tmp/$1
	shift 3
	tap "install ($name): make install DESTDIR" \
		make -s install DESTDIR="$d" PREFIX="$prefix" "$@"
	tap "install ($name): library, wrapper, man pages, module in place" \
		expect_files "$d" "$libdir/libfastsocket.so" "$prefix/bin/fastsocket" \
		"$prefix/share/man/man4/fastsocket.4" \
		"$prefix/share/man/man7/libfastsocket.7" \
		"$prefix/share/man/man8/fastsocket.8" \
		"/lib/modules/$kver/extra/fastsocket.ko"
	tap "install ($name): the module's directory is its kernel release" \
		vermagic_is "$d/lib/modules/$kver/extra/fastsocket.ko" "$kver"
	tap "install ($name): the installed wrapper preloads the installed library" \
		wrapper_preloads "$d" "$prefix/bin" "$libdir"
	tap "install ($name): make uninstall" \
		make -s uninstall DESTDIR="$d" PREFIX="$prefix" "$@"
	tap "install ($name): nothing left after uninstall" no_files "$d"
}

install_case default /usr/local "/usr/local/lib/$multiarch"
install_case plain-lib /opt/fs /opt/fs/lib MULTIARCH=

# Man pages: each renders without a warning; a broken one warns.
man_clean() {
	MANWIDTH=80 quiet man --warnings -l "$1" && quiet groff -man -ww -z "$1"
}
for page in Documentation/man/*.[1-8]; do
	tap "man: $page renders without warnings" man_clean "$page"
done
printf '.TH BAD 1\n.SH NAME\n.NOSUCHMACRO x\n' >"$tmp/bad.1"
tap "man: a page with an unknown macro is caught" fails man_clean "$tmp/bad.1"

# systemd drop-ins over Debian's units, in a unit directory of their own
# (SYSTEMD_UNIT_PATH puts it first). The wrapper they name is the one
# installed with PREFIX=/usr into a DESTDIR, so its path is rewritten.
root=$tmp/usr-root
units=$tmp/units
make -s install-user DESTDIR="$root" PREFIX=/usr >/dev/null ||
	tap_bail "systemd" "make install-user DESTDIR=$root PREFIX=/usr failed"

# drop_ins SRC-DIR: copy the example drop-ins into $units.
drop_ins() {
	local f rel
	rm -rf "$units"
	mkdir -p "$units"
	for f in "$1"/*.service.d/*.conf; do
		rel=${f#"$1"/}
		mkdir -p "$units/${rel%/*}"
		sed "s|/usr/bin/fastsocket|$root/usr/bin/fastsocket|g" "$f" >"$units/$rel"
	done
}

# verify UNIT: systemd-analyze verify with the drop-ins; the unit file is
# Debian's, copied next to them.
verify() {
	local unit=$1
	cp "/lib/systemd/system/$unit" "$units/$unit" || return 1
	SYSTEMD_UNIT_PATH=$units: quiet systemd-analyze verify --man=no "$units/$unit"
}

examples=$top/Documentation/examples/systemd
for unit in nginx.service haproxy.service; do
	if [ ! -f "/lib/systemd/system/$unit" ]; then
		tap "systemd: $unit drop-in" false "no /lib/systemd/system/$unit (tools/install-deps installs ${unit%.service})"
		continue
	fi
	drop_ins "$examples"
	tap "systemd: $unit with the example drop-in passes systemd-analyze verify" verify "$unit"
done

# The drop-ins are read: a broken one fails verification.
drop_ins "$examples"
printf '[Service]\nExecStart=\nExecStart=relative/path\n' >>"$units/nginx.service.d/fastsocket.conf"
tap "systemd: a broken drop-in fails verification" fails verify nginx.service

tap_done
