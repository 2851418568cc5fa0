#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: VM reset during a writeback workload with background writeback; after the reboot every acknowledged O_DSYNC write reads back
# CHECK: newest-kernel
# TIMEOUT: 600
# REQUIRES: dmsetup
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache
P=$IOF_PERSIST
NBLK=2048	# 4 KiB blocks written: the first 8 MiB

# block B S: the 4 KiB that write S puts in block B
block() {
	yes "$(printf 'blk %08d seq %08d' "$1" "$2")" | head -c 4096
}

ORIG=$(mkloop 32 "$P/origin.img")
CDEV=$(mkloop 16 "$P/cache.img")

if [ "$IOF_PHASE" = 1 ]; then
	# writeback runs all the time between 5% and 20% dirty
	cache_volume t-cache "$ORIG" "$CDEV" mode=writeback low_watermark=5 \
		high_watermark=20 promote_hits=1 || fail "create"
	dd if=/dev/urandom of="$DEV" bs=1M count=8 oflag=direct status=none ||
		fail "fill"
	: > "$P/log"
	(
		s=0
		while :; do
			s=$((s + 1))
			b=$((RANDOM % NBLK))
			block "$b" "$s" > "$IOF_TMP/blk"
			dd if="$IOF_TMP/blk" of="$DEV" bs=4096 seek="$b" count=1 \
				oflag=direct,dsync conv=notrunc status=none || exit 1
			echo "$b $s" >> "$P/log"
		done
	) &
	# at least a dozen acknowledged writes (a slow host: up to 2 minutes)
	for _ in $(seq 1 120); do
		[ "$(wc -l < "$P/log")" -ge 12 ] && break
		sleep 1
	done
	kill -0 $! || fail "writer died"
	log "$(abi status t-cache c)"
	[ "$(wc -l < "$P/log")" -gt 10 ] || fail "too few writes before the crash"
	[ "$(cstat t-cache writebacks)" -gt 0 ] || fail "no writeback before the crash"
	crash_reboot
fi

# after the reset: the cache was not shut down cleanly
cache_volume t-cache "$ORIG" "$CDEV" mode=writeback || fail "attach after crash"
log "$(abi status t-cache c)"
# the last logged write of each block, or a later one (the log itself may
# have lost its last lines), must be there whole
sort -k1,1n -k2,2n "$P/log" | awk '{ last[$1] = $2 } END { for (b in last) print b, last[b] }' \
	> "$IOF_TMP/last"
n=0
while read -r b s; do
	rdd "$DEV" $((b * 4096)) 4096 "$IOF_TMP/got" || fail "read block $b"
	got=$(head -c 25 "$IOF_TMP/got" | sed -n 's/^blk [0-9]* seq \([0-9]*\)$/\1/p')
	[ -n "$got" ] || fail "block $b: not a whole write (wrote seq $s)"
	got=$((10#$got))
	[ "$got" -ge "$s" ] || fail "block $b: seq $got, but seq $s was acknowledged"
	block "$b" "$got" | cmp - "$IOF_TMP/got" || fail "block $b: torn"
	n=$((n + 1))
done < "$IOF_TMP/last"
log "$n blocks verified"
[ "$n" -gt 10 ] || fail "too few blocks checked"
# and after a flush the origin alone has the same data
dd if="$DEV" bs=1M count=8 iflag=direct status=none > "$IOF_TMP/ref" || fail "read"
abi msg t-cache c flush > /dev/null || fail "flush"
abi load t-cache action=pass > /dev/null
abi remove t-cache c || fail "remove"
dm_remove t-cache
dd if="$ORIG" bs=1M count=8 iflag=direct status=none | cmp - "$IOF_TMP/ref" ||
	fail "origin after flush"
losetup -d "$ORIG" "$CDEV"
exit 0
