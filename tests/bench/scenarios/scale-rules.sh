#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scale-rules: cost per I/O against the number of policy rules (issue 21,
# goal P2).  Backing: one null_blk (1 GiB, no memory backing: pure
# overhead), through configfs.  Configurations, one point of the curve each:
#   linear     dm-linear over it (the peer)
#   iof-0      iofilter, empty table (the no-rule fast path)
#   iof-N      iofilter, N range rules (N = 1, 10, 100, 1000, 10000 and
#              16384, IOF_MAX_RULES: the ABI refuses more, so the 100,000
#              point of the goal cannot be loaded)
# The N rules tile the device in equal, disjoint, 4 KiB aligned pieces,
# each "ops=rw,action=pass": every 4 KiB read matches exactly one of them,
# found by the binary search over the table's flattened segments
# (iof-table.c), and is counted in that rule's per-CPU counters.
# By hand:  scale-rules.sh up; DEV=$(scale-rules.sh start iof-1000 | sed -n 's/^DEV=//p')
#           DEV=$DEV RUNTIME=2 fio scale-rules-randread-qd1.fio; scale-rules.sh stop iof-1000
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# shellcheck disable=SC2034 # read by guest-bench
ICOUNT_RUNTIME=2	# seconds per point in icount mode (deterministic)
# shellcheck disable=SC2034
NO_ALLOCS=1		# no extra allocation-counting run per point
SIZE_MIB=1024
POINTS="1 10 100 1000 10000 16384"

cmd_configs() {
	local n goal
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		echo "iof-1000 iofilter - iofilter, 1000 rules"
		return
	fi
	echo "linear   peer     -  dm-linear"
	echo "iof-0    iofilter linear iofilter, no rules"
	for n in $POINTS; do
		goal=''
		[ "$n" = 1000 ] && goal=:0.97
		[ "$n" = 16384 ] && goal=:0.93
		echo "iof-$n iofilter linear$goal iofilter, $n rules"
	done
}

# rules N BYTES: N "ops=rw,action=pass" rules tiling [0, BYTES).
rules() {
	awk -v n="$1" -v bytes="$2" 'BEGIN {
		stride = int(bytes / n / 4096) * 4096
		for (i = 0; i < n; i++) printf "start=%d,len=%d,ops=rw,action=pass\n", i * stride, stride
	}'
}

cmd_up() {
	local dev n
	nullb_load
	dev=$(nullb nullb0 "$SIZE_MIB" 0)
	[ -b "$dev" ] || fail "null_blk device missing"
	state_set scale-rules-dev "$dev"
	for n in $POINTS; do
		rules "$n" $((SIZE_MIB << 20)) > "$BENCH_STATE/scale-rules-$n"
	done
}

cmd_down() {
	nullb_down nullb0
}

cmd_start() {
	local cfg=$1 origin n r
	origin=$(state_get scale-rules-dev)
	[ -b "$origin" ] || fail "no backing device: run '$0 up' first"
	case "$cfg" in
	linear) bench_dm bench-scale "0 $(blockdev --getsz "$origin") linear $origin 0" ;;
	iof-*)
		n=${cfg#iof-}
		# shellcheck disable=SC2119 # no filter module needed
		need_iofilter
		iof_volume_up bench-scale "$origin"
		if [ "$n" != 0 ]; then
			mapfile -t r < "$BENCH_STATE/scale-rules-$n" || fail "no rule set: run '$0 up'"
			iof_load bench-scale action=pass "${r[@]}"
		fi ;;
	*) fail "unknown configuration $cfg" ;;
	esac
	echo "DEV=/dev/mapper/bench-scale"
}

cmd_stop() {
	bench_dm_remove bench-scale
}

bench_main "$@"
