#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: remove the volume while promotions and writebacks are in flight, again and again; reattach and check every write survived
# TIMEOUT: 300
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

ROUNDS=${TEARDOWN_ROUNDS:-10}
MB=8

load_iofilter cache
LOOP=$(mkloop 16)
CDEV=$(mkloop 4)
# a slow origin (reads 200 ms, writes 300 ms): promotions and writebacks
# are still copying when the I/O that started them is long done
dm_create t-slow "0 $(dev_sectors "$LOOP") delay $LOOP 0 200 $LOOP 0 300" ||
	fail "create dm-delay origin"
ORIG=/dev/mapper/t-slow
REF=$IOF_TMP/ref
dd if=/dev/urandom of="$REF" bs=1M count=$MB status=none
dd if="$REF" of="$ORIG" bs=1M oflag=direct status=none || fail "fill origin"

# Each round attaches the cache (warm after the first), reads at random (a
# promotion per miss, copied by dm-kcopyd), writes a fresh MiB in 4 KiB
# blocks in writeback mode (256 dirty blocks, over the 10 % watermark:
# kcopyd writes them back, 16 at a time, 300 ms each) and tears the volume
# down at once, with those copies in flight: the destructor waits for them
# and must not race their completions.
fmt=(format=1)
for r in $(seq 1 "$ROUNDS"); do
	cache_volume t-td "$ORIG" "$CDEV" mode=writeback block_size=4K promote_hits=1 \
		low_watermark=5 high_watermark=10 "${fmt[@]}" || fail "round $r: attach"
	fmt=()
	fio --name=miss --filename="$DEV" --size=${MB}M --rw=randread --bs=4k \
		--ioengine=io_uring --iodepth=16 --direct=1 --norandommap \
		--randrepeat=0 --runtime=1 --time_based \
		--output="$IOF_TMP/fio.out" || { cat "$IOF_TMP/fio.out"; fail "round $r: reads"; }
	off=$(( (r * 3) % MB ))
	dd if=/dev/urandom of="$IOF_TMP/chunk" bs=1M count=1 status=none
	dd if="$IOF_TMP/chunk" of="$REF" bs=1M seek="$off" conv=notrunc status=none
	dd if="$IOF_TMP/chunk" of="$DEV" bs=4k seek="$((off * 256))" oflag=direct \
		status=none || fail "round $r: write"
	st=$(abi status t-td c)
	dmsetup --noudevsync remove t-td || fail "round $r: remove"
	log "round $r: at removal: $(echo "$st" | grep -oE '(dirty|read_misses|promotions|writebacks)=[0-9]+' | tr '\n' ' ')"
	# the round must have exercised what it is about: dirty blocks (so
	# writebacks were due) and promotions from the reads
	dirty=$(echo "$st" | tr ' ' '\n' | sed -n 's/^dirty=//p')
	promo=$(echo "$st" | tr ' ' '\n' | sed -n 's/^promotions=//p')
	[ "${dirty:-0}" -gt 0 ] || fail "round $r: no dirty blocks at removal: $st"
	[ "$r" != 1 ] || [ "${promo:-0}" -gt 0 ] || fail "round 1: no promotions: $st"
done

# Everything acknowledged is there, through the cache and after a flush
cache_volume t-td "$ORIG" "$CDEV" mode=writeback block_size=4K || fail "final attach"
cmp <(dd if="$DEV" bs=1M count=$MB iflag=direct status=none) "$REF" ||
	fail "data through the reattached cache differs from the reference"
abi msg t-td c flush > /dev/null || fail "flush"
assert_eq 0 "$(cstat t-td dirty)" "dirty after flush"
abi load t-td action=pass > /dev/null
abi remove t-td c || fail "remove instance"
dm_remove t-td
dm_remove t-slow
cmp <(dd if="$LOOP" bs=1M count=$MB iflag=direct status=none) "$REF" ||
	fail "origin after flush differs from the reference"
exit 0
