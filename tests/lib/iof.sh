# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the iofilter core tests: a volume over a loop device, raw
# control calls through iof-abi, counters.
#   . "$IOF_ROOT/tests/lib/common.sh"; . "$IOF_ROOT/tests/lib/iof.sh"

IOF_ABI=${IOF_ABI:-${IOF_BUILD:-$IOF_ROOT/build}/tests/iof-abi}
[ -x "$IOF_ABI" ] || ktap_skip "iof-abi not built (make test-tools)"

abi() { "$IOF_ABI" "$@"; }

# iof_volume NAME SIZE_MB: loop device + iofilter target; sets ORIGIN, DEV.
iof_volume() {
	local name=$1 size=$2
	ORIGIN=$(mkloop "$size") || exit 1
	dm_create "$name" "0 $((size * 2048)) iofilter $ORIGIN $name" ||
		fail "create $name"
	DEV=/dev/mapper/$name
	[ -b "$DEV" ] || fail "$DEV missing"
}

# stat_of VOLUME KEY [FIELD]: a counter from "iof-abi stats" (FIELD 2 = ios,
# 3 = bytes).
stat_of() {
	abi stats "$1" | awk -v k="$2" -v f="${3:-2}" '$1 == k { print $f }'
}

# inst_stat VOLUME INSTANCE KEY: a key=value of the instance's status.
inst_stat() {
	abi status "$1" "$2" | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# dm_field NAME N: the Nth field of the iofilter status line (1-based,
# after "start len iofilter").
dm_field() {
	dmsetup status "$1" | awk -v n="$2" '{ print $(n + 3) }'
}

# wdd DEV OFFSET_BYTES SIZE_BYTES [dd args]: direct write of random data
wdd() {
	local dev=$1 off=$2 size=$3
	shift 3
	dd if=/dev/urandom of="$dev" bs="$size" count=1 seek="$off" \
		oflag=direct,seek_bytes "$@" status=none 2> "$IOF_TMP/dd.err"
}

# rdd DEV OFFSET_BYTES SIZE_BYTES [OUT]: direct read
rdd() {
	local dev=$1 off=$2 size=$3 out=${4:-/dev/null}
	dd if="$dev" of="$out" bs="$size" count=1 skip="$off" \
		iflag=direct,skip_bytes status=none 2> "$IOF_TMP/dd.err"
}
