#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: blkcg: I/O from a child cgroup is charged (io.stat) to the device it goes to, whatever the path: passthrough, a chain, a deferred chain, a cache hit (the core associates a chained bio only where it leaves)
# TIMEOUT: 300
# REQUIRES: dmsetup
#
# io.stat counts a bio on the (queue, cgroup) its blkg names.  A bio that
# went to a device while associated with another queue, or with another
# cgroup (a worker's), would be counted there instead, and io.max or
# io.weight would not apply to it.  The core associates a bio chained to a
# cache alone only where it leaves (iof-target.c, chain_assoc_late()).
# On 6.1 and 6.12 dm_submit_bio_remap() re-associates every remapped bio
# with the original bio's cgroup, so a missing association in the core
# alone does not show here (checked: it passes without the one in
# map_chain()); what the test guards is the end result on every path.
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter count
load_iofilter cache
CG=/sys/fs/cgroup
if ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then
	mount -t cgroup2 none $CG || ktap_skip "no cgroup2"
fi
grep -qw io $CG/cgroup.controllers || ktap_skip "no io controller"
echo +io > $CG/cgroup.subtree_control || fail "enable the io controller"
mkdir -p $CG/iof-blkcg || fail "cgroup"
# shellcheck disable=SC2317 # the EXIT trap
cleanup() { rmdir $CG/iof-blkcg 2> /dev/null; }
trap cleanup EXIT

# rbytes DEV: bytes the cgroup read from DEV (io.stat; no line: 0)
rbytes() {
	local mm n
	mm=$(printf '%d:%d' "0x$(stat -L -c %t "$1")" "0x$(stat -L -c %T "$1")")
	n=$(awk -v d="$mm" '$1 == d { for (i = 2; i <= NF; i++)
		if ($i ~ /^rbytes=/) print substr($i, 8) }' $CG/iof-blkcg/io.stat)
	echo "${n:-0}"
}

# in_cg CMD...: run CMD in the cgroup
in_cg() {
	(echo "$BASHPID" > $CG/iof-blkcg/cgroup.procs && exec "$@")
}

# charged WHAT DEV: reading 4 MiB of the volume in the cgroup charges DEV
# with at least 4 MiB
charged() {
	local what=$1 dev=$2 b0 b1
	b0=$(rbytes "$dev")
	in_cg dd if="$DEV" of=/dev/null bs=64k count=64 iflag=direct \
		status=none || fail "$what: read"
	b1=$(rbytes "$dev")
	log "$what: $dev charged $((b1 - b0)) bytes"
	[ $((b1 - b0)) -ge $((4 << 20)) ] ||
		fail "$what: $dev charged $((b1 - b0)) bytes, not 4 MiB"
}

iof_volume t-blkcg 16
# the origin's queue must have a blkg for the cgroup before a bio is counted
charged passthrough "$ORIGIN"

a=$(abi create t-blkcg a count) || fail "create count"
abi load t-blkcg action=pass "ops=rw,action=filter,chain=$a" > /dev/null ||
	fail "load chain"
charged chain "$ORIGIN"
[ "$(inst_stat t-blkcg a reads)" -gt 0 ] || fail "count saw no reads"
abi load t-blkcg action=pass > /dev/null
abi remove t-blkcg a || fail "remove count"

d=$(abi create t-blkcg d count defer=1) || fail "create deferring count"
abi load t-blkcg action=pass "ops=rw,action=filter,chain=$d" > /dev/null ||
	fail "load deferring chain"
charged "deferred chain" "$ORIGIN"
abi load t-blkcg action=pass > /dev/null
abi remove t-blkcg d || fail "remove deferring count"
dm_remove t-blkcg

# a cache hit goes to the cache device and is charged there, not to the
# origin
ORIG=$(mkloop 16)
CDEV=$(mkloop 16)
cache_volume t-blkcg-c "$ORIG" "$CDEV" mode=writeback block_size=64KiB ||
	fail "create cache"
dd if=/dev/urandom of="$DEV" bs=64k count=64 oflag=direct status=none ||
	fail "fill the cache"
h0=$(cstat t-blkcg-c read_hits)
o0=$(rbytes "$ORIG")
charged "cache hit" "$CDEV"
[ "$(cstat t-blkcg-c read_hits)" -ge $((h0 + 64)) ] || fail "reads did not hit"
[ "$(rbytes "$ORIG")" = "$o0" ] || fail "cache hits charged to the origin"
abi msg t-blkcg-c c flush > /dev/null || fail "flush"
abi load t-blkcg-c action=pass > /dev/null
abi remove t-blkcg-c c || fail "remove cache"
dm_remove t-blkcg-c
log "ok"
