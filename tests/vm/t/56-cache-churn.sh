#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: lock-free read hits under churn: a cache half the working set, io_uring readers on both CPUs while a checker writes and verifies every read (stale or misplaced data fails), in each mode
# TIMEOUT: 400
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

LAT=$IOF_BUILD/tests/iof-lat
[ -x "$LAT" ] || fail "$LAT not built (make test-tools)"
SECS=${CHURN_SECS:-12}

load_iofilter cache
ORIG=$(mkloop 16)
CDEV=$(mkloop 2)	# about 500 blocks of 4 KiB: half the 4 MiB region

# Blocks are promoted on their first miss and evicted (CLOCK) or
# invalidated (writes in writearound) all the time, so cache blocks are
# reused for other origin blocks while hits are in flight on both CPUs.
# iof-lat writes and reads the region at QD1 and checks every read against
# the generation it last wrote there; fio's readers add concurrent hits.
cache_volume t-cache "$ORIG" "$CDEV" block_size=4K promote_hits=1 ||
	fail "create cache"
for mode in writethrough writearound writeback; do
	abi msg t-cache c mode "$mode" || fail "mode $mode"
	h0=$(cstat t-cache read_hits)
	d0=$(($(cstat t-cache demotions) + $(cstat t-cache promotions)))
	fio --name=readers --filename="$DEV" --size=4M --rw=randread --bs=4k \
		--ioengine=io_uring --iodepth=8 --direct=1 --numjobs=2 \
		--norandommap --randrepeat=0 --time_based \
		--runtime="$((SECS + 4))" --output="$IOF_TMP/fio-$mode.out" &
	fpid=$!
	"$LAT" --rw randrw --bs 4k --size 4M --seconds "$SECS" "$DEV" \
		> "$IOF_TMP/lat-$mode.out" 2>&1 ||
		{ cat "$IOF_TMP/lat-$mode.out"; fail "$mode: iof-lat found bad data"; }
	wait "$fpid" || { cat "$IOF_TMP/fio-$mode.out"; fail "$mode: readers failed"; }
	log "$mode: $(cat "$IOF_TMP/lat-$mode.out")"
	log "$mode: $(abi status t-cache c)"
	hits=$(($(cstat t-cache read_hits) - h0))
	moved=$(($(cstat t-cache demotions) + $(cstat t-cache promotions) - d0))
	[ "$hits" -gt 1000 ] || fail "$mode: only $hits read hits"
	[ "$moved" -gt 500 ] || fail "$mode: only $moved promotions + demotions"
	assert_eq ok "$(cstat t-cache state)" "$mode: state"
done
out=$(abi msg t-cache c flush) || fail "flush"
log "$out"
assert_eq 0 "$(cstat t-cache dirty)" "dirty after flush"
same_data "$DEV" "$ORIG" 4
abi load t-cache action=pass > /dev/null
abi remove t-cache c || fail "remove"
dm_remove t-cache
exit 0
