#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# tools/fastsocket-rfd-ntuple against crafted /proc and /sys trees
# (--root) and a fake ethtool (ETHTOOL), in TAP form: the exact rules for
# an ixgbe-like and a virtio-like NIC (queue numbers from the IRQ names,
# CPUs from smp_affinity_list, not in the same order), and one failure
# per thing that makes it impossible: a layout no mask matches, a CPU
# with no queue IRQ of its own, ntuple off or fixed off, no such device.
# No kernel, no network.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd -P)
tool=$top/tools/fastsocket-rfd-ntuple
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
check() {	# check NAME STATUS [FILE...]
	name=$1
	st=$2
	shift 2
	if [ "$st" = 0 ]; then
		ok "$name"
	else
		not_ok "$name"
		for f in "$@"; do [ -s "$f" ] && sed 's/^/# /' "$f"; done
	fi
	return 0
}

# A fake ethtool: -k prints $tmp/features, -N appends its arguments to
# $tmp/added.
cat >"$tmp/ethtool" <<FAKE
#!/bin/sh
case \$1 in
-k) cat "$tmp/features" ;;
-N) shift; echo "\$*" >>"$tmp/added" ;;
*) exit 1 ;;
esac
FAKE
chmod +x "$tmp/ethtool"
echo "ntuple-filters: on" >"$tmp/features"
export ETHTOOL="$tmp/ethtool"

# eth0: four TxRx queues; queue q's IRQ is 40+q. IRQ 44 tx only, 45 the
# link IRQ. Queue 0 on CPU 1, queue 1 on CPU 0, queue 2 on CPUs 2-3 (no
# single CPU), queue 3 on CPU 3.
r=$tmp/root
mkdir -p "$r/sys/class/net/eth0/device/msi_irqs" "$r/proc/irq"
{
	echo "           CPU0       CPU1       CPU2       CPU3"
	for q in 0 1 2 3; do
		echo " $((40 + q)):   10   20   30   40  IR-PCI-MSI 1048576-edge      eth0-TxRx-$q"
	done
	echo " 44:    1    2    3    4  IR-PCI-MSI 1048580-edge      eth0-tx-0"
	echo " 45:    1    2    3    4  IR-PCI-MSI 1048581-edge      eth0"
	echo " 50:    1    2    3    4  IR-PCI-MSI 2097152-edge      virtio0-config"
	echo " 51:    1    2    3    4  IR-PCI-MSI 2097153-edge      virtio0-input.0"
	echo " 52:    1    2    3    4  IR-PCI-MSI 2097154-edge      virtio0-output.0"
	echo " 53:    1    2    3    4  IR-PCI-MSI 2097155-edge      virtio0-input.1"
	echo "NMI:    0    0    0    0   Non-maskable interrupts"
} >"$r/proc/interrupts"
for irq in 40 41 42 43 44 45 50 51 52 53; do
	mkdir -p "$r/proc/irq/$irq"
done
for irq in 40 41 42 43 44 45; do : >"$r/sys/class/net/eth0/device/msi_irqs/$irq"; done
echo 1 >"$r/proc/irq/40/smp_affinity_list"
echo 0 >"$r/proc/irq/41/smp_affinity_list"
echo 2-3 >"$r/proc/irq/42/smp_affinity_list"
echo 3 >"$r/proc/irq/43/smp_affinity_list"
echo 2 >"$r/proc/irq/44/smp_affinity_list"
echo 2 >"$r/proc/irq/45/smp_affinity_list"
# ens3: virtio-net, whose MSI IRQs are its PCI parent's (device/..)
mkdir -p "$r/sys/devices/pci0/virtio0" "$r/sys/devices/pci0/msi_irqs" "$r/sys/class/net/ens3"
ln -s ../../../devices/pci0/virtio0 "$r/sys/class/net/ens3/device"
for irq in 50 51 52 53; do : >"$r/sys/devices/pci0/msi_irqs/$irq"; done
echo 0 >"$r/proc/irq/50/smp_affinity_list"
echo 1 >"$r/proc/irq/51/smp_affinity_list"
echo 1 >"$r/proc/irq/52/smp_affinity_list"
echo 0 >"$r/proc/irq/53/smp_affinity_list"

