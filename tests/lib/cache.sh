# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the cache filter tests (tests/vm/t/5*-cache-*.sh).
#   . common.sh; . iof.sh; . cache.sh

# cache_volume NAME ORIGIN CACHE_DEV [PARAM=VALUE...]: an iofilter volume
# over ORIGIN with a cache instance "c" that gets every read, write, discard
# and flush.  Sets DEV and CID.  Returns 1 (with the kernel's reason on
# stderr) when the instance is refused.
cache_volume() {
	local name=$1 origin=$2 cdev=$3
	shift 3
	dm_create "$name" "0 $(dev_sectors "$origin") iofilter $origin $name" ||
		fail "create $name"
	# shellcheck disable=SC2034 # for the caller
	DEV=/dev/mapper/$name
	CID=$(abi create "$name" c cache cache_dev="$cdev" "$@") || return 1
	abi load "$name" action=pass "ops=rwdzf,action=filter,chain=$CID" \
		> /dev/null || fail "load rules on $name"
}

# cstat NAME KEY: a field of the cache instance's status
cstat() {
	inst_stat "$1" c "$2"
}

# cache_settle NAME: wait until promotions and writeback stop moving
cache_settle() {
	local a b _
	for _ in $(seq 1 60); do
		a="$(cstat "$1" promotions)/$(cstat "$1" writebacks)"
		sleep 0.5
		b="$(cstat "$1" promotions)/$(cstat "$1" writebacks)"
		[ "$a" = "$b" ] && return 0
	done
	fail "cache on $1 did not settle"
}

# read_all DEV MB: direct read of the first MB MiB
read_all() {
	dd if="$1" of=/dev/null bs=1M count="$2" iflag=direct status=none ||
		fail "read $1"
}

# same_data A B MB: the first MB MiB of A and B are identical
same_data() {
	cmp <(dd if="$1" bs=1M count="$3" iflag=direct status=none) \
		<(dd if="$2" bs=1M count="$3" iflag=direct status=none) ||
		fail "$1 and $2 differ"
}
