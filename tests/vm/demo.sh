#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: make demo: an iofilter volume over a VM disk image, fio with verification, status; then the same through iofilterctl and policies/demo.yaml
# TIMEOUT: 400
#
# Run in the VM by tests/vm/run-demo (not part of the suite).  Shows what it
# does; a missing piece (module, tool) is a note, not a failure.
. "$IOF_ROOT/tests/lib/common.sh"

img=/tmp/iof-demo.img	# the path policies/demo.yaml names
status=0

step() { printf '\n==> %s\n' "$*"; }
note() { echo "    (note: $*)"; }
# show CMD...: print the command, run it indented
show() {
	echo "\$ $*"
	"$@" 2>&1 | sed 's/^/    /'
	return "${PIPESTATUS[0]}"
}
# fio_demo DEV SECONDS [FIO-ARGS...]: random 4k read/write with verification
fio_demo() {
	local dev=$1 secs=$2
	shift 2
	echo "\$ fio --rw=randrw --bs=4k --runtime=$secs --verify=crc32c $dev $*"
	fio --name=demo --filename="$dev" --rw=randrw --bs=4k --size=64M \
		--ioengine=libaio --iodepth=8 --direct=1 --time_based --runtime="$secs" \
		--verify=crc32c --verify_backlog=256 --verify_fatal=1 \
		--eta=always --eta-newline=5s --eta-interval=5s "$@" > "$IOF_TMP/fio.out" 2>&1
	local rc=$?
	# progress lines, then the bandwidth summary and any error
	tr '\r' '\n' < "$IOF_TMP/fio.out" |
		grep -E '^Jobs:|^ +(read|write): IOPS|^ +(READ|WRITE):|err=|verify|error' |
		grep -v 'err= 0' | sed 's/^ */    /'
	return $rc
}

step "kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB"
run modprobe dm-mod > /dev/null || fail "no dm-mod"
need_module loop

step "a 256 MiB sparse VM disk image, on a loop device"
rm -f "$img"
truncate -s 256M "$img"
dev=$(losetup -f --show "$img") || fail "losetup"
sectors=$(blockdev --getsz "$dev")
echo "    $img -> $dev ($sectors sectors)"

step "device-mapper volume iof-demo over $dev"
if [ -f "$IOF_MODDIR/iofilter.ko" ]; then
	for ko in "$IOF_MODDIR"/iofilter.ko "$IOF_MODDIR"/iofilter-*.ko; do
		[ -f "$ko" ] && show insmod "$ko"
	done
	table="0 $sectors iofilter $dev demo"
else
	note "$IOF_MODDIR/iofilter.ko is not built (make modules): dm-linear stands in"
	table="0 $sectors linear $dev 0"
fi
show dmsetup targets
echo "\$ dmsetup create iof-demo --table \"$table\""
dmsetup create iof-demo --table "$table" || fail "dmsetup create iof-demo"
dmsetup mknodes iof-demo

step "20 s of fio on /dev/mapper/iof-demo"
fio_demo /dev/mapper/iof-demo 20 || { echo "    fio FAILED"; status=1; }

step "what device-mapper says"
show dmsetup table iof-demo
show dmsetup status iof-demo
show dmsetup remove iof-demo
show losetup -d "$dev"

step "the same through iofilterctl and policies/demo.yaml"
if [ ! -x "$IOF_TOOL" ]; then
	note "$IOF_TOOL is not built (make tool): skipping this part"
elif [ ! -f "$IOF_MODDIR/iofilter.ko" ]; then
	note "iofilter.ko is not built: skipping this part"
else
	show "$IOF_TOOL" apply "$IOF_ROOT/policies/demo.yaml" || { note "apply failed"; status=1; }
	show "$IOF_TOOL" status || note "status failed"
	vol=/dev/mapper/demo
	if [ -b "$vol" ]; then
		step "a write to the first MiB (the policy denies it)"
		if dd if=/dev/zero of="$vol" bs=4k count=1 oflag=direct status=none 2> "$IOF_TMP/dd.err"; then
			echo "    the write went through: the policy did not deny it"
			status=1
		else
			echo "    refused: $(cat "$IOF_TMP/dd.err")"
		fi
		step "10 s of fio on the data range (from 1 MiB)"
		fio_demo "$vol" 10 --offset=1M || { echo "    fio FAILED"; status=1; }
	else
		note "no $vol after apply"
	fi
	show "$IOF_TOOL" stats || note "stats failed"
	show "$IOF_TOOL" stats -o json || note "stats -o json failed"
	show "$IOF_TOOL" detach demo --yes || note "detach failed"
fi
rm -f "$img"

step "done ($([ "$status" = 0 ] && echo ok || echo 'with errors'))"
exit $status
