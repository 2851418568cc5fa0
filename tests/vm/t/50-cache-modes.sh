#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: fio verify in writethrough, writearound and writeback, hits served from the cache, flush, mode switches under load (io_uring over null_blk: 16-core-nowait)
# TIMEOUT: 600
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache
ORIG=$(mkloop 64)
CDEV=$(mkloop 24)

# writethrough: data verifies, the origin is always complete
cache_volume t-cache "$ORIG" "$CDEV" mode=writethrough promote_hits=1 ||
	fail "create cache"
assert_eq writethrough "$(cstat t-cache mode)" mode
assert_eq ok "$(cstat t-cache state)" state
fio_verify "$DEV" 32M
same_data "$DEV" "$ORIG" 32
cache_settle t-cache
[ "$(cstat t-cache promotions)" -gt 0 ] || fail "nothing promoted"
h0=$(cstat t-cache read_hits)
read_all "$DEV" 32
cache_settle t-cache
read_all "$DEV" 32
[ "$(cstat t-cache read_hits)" -gt "$h0" ] || fail "no read hits"
# writes to cached blocks update the cache copy too
fio_verify "$DEV" 16M --randseed=7
same_data "$DEV" "$ORIG" 32
[ "$(cstat t-cache write_hits)" -gt 0 ] || fail "no write hits"

# writearound: writes invalidate, reads still verify
abi msg t-cache c mode writearound || fail "mode writearound"
assert_eq writearound "$(cstat t-cache mode)" mode
cache_settle t-cache
u0=$(cstat t-cache used)
dd if=/dev/urandom of="$DEV" bs=1M count=4 oflag=direct status=none || fail "write"
[ "$(cstat t-cache used)" -lt "$u0" ] || fail "writearound did not invalidate"
fio_verify "$DEV" 16M --randseed=11
same_data "$DEV" "$ORIG" 32

# writeback: the origin is behind until a flush
abi msg t-cache c mode writeback || fail "mode writeback"
wdd "$DEV" 0 $((1 << 20)) || fail "write"
[ "$(cstat t-cache dirty)" -gt 0 ] || fail "no dirty blocks in writeback"
abi status t-cache c | grep -q "flags=2 " || fail "instance not reported dirty"
fio_verify "$DEV" 16M --randseed=13
out=$(abi msg t-cache c flush) || fail "flush"
log "$out"
assert_eq 0 "$(cstat t-cache dirty)" "dirty after flush"
same_data "$DEV" "$ORIG" 32

# mode switches under load: fio writes and verifies while the mode changes
fio --name=switch --filename="$DEV" --size=16M --rw=randwrite --bs=4k \
	--ioengine=libaio --iodepth=8 --direct=1 --verify=crc32c \
	--do_verify=1 --verify_fatal=1 --randseed=17 \
	--output="$IOF_TMP/fio-switch.out" &
fpid=$!
for m in writeback writethrough writeback writearound writeback writethrough; do
	sleep 1
	abi msg t-cache c mode "$m" > /dev/null || fail "mode $m under load"
done
wait "$fpid" || { cat "$IOF_TMP/fio-switch.out"; fail "fio verify across mode switches"; }
assert_eq 0 "$(cstat t-cache dirty)" "dirty after leaving writeback"
same_data "$DEV" "$ORIG" 32
assert_eq ok "$(cstat t-cache state)" state
expect_fail abi msg t-cache c mode bogus
expect_fail abi msg t-cache c bogus

abi load t-cache action=pass > /dev/null
abi remove t-cache c || fail "remove"
dm_remove t-cache

exit 0
