#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: the policy by name (clock; others refused); a one-time scan larger than the cache does not evict the hot set (admission + CLOCK); sequential streams past seq_threshold bypass the cache
# CHECK: newest-kernel
# TIMEOUT: 300
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache
ORIG=$(mkloop 96)
CDEV=$(mkloop 16)	# about 250 blocks of 64 KiB

# randread OFFSET_MB SIZE_MB: every 64 KiB block of the range read once,
# in random order (not a sequential stream)
randread() {
	fio --name=rr --filename="$DEV" --offset="$1M" --size="$2M" \
		--rw=randread --bs=64k --direct=1 --ioengine=psync \
		--output=/dev/null || fail "random reads"
}

# the policy by name: an unknown one is refused and says so
dm_create t-cache "0 $(dev_sectors "$ORIG") iofilter $ORIG t-cache" || fail "create t-cache"
out=$(abi create t-cache c cache cache_dev="$CDEV" policy=lru 2>&1) &&
	fail "policy=lru accepted"
log "refused: $out"
case "$out" in *policy*clock*) ;; *) fail "no clear error for policy=lru: $out" ;; esac
dm_remove t-cache

# hot set: 4 MiB (64 blocks), read until promoted
cache_volume t-cache "$ORIG" "$CDEV" promote_hits=2 policy=clock || fail "create"
assert_eq clock "$(cstat t-cache policy)" "the status's policy"
dd if=/dev/urandom of="$DEV" bs=1M count=96 oflag=direct status=none || fail "fill"
for _ in 1 2 3 4 5; do
	randread 0 4
	cache_settle t-cache
	[ "$(cstat t-cache used)" -ge 60 ] && break
done
[ "$(cstat t-cache used)" -ge 60 ] || fail "hot set not cached"
randread 0 4		# hits: the CLOCK counts them
# a one-time scan of 80 MiB (1280 blocks, five times the cache)
randread 16 80
cache_settle t-cache
m0=$(cstat t-cache read_misses)
randread 0 4
misses=$(($(cstat t-cache read_misses) - m0))
log "hot set misses after the scan: $misses of 64"
[ "$misses" -le 6 ] || fail "the scan evicted the hot set ($misses misses)"
abi load t-cache action=pass > /dev/null
abi remove t-cache c || fail "remove"
dm_remove t-cache

# sequential bypass: a 16 MiB stream promotes at most its first 1 MiB
cache_volume t-cache "$ORIG" "$CDEV" promote_hits=1 seq_threshold=1M format=1 ||
	fail "create"
dd if="$DEV" of=/dev/null bs=256K skip=64 count=64 iflag=direct status=none ||
	fail "sequential read"
cache_settle t-cache
[ "$(cstat t-cache bypassed)" -gt 200 ] || fail "stream not bypassed"
[ "$(cstat t-cache promotions)" -le 16 ] || fail "stream promoted"
# random reads are still promoted
randread 40 2
cache_settle t-cache
[ "$(cstat t-cache promotions)" -ge 30 ] || fail "random reads not promoted"
abi load t-cache action=pass > /dev/null
abi remove t-cache c || fail "remove"
dm_remove t-cache
exit 0