# run ARGS...: out, err and status in $tmp/out, $tmp/err, $st
run() {
	"$tool" --root "$r" "$@" >"$tmp/out" 2>"$tmp/err"
	st=$?
}
expect() {	# expect NAME STATUS EXPECTED-STDOUT
	printf '%s' "$3" >"$tmp/want"
	[ "$st" = "$2" ] && cmp -s "$tmp/out" "$tmp/want"
	check "$1" $? "$tmp/out" "$tmp/err"
}
fails() {	# fails NAME STATUS PATTERN: one line on stderr matching, no stdout
	[ "$st" = "$2" ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" = 1 ] &&
		grep -q -- "$3" "$tmp/err"
	check "$1 (exit $st): $(cat "$tmp/err")" $? "$tmp/out" "$tmp/err"
}

run --dry-run --layout 32768-65535/2 eth0
expect "eth0, 2 blocks of 16384: CPU 0 -> queue 1, CPU 1 -> queue 0" 0 \
"ethtool -N eth0 flow-type tcp4 dst-port 32768 m 0x3fff action 1
ethtool -N eth0 flow-type tcp4 dst-port 49152 m 0x3fff action 0
"

run --dry-run --family 46 --layout 40960-45055/2 eth0
expect "eth0, tcp4 and tcp6, 2 blocks of 2048 from 40960" 0 \
"ethtool -N eth0 flow-type tcp4 dst-port 40960 m 0x7ff action 1
ethtool -N eth0 flow-type tcp6 dst-port 40960 m 0x7ff action 1
ethtool -N eth0 flow-type tcp4 dst-port 43008 m 0x7ff action 0
ethtool -N eth0 flow-type tcp6 dst-port 43008 m 0x7ff action 0
"

run --dry-run --layout 32768-65535/2 ens3
expect "virtio ens3 (MSI IRQs of the PCI parent, input queues only)" 0 \
"ethtool -N ens3 flow-type tcp4 dst-port 32768 m 0x3fff action 1
ethtool -N ens3 flow-type tcp4 dst-port 49152 m 0x3fff action 0
"

: >"$tmp/added"
run --layout 32768-65535/2 eth0
[ "$st" = 0 ] && [ ! -s "$tmp/out" ] && [ "$(cat "$tmp/added")" = "eth0 flow-type tcp4 dst-port 32768 m 0x3fff action 1
eth0 flow-type tcp4 dst-port 49152 m 0x3fff action 0" ]
check "without --dry-run: ethtool -N called with exactly the two rules" $? "$tmp/added" "$tmp/err"

run --dry-run --layout 32768-60999/2 eth0
fails "32768-60999/2 (blocks of 14116): not aligned powers of two" 2 "not aligned powers of two"
run --dry-run --layout 32769-65536/2 eth0
fails "a port beyond 65535" 2 "ports 1-65535"
run --dry-run --layout 40000-48191/2 eth0
fails "blocks of 4096 not starting at a multiple of 4096" 2 "not aligned powers of two"
run --dry-run --layout 32768-65535/4 eth0
fails "4 CPUs: CPU 2's queue IRQ is on 2-3, and CPU 2 has only the tx and link IRQs" 1 "CPU(s) 2 alone"
run --dry-run --layout 32768-65535/8 ens3
fails "virtio with 2 queues, layout of 8 CPUs" 1 "CPU(s) 2 3 4 5 6 7 alone"
run --dry-run --layout 32768-65535/2 eth9
fails "no such device" 1 "eth9: no such network device"

echo "ntuple-filters: off [fixed]" >"$tmp/features"
run --dry-run --layout 32768-65535/2 eth0
fails "ntuple-filters off [fixed]: the NIC cannot" 1 "cannot steer by port"
echo "ntuple-filters: off" >"$tmp/features"
run --layout 32768-65535/2 eth0
fails "ntuple-filters off, not a dry run: says how to turn it on" 1 "ethtool -K eth0 ntuple on"
: >"$tmp/features"
run --dry-run --layout 32768-65535/2 eth0
fails "no ntuple-filters feature at all" 1 "no ntuple-filters feature"
echo "ntuple-filters: on" >"$tmp/features"

run --layout 32768-65535/2
fails "no device: usage" 2 "one network device expected"
run --bogus eth0
fails "unknown option: usage" 2 "unknown option"
run --dry-run --layout 32768-65535 eth0
fails "layout without /N" 2 "not LO-HI/N"
run --help
[ "$st" = 0 ] && grep -q "^usage: fastsocket-rfd-ntuple" "$tmp/out"
check "--help" $? "$tmp/out" "$tmp/err"

tap_done
