#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter, writeback: a FUA write sent to the origin for a block still dirty on the cache's disk is acknowledged only after the invalidation is committed; a crash image taken at the acknowledgement reads the new data
# CHECK: newest-kernel
# TIMEOUT: 180
# REQUIRES: dmsetup python3
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache
ORIG=$(mkloop 32)
CL=$(mkloop 16)
# the cache device on dm-linear: suspending it is the crash point, nothing
# written to it after that is in the crash image
dm_create t-fua-c "0 $(dev_sectors "$CL") linear $CL 0" || fail "cache dm"
cache_volume t-fua "$ORIG" /dev/mapper/t-fua-c mode=writeback \
	low_watermark=90 high_watermark=95 || fail "create"
B=$((1 << 20))	# a 64 KiB cache block

# the block is dirty in the cache and on the cache's disk (a flush commits)
head -c 65536 /dev/urandom > "$IOF_TMP/old"
dd if="$IOF_TMP/old" of="$DEV" bs=64K seek=$((B / 65536)) oflag=direct \
	conv=fsync,notrunc status=none || fail "write old"
assert_eq 1 "$(cstat t-fua dirty)" "dirty blocks"

# from here the cache device keeps what it has: a crash at any moment
run dmsetup --noudevsync suspend --noflush t-fua-c || fail "suspend cache dev"
# the block leaves the cache (memory only: the cache device is frozen) ...
# BLKDISCARD itself: blkdiscard probes for signatures, and a read that hits
# the block would wait for the frozen cache device
python3 -c 'import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
fcntl.ioctl(fd, 0x1277, struct.pack("QQ", int(sys.argv[2]), 65536))' \
	"$DEV" $B || fail "discard"
assert_eq 0 "$(cstat t-fua dirty)" "dirty after discard"
# ... and a FUA write to it misses and goes to the origin.  O_DSYNC: the
# write is REQ_FUA, then an fsync sends a flush
head -c 4096 /dev/urandom > "$IOF_TMP/new"
dd if="$IOF_TMP/new" of="$DEV" bs=4096 seek=$((B / 4096)) oflag=direct,dsync \
	conv=notrunc status=none &
pid=$!
acked=0
for _ in $(seq 1 50); do
	sleep 0.1
	# the FUA write completed when dd has moved on to the fsync
	if grep -q fsync "/proc/$pid/stack" 2> /dev/null; then
		acked=1
		break
	fi
	kill -0 $pid 2> /dev/null || { acked=1; break; }
done
[ -r "/proc/$pid/stack" ] || ! kill -0 $pid 2> /dev/null ||
	ktap_skip "no /proc/PID/stack"
log "FUA write acknowledged while the cache device was frozen: $acked"
log "dd stack: $(tr '\n' ' ' < "/proc/$pid/stack" 2> /dev/null)"
if [ $acked = 1 ]; then
	# crash now: the origin and the frozen cache device as they are
	dd if="$ORIG" of="$IOF_TMP/o.img" bs=1M iflag=direct status=none || fail "copy origin"
	dd if="$CL" of="$IOF_TMP/c.img" bs=1M iflag=direct status=none || fail "copy cache"
	run dmsetup --noudevsync resume t-fua-c || fail "resume cache dev"
	wait $pid || fail "FUA write"
else
	# not acknowledged: nothing to lose yet.  Once the cache device takes
	# the commit, the write completes; crash right after it
	run dmsetup --noudevsync resume t-fua-c || fail "resume cache dev"
	wait $pid || fail "FUA write"
	dd if="$ORIG" of="$IOF_TMP/o.img" bs=1M iflag=direct status=none || fail "copy origin"
	dd if="$CL" of="$IOF_TMP/c.img" bs=1M iflag=direct status=none || fail "copy cache"
fi
abi load t-fua action=pass > /dev/null || fail "unbind"
abi remove t-fua c || fail "remove"
dm_remove t-fua
dm_remove t-fua-c
losetup -d "$ORIG" "$CL"

# after the crash: the volume re-assembled from the images
O2=$(losetup -f --show "$IOF_TMP/o.img") || fail "losetup origin image"
C2=$(losetup -f --show "$IOF_TMP/c.img") || fail "losetup cache image"
cache_volume t-fua "$O2" "$C2" mode=writeback || fail "attach after crash"
log "$(abi status t-fua c)"
rdd "$DEV" $B 4096 "$IOF_TMP/got" || fail "read"
cmp "$IOF_TMP/got" "$IOF_TMP/new" ||
	fail "an acknowledged FUA write is lost: the block reads as before it"
abi load t-fua action=pass > /dev/null
abi remove t-fua c || fail "remove"
dm_remove t-fua
losetup -d "$O2" "$C2"
exit 0
