#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: iofilterctl with qcow2 images (qemu-nbd): apply, verified I/O that lands in the image, status shows the image and format, re-apply reuses, detach disconnects the NBD device and closes the image; a live raw volume is not re-probed; missing, corrupt, unsupported and backing-file images are file:line:col errors that leave nothing attached
# CHECK: newest-kernel
# TIMEOUT: 300
# REQUIRES: dmsetup fio jq qemu-img qemu-nbd pgrep mod:nbd iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/ctl.sh"

load_iofilter count
T=$IOF_TMP
Q=$T/disk.qcow2
MiB=$((1 << 20))
run qemu-img create -q -f qcow2 "$Q" 32M || fail "qemu-img create"

# policy FILE IMAGE [FORMAT]: one volume t-qimg over IMAGE, every I/O counted
policy() {
	{
		printf 'version: 1\nvolumes:\n  - name: t-qimg\n    image: %s\n' "$2"
		[ -n "${3:-}" ] && printf '    format: %s\n' "$3"
		printf '    filters:\n      - {name: cnt, type: count}\n'
		printf '    rules:\n      - range: {start: 0}\n        chain: [cnt]\n'
	} > "$1"
}
# connected NBD devices, and qemu-nbd processes
nbd_used() {
	local p
	for p in /sys/block/nbd*/pid; do
		[ -e "$p" ] && echo "${p%/pid}"
	done
	return 0
}
qnbd() { pgrep -x qemu-nbd || true; }
nothing_left() {
	[ -z "$(nbd_used)" ] || fail "$1: NBD device still connected: $(nbd_used)"
	[ -z "$(qnbd)" ] || fail "$1: qemu-nbd still running"
	[ ! -e /dev/mapper/t-qimg ] || fail "$1: /dev/mapper/t-qimg left behind"
}
nothing_left "before the test"

# ---- apply: the plan, then the volume over a new NBD device
policy "$T/q.yaml" "$Q"
ctl_rc 0 apply --dry-run "$T/q.yaml"
out_has "^  \+ nbd: serve $Q \(qcow2\) on an NBD device with qemu-nbd"
nothing_left "dry run"
ctl_rc 0 apply "$T/q.yaml"
out_has "^t-qimg: created /dev/mapper/t-qimg over /dev/nbd[0-9]+ \(32MiB\)"
NBD=$(nbd_used)
[ "$(echo "$NBD" | wc -w)" = 1 ] || fail "expected one connected NBD device, got '$NBD'"
[ "$(qnbd | wc -w)" = 1 ] || fail "expected one qemu-nbd"
ctl_rc 0 status t-qimg
out_has "origin: +/dev/${NBD##*/} \([0-9]+:[0-9]+\), file $Q \(qcow2, qemu-nbd\)"
ctl_rc 0 -o json status t-qimg
jq_true '.volumes[0].origin.backing_file == "'"$Q"'" and .volumes[0].origin.backing_format == "qcow2"'

# ---- I/O through the volume reaches the image
fio_verify /dev/mapper/t-qimg 4M
[ "$(inst_stat t-qimg cnt writes)" -gt 0 ] || fail "no writes counted"
head -c $((4 * MiB)) /dev/urandom > "$T/ref"
dd if="$T/ref" of=/dev/mapper/t-qimg bs=1M seek=20 oflag=direct conv=fsync status=none ||
	fail "write the reference"

# ---- apply again: the same NBD device, nothing changes
ctl_rc 0 apply "$T/q.yaml"
out_has "^t-qimg: no changes$"
assert_eq "$NBD" "$(nbd_used)" "NBD device after re-apply"

