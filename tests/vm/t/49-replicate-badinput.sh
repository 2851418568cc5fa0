#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate: bad parameters and devices are refused with a clear message (missing/small/busy/read-only replica, replica = origin, wrong metadata)
# TIMEOUT: 300
# REQUIRES: dmsetup
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

# refused CREATE-ARGS... MESSAGE: create fails and says MESSAGE
refused() {
	local want=${*: -1} out
	out=$(abi create $vol bad replicate "${@:1:$#-1}" 2>&1) &&
		fail "accepted: ${*:1:$#-1}"
	log "refused: $out"
	case "$out" in *"$want"*) ;; *) fail "message '$out' lacks '$want'" ;; esac
}

refused metadata="$meta" "replica=<block device> is required"
refused replica="$repl" "metadata=<block device> is required"
refused replica=/dev/nosuchdev metadata="$meta" "not a block device"
refused replica="$IOF_TMP" metadata="$meta" "not a block device"
refused replica="$ORIGIN" metadata="$meta" "is the volume's origin"
refused replica="$small" metadata="$meta" "smaller than the volume"
refused replica="$repl" metadata="$repl" "is the replica"
refused replica="$repl" metadata="$ORIGIN" "is the volume's origin"
refused replica="$repl" metadata="$meta" mode=semi "mode must be sync or async"
refused replica="$repl" metadata="$meta" on_error=ignore "on_error must be degrade or fail"
refused replica="$repl" metadata="$meta" region_size=3K "region_size must be a power of two"
refused replica="$repl" metadata="$meta" region_size=2048 "region_size must be a power of two"
refused replica="$repl" metadata="$meta" region_size=64Q "region_size must be a power of two"
refused replica="$repl" metadata="$meta" max_lag=1M "max_lag applies to mode=async only"
refused replica="$repl" metadata="$meta" mode=async max_lag=12 "max_lag must be"
refused replica="$repl" metadata="$meta" target=/dev/x "unknown parameter 'target'"
refused replica="$repl" metadata="$meta" mode=sync mode=async "given twice"

# a replica another device holds is busy
dm_create t-rep-hold "0 $(dev_sectors "$repl") linear $repl 0" || fail "holder"
refused replica="$repl" metadata="$meta" "in use"
dm_remove t-rep-hold
# read-only replica
ro=$(losetup -r -f --show "$(losetup -nO BACK-FILE "$repl")") || fail "losetup -r"
refused replica="$ro" metadata="$meta" "read-only"
losetup -d "$ro"

# metadata: too small, foreign data, another volume's
truncate -s 4096 "$IOF_TMP/tiny.img"
tiny=$(losetup -f --show "$IOF_TMP/tiny.img")
refused replica="$repl" metadata="$tiny" region_size=4K "too small"
losetup -d "$tiny"
dd if=/dev/urandom of="$meta" bs=4096 count=1 oflag=direct status=none
refused replica="$repl" metadata="$meta" "not zeroed"
dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct status=none
abi create $vol good replicate replica="$repl" metadata="$meta" > /dev/null || fail "good create"
rep_wait $vol good state in-sync 60
# the same devices cannot serve a second instance
refused replica="$repl" metadata="$small" "in use"
abi remove $vol good || fail "remove"
refused replica="$repl" metadata="$meta" region_size=128K "formatted with region_size"
iof_volume t-rep-bad2 16
abi create t-rep-bad2 x replicate replica="$repl" metadata="$meta" > "$IOF_TMP/out" 2>&1 &&
	fail "metadata of another volume accepted"
grep -q "belongs to volume $vol" "$IOF_TMP/out" || fail "message: $(cat "$IOF_TMP/out")"
# nothing was left behind by the refusals
assert_eq "" "$(abi status $vol bad 2>/dev/null)" "a refused instance exists"
dm_remove t-rep-bad2
dm_remove $vol
losetup -d "$repl" "$small" "$meta" "$orig1" "$ORIGIN"
rmmod iofilter_replicate || fail "rmmod"
exit 0
