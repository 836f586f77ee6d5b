#!/bin/busybox sh
# PID 1 of the test guest: load modules, mount the host's root read-only over 9p, run the
# command named on the kernel command line (tb.cmd=PATH), print its exit status, power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r module; do
    insmod "/modules/$module" 2>/dev/null || echo "tb-guest: insmod $module failed"
done < /modules/order
cmd=""
workdir="/"
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        tb.cmd=*) cmd="${arg#tb.cmd=}" ;;
        tb.cwd=*) workdir="${arg#tb.cwd=}" ;;
    esac
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /newroot || {
    echo "tb-guest: cannot mount the host root"; poweroff -f; }
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount --move /dev /newroot/dev
# Writable space lives on /run only: the checkout under test may itself be below /tmp.
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot/dev/pts /newroot/run/vhci_hcd /newroot/run/tmp
ip link set lo up 2>/dev/null || /bin/busybox ip link set lo up
echo "tb-guest: running $cmd"
chroot /newroot /bin/sh -c "cd '$workdir' && HOME=/run/tmp TMPDIR=/run/tmp PYTHONDONTWRITEBYTECODE=1 '$cmd'"
echo "tb-guest: exit status $?"
sync
poweroff -f
