#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: policy rules: each match field and action, first match wins, default action, counters (one KTAP subtest each)
# TIMEOUT: 300
# REQUIRES: dmsetup ionice blkdiscard
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter count
iof_volume t-rules 64
M=$((1 << 20))
c=$(abi create t-rules c count) || fail "create"
cnt() { inst_stat t-rules c "$1"; }
reset() { abi msg t-rules c reset > /dev/null || fail "reset the counters"; }
# load DEFAULT RULE...: a new table, or the subtest fails
load() { abi load t-rules "$@" > /dev/null || fail "load: $*"; }

# Each subtest loads its own table; they share the volume and the instance.
first_match() {
	load action=pass "start=0,len=1M,ops=w,action=deny,name=boot" \
		"start=0,len=2M,ops=rw,action=pass"
	expect_fail wdd "$DEV" 0 4096
	expect_fail wdd "$DEV" $((M - 4096)) 8192	# crosses the end of the rule
	wdd "$DEV" "$M" 4096 || fail "write beyond the denied range"
	rdd "$DEV" 0 4096 || fail "read of the denied range (writes only)"
	[ "$(stat_of t-rules vol.denied)" -ge 2 ] || fail "denied not counted"
	[ "$(stat_of t-rules rule0.write)" -ge 2 ] || fail "rule counter"
	dmesg | grep -q "t-rules: denied" || fail "no log line for a denial"
}

deny_reads() {
	load action=pass "start=4M,len=1M,ops=r,action=deny"
	expect_fail rdd "$DEV" $((4 * M)) 4096
	wdd "$DEV" $((4 * M)) 4096 || fail "write where only reads are denied"
}

request_size() {
	load action=pass "ops=w,min=64K,action=deny"
	wdd "$DEV" 0 4096 || fail "small write"
	expect_fail wdd "$DEV" 0 128K
	load action=pass "ops=w,max=8K,action=deny"
	expect_fail wdd "$DEV" 0 4096
	wdd "$DEV" 0 64K || fail "large write"
}

# O_DIRECT writes are REQ_SYNC
sync_flag() {
	load action=pass "ops=w,set=s,action=deny"
	expect_fail wdd "$DEV" 0 4096
	rdd "$DEV" 0 4096 || fail "read denied by a write rule"
	load action=pass "ops=w,clear=s,action=deny"
	wdd "$DEV" 0 4096 || fail "sync write with clear=sync"
}

# buffered reads bring readahead bios
readahead_flag() {
	load action=pass "ops=r,set=a,action=filter,chain=$c"
	reset
	rdd "$DEV" 0 4096 || fail "direct read"
	assert_eq 0 "$(cnt reads)" "direct reads counted as readahead"
	blockdev --flushbufs "$DEV"
	dd if="$DEV" of=/dev/null bs=4k count=256 status=none || fail "buffered read"
	[ "$(cnt reads)" -ge 1 ] || fail "readahead not matched"
}

ioprio_class() {
	load action=pass "ops=r,prio=r,action=deny"
	expect_fail ionice -c1 -n0 dd if="$DEV" of=/dev/null bs=4k count=1 iflag=direct status=none
	ionice -c2 -n0 dd if="$DEV" of=/dev/null bs=4k count=1 iflag=direct status=none ||
		fail "best-effort read refused"
}

discard_and_zeroes() {
	load action=pass "start=8M,len=8M,ops=d,action=deny"
	expect_fail blkdiscard -o $((8 * M)) -l "$M" "$DEV"
	blkdiscard -o $((16 * M)) -l "$M" "$DEV" || fail "discard outside the rule"
	load action=pass "ops=z,action=filter,chain=$c"
	reset
	if blkdiscard -z -o $((16 * M)) -l "$M" "$DEV"; then
		if [ "$(cat /sys/block/"$(basename "$(readlink -f "$DEV")")"/queue/write_zeroes_max_bytes)" -gt 0 ]; then
			[ "$(cnt write_zeroes)" -ge 1 ] || fail "write zeroes not matched"
		fi
	fi
	cmp -n "$M" -i $((16 * M)):0 "$DEV" /dev/zero || fail "zeroed range not zero"
}

# flushes reach the instances of flush rules
flush_rule() {
	load action=pass "start=0,len=1M,ops=wf,action=filter,chain=$c"
	reset
	# fsync of the block device sends an empty REQ_PREFLUSH bio
	wdd "$DEV" 0 4096 conv=fsync || fail "write + fsync"
	[ "$(cnt flushes)" -ge 1 ] || fail "flush did not reach the instance"
}

# deny everything but one passing range
default_action() {
	load action=deny "start=32M,len=1M,ops=rwdzf,action=pass"
	expect_fail rdd "$DEV" 0 4096
	rdd "$DEV" $((32 * M)) 4096 || fail "read in the passing range"
	[ "$(stat_of t-rules default.read)" -ge 1 ] || fail "default counter"
}

# a 2 MiB write across a 64 KiB filtered window, data verified
splitting() {
	local s0
	load action=pass "start=$((M + 4096)),len=64K,ops=rwdzf,action=filter,chain=$c"
	reset
	s0=$(stat_of t-rules vol.splits)
	dd if=/dev/urandom of="$IOF_TMP/pat" bs=2M count=1 status=none
	dd if="$IOF_TMP/pat" of="$DEV" bs=2M count=1 oflag=direct status=none || fail "split write"
	assert_eq $((64 * 1024)) "$(cnt write_bytes)" "bytes seen by the filter"
	[ "$(stat_of t-rules vol.splits)" -gt "$s0" ] || fail "no split counted"
	dd if="$DEV" of="$IOF_TMP/back" bs=2M count=1 iflag=direct status=none
	cmp "$IOF_TMP/pat" "$IOF_TMP/back" || fail "data across the split differs"
	cmp -n $((2 * M)) "$IOF_TMP/pat" "$ORIGIN" || fail "origin differs"
	assert_eq $((64 * 1024)) "$(cnt read_bytes)" "read bytes seen by the filter"
}

# a table of 10,000 range rules: loads, looks up, reads back
many_rules() {
	local rules=() i
	for i in $(seq 0 9999); do rules+=("start=$((i * 4096)),len=2048,ops=w,action=deny"); done
	load action=pass "${rules[@]}"
	expect_fail wdd "$DEV" $((5000 * 4096)) 512
	wdd "$DEV" $((5000 * 4096 + 2048)) 2048 || fail "write between rules"
}

ktap_plan 11
subtest "first match wins: deny writes in a range, pass after it" first_match
subtest "ops: deny reads only" deny_reads
subtest "size: min and max" request_size
subtest "flags: set=sync and clear=sync" sync_flag
subtest "flags: set=readahead" readahead_flag
subtest "ioprio class" ioprio_class
subtest "discard and write zeroes" discard_and_zeroes
subtest "flushes reach a flush rule's chain" flush_rule
subtest "default action" default_action
subtest "a bio split at a rule's edges, data verified" splitting
subtest "10,000 range rules" many_rules

load action=pass
abi remove t-rules c || fail "remove the instance"
dm_remove t-rules
ktap_finished
