#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache and replicate are range-exclusive: the kernel refuses rules that let writes, reads or flushes go round them, and a table that unbinds a write-back cache holding dirty blocks; the live table stays
# CHECK: newest-kernel
# TIMEOUT: 180
# REQUIRES: dmsetup
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache replicate
ORIG=$(mkloop 32)
CD=$(mkloop 16)
cache_volume t-ex "$ORIG" "$CD" mode=writeback low_watermark=90 \
	high_watermark=95 || fail "create"
gen() { abi table t-ex | awk '$1 == "generation" { print $2 }'; }

# refused LABEL PATTERN DEFAULT [RULE...]: the load fails with PATTERN in the
# kernel's reason, and the live table is the one before
refused() {
	local what=$1 pat=$2 g
	shift 2
	g=$(gen)
	if abi load t-ex "$@" > /dev/null 2> "$IOF_TMP/err"; then
		fail "$what: loaded"
	fi
	log "$what: $(cat "$IOF_TMP/err")"
	grep -q -- "$pat" "$IOF_TMP/err" || fail "$what: reason: $(cat "$IOF_TMP/err")"
	assert_eq "$g" "$(gen)" "$what: live table generation"
}
C=$CID
M=$((1 << 20))
refused "reads only" "must see all I/O to its range" action=pass \
	"ops=r,action=filter,chain=$C"
refused "no flush" "must see all I/O to its range" action=pass \
	"ops=rwdz,action=filter,chain=$C"
refused "size limit" "must see all I/O to its range" action=pass \
	"ops=rwdzf,max=64K,action=filter,chain=$C"
refused "flags" "must see all I/O to its range" action=pass \
	"ops=rwdzf,clear=f,action=filter,chain=$C"
refused "earlier pass" "takes part of the range" action=pass \
	"start=0,len=1M,ops=rwdzf,action=pass" "ops=rwdzf,action=filter,chain=$C"
refused "earlier write pass" "takes part of the range" action=pass \
	"start=$((4 * M)),len=1M,ops=w,action=pass" \
	"start=0,len=16M,ops=rwdzf,action=filter,chain=$C"
refused "earlier flush deny" "denies flushes" action=pass \
	"start=0,len=1M,ops=f,action=deny" \
	"start=$M,len=$((31 * M)),ops=rwdzf,action=filter,chain=$C"
refused "default" "cannot be the default" "action=filter,chain=$C"

# the live table still sends everything through the cache: a write is cached
wdd "$DEV" 0 65536 || fail "write"
[ "$(cstat t-ex dirty)" -ge 1 ] || fail "write not cached"

# dirty blocks: no table may take any part of the cache's range
dd if=/dev/urandom of="$DEV" bs=1M count=4 oflag=direct conv=fsync status=none ||
	fail "dirty"
dd if="$DEV" bs=1M count=32 iflag=direct status=none > "$IOF_TMP/ref" || fail "ref"
refused "unbind dirty" "flush it first" action=pass
refused "shrink dirty" "flush it first" action=pass \
	"start=0,len=16M,ops=rwdzf,action=filter,chain=$C"
# the same range in two rules is fine
g=$(abi load t-ex action=pass "start=0,len=16M,ops=rwdzf,action=filter,chain=$C" \
	"start=16M,len=16M,ops=rwdzf,action=filter,chain=$C") || fail "same range, two rules"
# flushed: it may go
abi msg t-ex c flush > /dev/null || fail "flush"
assert_eq 0 "$(cstat t-ex dirty)" "dirty after flush"
abi load t-ex action=pass > /dev/null || fail "unbind after flush"
dd if="$DEV" bs=1M count=32 iflag=direct status=none | cmp - "$IOF_TMP/ref" ||
	fail "data after unbind"
abi remove t-ex c || fail "remove"

# replicate: every write, discard, write-zeroes and flush; reads may go round
RP=$(mkloop 32)
MD=$(mkloop 1)
R=$(abi create t-ex rep replicate replica="$RP" metadata="$MD" region_size=64K) ||
	fail "create replicate"
refused "replicate without flush" "every write and flush" action=pass \
	"ops=wdz,action=filter,chain=$R"
refused "replicate with a size limit" "every write and flush" action=pass \
	"ops=wdzf,min=4K,action=filter,chain=$R"
refused "replicate after a write pass" "takes writes of the range" action=pass \
	"start=0,len=1M,ops=w,action=pass" "ops=wdzf,action=filter,chain=$R"
refused "replicate after a flush deny" "denies flushes" action=pass \
	"ops=f,action=deny" "ops=wdzf,action=filter,chain=$R"
refused "replicate default" "cannot be the default" "action=filter,chain=$R"
abi load t-ex action=pass "start=0,len=1M,ops=r,action=pass" \
	"ops=wdzf,action=filter,chain=$R" > /dev/null || fail "replicate after a read pass"
abi load t-ex action=pass > /dev/null
abi remove t-ex rep || fail "remove replicate"
dm_remove t-ex
losetup -d "$ORIG" "$CD" "$RP" "$MD"
exit 0
