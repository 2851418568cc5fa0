#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate: bad parameters and devices are refused with a clear message (missing/small/busy/read-only replica, replica = origin, wrong metadata), nothing left behind (one KTAP subtest each)
# TIMEOUT: 300
# REQUIRES: dmsetup
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
vol=t-rep-bad
iof_volume $vol 16
orig1=$ORIGIN
repl=$(mkloop 16)
small=$(mkloop 8)
meta=$(mkloop 1)

# refused CREATE-ARGS... MESSAGE: create fails and says MESSAGE (the tool
# run directly, not through abi(): one process less per refusal)
refused() {
	local want=${*: -1} out
	out=$("$IOF_ABI" create "$vol" bad replicate "${@:1:$#-1}" 2>&1) &&
		fail "accepted: ${*:1:$#-1}"
	log "refused: $out"
	case "$out" in *"$want"*) ;; *) fail "message '$out' lacks '$want'" ;; esac
}

# ---- parameters
required() {
	refused metadata="$meta" "replica=<block device> is required"
	refused replica="$repl" "metadata=<block device> is required"
}

not_block_device() {
	refused replica=/dev/nosuchdev metadata="$meta" "not a block device"
	refused replica="$IOF_TMP" metadata="$meta" "not a block device"
}

replica_device() {
	refused replica="$orig1" metadata="$meta" "is the volume's origin"
	refused replica="$small" metadata="$meta" "smaller than the volume"
}

metadata_device() {
	refused replica="$repl" metadata="$repl" "is the replica"
	refused replica="$repl" metadata="$orig1" "is the volume's origin"
}

mode_on_error() {
	refused replica="$repl" metadata="$meta" mode=semi "mode must be sync or async"
	refused replica="$repl" metadata="$meta" on_error=ignore "on_error must be degrade or fail"
}

region_size() {
	refused replica="$repl" metadata="$meta" region_size=3K "region_size must be a power of two"
	refused replica="$repl" metadata="$meta" region_size=2048 "region_size must be a power of two"
	refused replica="$repl" metadata="$meta" region_size=64Q "region_size must be a power of two"
}

max_lag() {
	refused replica="$repl" metadata="$meta" max_lag=1M "max_lag applies to mode=async only"
	refused replica="$repl" metadata="$meta" mode=async max_lag=12 "max_lag must be"
}

unknown_twice() {
	refused replica="$repl" metadata="$meta" target=/dev/x "unknown parameter 'target'"
	refused replica="$repl" metadata="$meta" mode=sync mode=async "given twice"
}

# ---- devices
# a replica another device holds is busy
replica_busy() {
	dm_create t-rep-hold "0 $(dev_sectors "$repl") linear $repl 0" || fail "holder"
	refused replica="$repl" metadata="$meta" "in use"
	dm_remove t-rep-hold
}

replica_read_only() {
	local ro
	ro=$(losetup -r -f --show "$(losetup -nO BACK-FILE "$repl")") || fail "losetup -r"
	refused replica="$ro" metadata="$meta" "read-only"
	losetup -d "$ro"
}

# ---- metadata: too small, foreign data, another instance's, another volume's
metadata_small() {
	local tiny
	truncate -s 4096 "$IOF_TMP/tiny.img"
	tiny=$(losetup -f --show "$IOF_TMP/tiny.img")
	refused replica="$repl" metadata="$tiny" region_size=4K "too small"
	losetup -d "$tiny"
}

metadata_foreign() {
	dd if=/dev/urandom of="$meta" bs=4096 count=1 oflag=direct status=none
	refused replica="$repl" metadata="$meta" "not zeroed"
	dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct status=none
}

# the same devices cannot serve a second instance; the metadata stays
# formatted for the next two subtests
second_instance() {
	abi create "$vol" good replicate replica="$repl" metadata="$meta" > /dev/null || fail "good create"
	rep_wait "$vol" good state in-sync 60
	refused replica="$repl" metadata="$small" "in use"
	abi remove "$vol" good || fail "remove"
}

metadata_region_size() {
	refused replica="$repl" metadata="$meta" region_size=128K "formatted with region_size"
}

metadata_other_volume() {
	iof_volume t-rep-bad2 16
	ktap_keep ORIGIN
	abi create t-rep-bad2 x replicate replica="$repl" metadata="$meta" > "$IOF_TMP/out" 2>&1 &&
		fail "metadata of another volume accepted"
	grep -q "belongs to volume $vol" "$IOF_TMP/out" || fail "message: $(cat "$IOF_TMP/out")"
}

# nothing was left behind by the refusals
nothing_left() {
	assert_eq "" "$(abi status "$vol" bad 2>/dev/null)" "a refused instance exists"
}

ktap_plan 16
subtest "replica= and metadata= are required" required
subtest "a replica that is not a block device (missing, a directory)" not_block_device
subtest "a replica that is the volume's origin or smaller than the volume" replica_device
subtest "metadata on the replica or on the volume's origin" metadata_device
subtest "mode and on_error: unknown values" mode_on_error
subtest "region_size not a power of two (3K, 2048, 64Q)" region_size
subtest "max_lag: with mode=sync, too small" max_lag
subtest "an unknown parameter, a parameter given twice" unknown_twice
subtest "a replica another device holds: in use" replica_busy
subtest "a read-only replica" replica_read_only
subtest "metadata too small" metadata_small
subtest "metadata with foreign data: not zeroed" metadata_foreign
subtest "a live instance's replica: in use by a second instance" second_instance
subtest "metadata formatted with another region_size" metadata_region_size
subtest "metadata of another volume" metadata_other_volume
subtest "no refused instance left behind" nothing_left

dm_remove t-rep-bad2
dm_remove $vol
losetup -d "$repl" "$small" "$meta" "$orig1" "$ORIGIN"
rmmod iofilter_replicate || fail "rmmod"
ktap_finished
