#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: REQ_NOWAIT (io_uring) over a blk-mq origin with 2 tags: no EAGAIN reaches fio through rule cuts, deferring filters, crypt, cache (all modes) and replicate (sync, async); regression for EAGAIN ending a bio outside its submitter (one KTAP subtest each)
# TIMEOUT: 600
# REQUIRES: dmsetup fio
# shellcheck disable=SC2317 # the checks run through subtest
#
# io_uring submits with REQ_NOWAIT and retries a BLK_STS_AGAIN only when
# the bio ends with it in the submitting task; a bio that ends with it
# anywhere else (a device interrupt, a worker) fails the I/O with EAGAIN.
# null_blk with two tags and timer completions refuses a REQ_NOWAIT bio
# whenever both tags are busy, so every path where the bio is cut, fanned
# out or resumed from a worker gets exercised.
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

need_module null_blk
load_iofilter count
load_iofilter crypt
load_iofilter cache
load_iofilter replicate
if [ -d /sys/module/null_blk ]; then rmmod null_blk || fail "rmmod null_blk"; fi
run modprobe null_blk nr_devices=2 gb=1 memory_backed=1 irqmode=2 \
	completion_nsec=100000 hw_queue_depth=2 submit_queues=1 ||
	fail "modprobe null_blk"
[ -b /dev/nullb1 ] || fail "no /dev/nullb1"
NB=/dev/nullb0
SZ=$((32 << 20))

# uring DEV NAME [fio args]: io_uring reads and writes of 4 KiB to 1 MiB
# at QD16, writes verified; fails the test on any I/O error
uring() {
	local dev=$1 name=$2
	shift 2
	run fio --name="$name" --filename="$dev" --size="$SZ" --rw=randrw \
		--bsrange=4k-1M --ioengine=io_uring --iodepth=16 --direct=1 \
		--verify=crc32c --verify_fatal=1 --output-format=terse "$@" \
		> /dev/null || fail "$name: io_uring I/O failed (EAGAIN?)"
}

# The in-tree peer, for the record: dm-stripe cuts bios at its chunk size
# the same way and (6.1, 6.12) lets the EAGAIN of a cut-off rest through.
dmsetup create t-nw-stripe --table "0 $((SZ >> 9)) striped 1 128 $NB 0" &&
	dmsetup mknodes t-nw-stripe
if fio --name=stripe --filename=/dev/mapper/t-nw-stripe --size=$SZ \
	--rw=randwrite --bsrange=4k-1M --ioengine=io_uring --iodepth=16 \
	--direct=1 --output-format=terse > /dev/null 2>&1; then
	log "dm-stripe (peer): no EAGAIN"
else
	log "dm-stripe (peer): EAGAIN reached fio (kernel behaviour, not ours)"
fi
dmsetup remove t-nw-stripe

# cleanup_on_fail NAME: when the subtest fails, remove volume NAME (its
# instances go with it), so the subtests after it find null_blk free
cleanup_on_fail() {
	# shellcheck disable=SC2064 # NAME now
	trap "[ \$? = 0 ] || dmsetup --noudevsync remove --retry $1 > /dev/null 2>&1" EXIT
}

# --- rule boundaries cut bios; a deferring filter resumes from a worker ---
core() {
	local vol=t-nw-core a s0
	cleanup_on_fail "$vol"
	dm_create "$vol" "0 $((SZ >> 9)) iofilter $NB $vol" || fail "create $vol"
	a=$(abi create "$vol" a count defer=1) || fail "create count"
	abi load "$vol" action=pass "start=0,len=12M,ops=rw,action=filter,chain=$a" \
		"start=20M,len=4M,ops=rw,action=filter,chain=$a" > /dev/null ||
		fail "load $vol"
	s0=$(stat_of "$vol" vol.splits)
	uring "/dev/mapper/$vol" core
	[ "$(stat_of "$vol" vol.splits)" -gt "$s0" ] || fail "no bio was cut at a rule boundary"
	[ "$(inst_stat "$vol" a writes)" -gt 0 ] || fail "count saw no writes"
	abi load "$vol" action=pass > /dev/null
	abi remove "$vol" a || fail "remove count"
	dm_remove "$vol"
}

# --- crypt: offloaded to the worker (>= 256 KiB) and all inline ---
key=$IOF_TMP/k
head -c 32 /dev/urandom > "$key"
chmod 600 "$key"
crypt() {
	local off=$1
	cleanup_on_fail t-nw-crypt
	cat > "$IOF_TMP/c.yaml" <<EOP
version: 1
volumes:
  - name: t-nw-crypt
    device: $NB
    filters:
      - name: enc
        type: crypt
        params:
          key_file: $key
          offload_size: $off
    rules:
      - name: enc
        range: {start: 0, length: 32MiB}
        chain: [enc]
EOP
	"$IOF_TOOL" apply "$IOF_TMP/c.yaml" > /dev/null || fail "apply crypt"
	uring /dev/mapper/t-nw-crypt "crypt-$off"
	"$IOF_TOOL" detach t-nw-crypt --yes > /dev/null || fail "detach crypt"
}

