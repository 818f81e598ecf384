#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# PID 1 of a tests/vm/run guest: busybox sh in the initramfs. It mounts the
# host's root and the project over 9p, runs the command tests/vm/run wrote
# in its run directory, prints its exit status and the kernel log between
# markers, and powers off. See Documentation/vm-runner.md. Its text is part
# of the initramfs cache key: editing it rebuilds the image.
# shellcheck shell=sh
/bin/busybox --install -s /bin
export PATH=/bin
N=/newroot

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# tests/vm/run checking that KVM can boot this kernel at all.
case " $(cat /proc/cmdline) " in *" fsvm.probe=1 "*)
	echo FSVM-PROBE-OK
	poweroff -f
esac

# Never return: PID 1 exiting panics. No exit marker -> the host says 126.
fail() {
	echo "fsvm-init: FATAL: $*"
	poweroff -f
	reboot -f
	sleep 1000000
}

for ko in /modules/*.ko; do
	[ -e "$ko" ] || continue
	insmod "$ko" || fail "insmod $ko failed"
done

RUN=
read -r cmdline </proc/cmdline
for w in $cmdline; do
	case $w in fsvm.run=*) RUN=${w#fsvm.run=} ;; esac
done
[ -n "$RUN" ] || fail "no fsvm.run= on the kernel command line"

# The 9p channel appears when virtio_pci probes; give it a moment.
mount9p() {
	i=0
	until mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,$3" "$1" "$2"; do
		i=$((i + 1))
		[ $i -lt 50 ] || fail "cannot mount 9p export $1 on $2"
		usleep 100000
	done
}
mount9p hostroot $N ro
# A second, non-recursive view of the host root: the tmpfs mounted over
# $N/tmp below does not cover it, so the run directory, the kernel modules
# and the project stay reachable even when they live under /tmp.
mkdir -p /host
mount -o bind $N /host

R=/host$RUN
[ -r "$R/nonce" ] || fail "cannot read $R (run directory not visible in the guest)"
NONCE=$(cat "$R/nonce")
PROJECT=$(cat "$R/project")
MODDIR=$(cat "$R/moddir")
GUEST_PATH=$(cat "$R/path")
MARK="@@FSVM-$NONCE@@"

mount -t proc proc $N/proc
mount -t sysfs sysfs $N/sys
mount -t devtmpfs devtmpfs $N/dev
mount -t tmpfs -o mode=755 tmpfs $N/run
mkdir -p $N/run/fastsocket-vm
cp /bin/busybox "$R/cmd" $N/run/fastsocket-vm/ || fail "cannot copy $R/cmd"
# Through the chroot, so host symlinks resolve as the test will see them
# (/lib -> usr/lib on merged-/usr hosts).
g() { chroot $N /run/fastsocket-vm/busybox "$@"; }
g mkdir -p /dev/pts /dev/shm
g mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
g mount -t tmpfs -o mode=1777 tmpfs /dev/shm
g mount -t tmpfs -o mode=1777 tmpfs /tmp
g mount -t tmpfs -o mode=1777 tmpfs /var/tmp
g mount -t tmpfs -o mode=755 tmpfs /lib/modules
g mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
g mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
g mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null

# Last, so no tmpfs covers them. PROJECT and MODDIR are physical paths (the
# host resolved them); under a tmpfs their mount points must be created.
g mkdir -p "$PROJECT" 2>/dev/null
mount9p project "$N$PROJECT" rw
LM=$N$(g realpath /lib/modules)/$(uname -r)
mkdir -p "$LM"
mount -o bind "/host$MODDIR" "$LM" || fail "cannot bind $MODDIR on $LM"

ip link set lo up
hostname fastsocket-vm
echo 60 >/proc/sys/kernel/hung_task_timeout_secs
# Module autoloading (request_module) runs modprobe in this initramfs, not
# in the chroot: point the kernel at a wrapper that runs the host's.
printf '#!/bin/sh\nexec chroot %s /sbin/modprobe "$@"\n' "$N" >/fsvm-modprobe
chmod 755 /fsvm-modprobe
echo /fsvm-modprobe >/proc/sys/kernel/modprobe

echo "$MARK START"
chroot $N /usr/bin/env -i PATH="$GUEST_PATH" HOME=/tmp TERM=dumb \
	FASTSOCKET_IN_VM=1 /bin/bash /run/fastsocket-vm/cmd </dev/null
status=$?
echo "$MARK EXIT $status"
echo "$MARK DMESG-BEGIN"
dmesg -s 4194304
echo "$MARK DMESG-END"
sync
umount "$N$PROJECT" 2>/dev/null
poweroff -f
reboot -f
