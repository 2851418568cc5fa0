#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: iofilterctl syncs with udev by default (issue 20): with systemd-udevd running, /dev/mapper/NAME is udev's symlink when apply returns and gone when detach returns; no node made by hand; without udev, libdevmapper's fallback
# CHECK: newest-kernel
# TIMEOUT: 120
# REQUIRES: dmsetup losetup udevadm iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/ctl.sh"

UDEVD=/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || ktap_skip "no $UDEVD"
for r in 55-dm.rules 95-dm-notify.rules; do
	[ -f "/lib/udev/rules.d/$r" ] || ktap_skip "no /lib/udev/rules.d/$r (dmsetup's udev rules)"
done

load_iofilter count
T=$IOF_TMP
DEV=$(mkloop 16) || exit 1
cat > "$T/p.yaml" <<EOF
version: 1
volumes:
  - name: t-udev
    device: $DEV
    filters:
      - name: cnt
        type: count
    rules:
      - range: {start: 0}
        chain: [cnt]
EOF
NODE=/dev/mapper/t-udev

stop_udevd() {
	udevadm control --exit 2> /dev/null
	# udevd's database and control socket: later tests must not see a udev.
	rm -rf /run/udev
}
trap stop_udevd EXIT

# The default mode (DM_DISABLE_UDEV unset, no --noudevsync).
ctl_def() { env -u DM_DISABLE_UDEV "$IOF_TOOL" "$@"; }

# ---- 1. default mode, udev not running: libdevmapper makes the node itself
[ ! -e /run/udev/control ] || fail "a udev is already running"
run ctl_def -v apply "$T/p.yaml" || fail "apply without udev"
[ -b "$NODE" ] || fail "no $NODE without udev"
run ctl_def detach --yes t-udev || fail "detach without udev"
[ ! -e "$NODE" ] || fail "$NODE left after detach"

# ---- 2. udevd running in the guest (/run is a tmpfs: its database fits there)
mountpoint -q /run || fail "/run is not a mount of its own"
touch /run/.udev-probe && rm /run/.udev-probe || fail "/run is not writable"
# udevd's children must not see DM_DISABLE_UDEV: dmsetup udevcomplete would do nothing.
env -u DM_DISABLE_UDEV "$UDEVD" --daemon --debug > "$IOF_RESULTS/udevd.log" 2>&1 || fail "start systemd-udevd"
for _ in $(seq 50); do [ -S /run/udev/control ] && break; sleep 0.1; done
[ -S /run/udev/control ] || fail "udevd did not open /run/udev/control"
run udevadm trigger --action=add --subsystem-match=block --sysname-match='dm-*'
run udevadm settle -t 30 || fail "udevadm settle"

# apply: when it returns, udev has made the link (no settle in between)
timeout 30 env -u DM_DISABLE_UDEV "$IOF_TOOL" -vv apply "$T/p.yaml" > "$T/apply.out" 2>&1 || { cat "$T/apply.out"; ipcs -s; fail "apply with udev"; }
cat "$T/apply.out"
ls -l "$NODE" /dev/mapper/
[ -L "$NODE" ] || fail "$NODE is not udev's symlink (made by hand or by the library?)"
[ -b "$NODE" ] || fail "$NODE does not point to a block device"
minor=$(dmsetup info -c --noheadings -o minor t-udev | tr -d ' ')
assert_eq "../dm-$minor" "$(readlink "$NODE")" "link target"
# dm.c's mknod says "created PATH (MAJ:MIN)"; libdevmapper defers to udev ([verify_udev])
! grep -Eq "created /dev/mapper/t-udev \(" "$T/apply.out" || fail "iofilterctl made the node itself"
udevadm info "$NODE" | grep -q "DM_NAME=t-udev" || fail "udev has no record of t-udev"
# I/O through udev's node
dd if=/dev/urandom of="$T/d" bs=64k count=4 status=none
dd if="$T/d" of="$NODE" bs=64k oflag=direct status=none || fail "write through $NODE"
cmp -n 262144 "$T/d" "$NODE" || fail "read back through $NODE"

# a second apply (no change) keeps the node
run ctl_def apply "$T/p.yaml" || fail "apply again"
[ -L "$NODE" ] || fail "$NODE gone after a no-op apply"

# detach: when it returns, udev has removed the link
run timeout 30 env -u DM_DISABLE_UDEV "$IOF_TOOL" detach --yes t-udev || fail "detach with udev"
[ ! -e "$NODE" ] && [ ! -L "$NODE" ] || fail "$NODE still there when detach returned"
dmsetup info t-udev > /dev/null 2>&1 && fail "t-udev still exists"

log "ok"