# ---- detach: the NBD device disconnected, qemu-nbd gone, the image closed and clean
ctl_rc 0 -o json detach t-qimg --yes
jq_true '.removed == true and .disconnected == "/dev/'"${NBD##*/}"'"'
nothing_left "detach"
run qemu-img check -q "$Q" || fail "qemu-img check after detach"
run qemu-img convert -f qcow2 -O raw "$Q" "$T/out.raw" || fail "qemu-img convert"
cmp -n $((4 * MiB)) -i $((20 * MiB)):0 "$T/out.raw" "$T/ref" || fail "the image lacks the data written"

# ---- apply again: the data reads back through the volume
ctl_rc 0 apply "$T/q.yaml"
cmp -n $((4 * MiB)) -i $((20 * MiB)):0 /dev/mapper/t-qimg "$T/ref" || fail "read back after re-apply"
ctl_rc 0 detach t-qimg --yes
out_has "^t-qimg: detached \(/dev/mapper/t-qimg removed, qemu-nbd disconnected from /dev/nbd[0-9]+\)$"
nothing_left "second detach"

# ---- a live raw volume keeps its format when its guest writes a qcow2 header
truncate -s 8M "$T/guest.raw"
policy "$T/raw.yaml" "$T/guest.raw"
ctl_rc 0 apply "$T/raw.yaml"
out_has "^t-qimg: created /dev/mapper/t-qimg over /dev/loop[0-9]+ \(8MiB\)"
{ printf 'QFI\xfb\x00\x00\x00\x03'; head -c 4088 /dev/zero; } |
	dd of=/dev/mapper/t-qimg bs=4k count=1 oflag=direct status=none || fail "write the header"
ctl_rc 0 apply "$T/raw.yaml"
out_has "^t-qimg: no changes$"
ctl_rc 0 detach t-qimg --yes
nothing_left "raw detach"

# ---- bad images: exit 1, an error at file:line:col, nothing attached
kstate "$T/k0"
# bad NAME IMAGE FORMAT ERE: apply refuses with ERE at the image or format line
bad() {
	policy "$T/$1.yaml" "$2" "$3"
	ctl_rc 1 apply "$T/$1.yaml"
	err_has "^$T/$1.yaml:[45]:[0-9]+: $4"
	kstate_same "$T/k0"
	nothing_left "$1"
}
bad missing "$T/nope.qcow2" "" "image \"$T/nope.qcow2\": No such file or directory"
{ printf 'QFI\xfb\x00\x00\x00\x03'; head -c 120 /dev/zero; } > "$T/garbage.qcow2"
truncate -s 1M "$T/garbage.qcow2"
bad garbage "$T/garbage.qcow2" "" "image \"$T/garbage.qcow2\": Could not open .*"
bad unsupported "$Q" vhd "unsupported image format \"vhd\""
run qemu-img create -q -f qcow2 -b "$Q" -F qcow2 "$T/overlay.qcow2" || fail "overlay"
bad backing "$T/overlay.qcow2" "" "image \"$T/overlay.qcow2\" looks like qcow2 with a backing file"

# qemu-img reads it, qemu-nbd refuses it (the corrupt flag): apply undoes the attach
cp "$Q" "$T/corrupt.qcow2"
printf '\002' | dd of="$T/corrupt.qcow2" bs=1 seek=79 conv=notrunc status=none
policy "$T/corrupt.yaml" "$T/corrupt.qcow2"
rc=0
ctl apply "$T/corrupt.yaml" || rc=$?
[ "$rc" != 0 ] || fail "apply of a corrupt image succeeded"
err_has "serve $T/corrupt.qcow2 \(qcow2\) with qemu-nbd: .*corrupt"
kstate_same "$T/k0"
nothing_left "corrupt image"

# the backing file is fine when the format is named
policy "$T/ov.yaml" "$T/overlay.qcow2" qcow2
ctl_rc 0 apply "$T/ov.yaml"
cmp -n $((4 * MiB)) -i $((20 * MiB)):0 /dev/mapper/t-qimg "$T/ref" || fail "overlay reads the backing file"
ctl_rc 0 detach t-qimg --yes
nothing_left "overlay detach"
exit 0