# --- cache: bios cut at cache blocks, writethrough fan-out, all modes ---
cache() {
	local m=$1 c out
	cleanup_on_fail "t-nw-$m"
	c=$(mkloop 40)
	cache_volume "t-nw-$m" "$NB" "$c" mode="$m" promote_hits=1 block_size=64K \
		seq_threshold=0 || fail "cache $m"
	read_all "$DEV" 8		# some hits
	cache_settle "t-nw-$m"
	uring "$DEV" "cache-$m" --size=16M
	[ "$(cstat "t-nw-$m" write_hits)" -gt 0 ] || [ "$m" = writearound ] ||
		fail "$m: no write hits"
	out=$(abi msg "t-nw-$m" c flush) || fail "flush $m: $out"
	same_data "$DEV" "$NB" 16
	abi load "t-nw-$m" action=pass > /dev/null
	abi remove "t-nw-$m" c || fail "remove cache $m"
	dm_remove "t-nw-$m"
	losetup -d "$c"
}

# 1 MiB blocks: a 1 MiB write hit is one origin bio the origin may refuse
# while the clone to the cache is in flight
cache_1m() {
	local c w0
	cleanup_on_fail t-nw-1m
	c=$(mkloop 40)
	cache_volume t-nw-1m "$NB" "$c" mode=writethrough promote_hits=1 \
		block_size=1MiB seq_threshold=0 || fail "cache 1 MiB blocks"
	read_all "$DEV" 16
	cache_settle t-nw-1m
	w0=$(cstat t-nw-1m write_hits)
	run fio --name=wt1m --filename="$DEV" --size=16M --rw=write --bs=1M \
		--ioengine=io_uring --iodepth=8 --direct=1 --verify=crc32c \
		--verify_fatal=1 --output-format=terse > /dev/null ||
		fail "io_uring 1 MiB writes through writethrough failed"
	[ "$(cstat t-nw-1m write_hits)" -gt "$w0" ] || fail "no 1 MiB write hits"
	same_data "$DEV" "$NB" 16
	abi load t-nw-1m action=pass > /dev/null
	abi remove t-nw-1m c || fail "remove cache 1 MiB"
	dm_remove t-nw-1m
	losetup -d "$c"
}

# --- replicate: both legs of a sync write; async copies ---
replicate() {
	local mode=$1 vol=t-nw-rep-$1 meta id out
	cleanup_on_fail "$vol"
	dm_create "$vol" "0 $((SZ >> 9)) iofilter $NB $vol" || fail "create $vol"
	meta=$(mkloop 1)
	id=$(abi create "$vol" rep replicate replica=/dev/nullb1 \
		metadata="$meta" mode="$mode" region_size=64K) || fail "create rep"
	rep_wait "$vol" rep state in-sync 120
	abi load "$vol" action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null ||
		fail "load $vol"
	uring "/dev/mapper/$vol" "rep-$mode" --rw=randwrite
	run fio --name=seq1m --filename="/dev/mapper/$vol" --size="$SZ" --rw=write \
		--bs=1M --ioengine=io_uring --iodepth=8 --direct=1 \
		--verify=crc32c --verify_fatal=1 --output-format=terse > /dev/null ||
		fail "rep-$mode: io_uring 1 MiB writes failed"
	out=$(abi msg "$vol" rep flush) || fail "flush $vol: $out"
	rep_wait "$vol" rep state in-sync 60
	assert_eq 0 "$(inst_stat "$vol" rep errors)" "replica errors ($mode)"
	rep_cmp "$NB" /dev/nullb1 "$SZ"
	abi load "$vol" action=pass > /dev/null
	abi remove "$vol" rep || fail "remove rep"
	dm_remove "$vol"
	losetup -d "$meta"
}

ktap_plan 9
subtest "rule boundaries cut bios, a deferring filter resumes them from a worker" core
subtest "crypt: bios of 256 KiB and more offloaded to the worker" crypt 256K
subtest "crypt: every bio converted inline (offload_size 0)" crypt 0
subtest "cache writeback: bios cut at cache blocks" cache writeback
subtest "cache writethrough: the fan-out to cache and origin" cache writethrough
subtest "cache writearound" cache writearound
subtest "cache writethrough, 1 MiB blocks: a write hit is one origin bio" cache_1m
subtest "replicate sync: both legs of a write" replicate sync
subtest "replicate async: the copies" replicate async
rmmod null_blk || fail "rmmod null_blk"
ktap_finished
