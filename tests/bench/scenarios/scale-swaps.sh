#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scale-swaps: cost per I/O against policy swaps per second under load
# (issue 21, goal P3).  Backing: one null_blk (1 GiB, no memory backing),
# through configfs; an iofilter volume over it with an instance "cnt" of
# the example count filter.  Two one-rule tables:
#   A  the first half of the volume goes through cnt, the rest passes
#   B  the second half goes through cnt, the rest passes
# Configurations, one point of the curve each:
#   iof-0      table A, no swaps (the reference)
#   iof-R      a swapper (iof-abi pace) loads A, B, A, ... R times a second
#              (R = 1, 10, 100, 1000) for as long as the stack is up
# Every swap builds a table, publishes it with rcu_assign_pointer() and
# frees the old one once its in-flight bios drained (percpu_ref); the
# swapper runs on the same vCPU as fio, so its CPU time is part of the
# cost per I/O.  stop fails when a load failed or the volume counted an
# I/O error; stats gives the swap rate achieved (the table generation,
# "rate_swaps") and the volume's I/O errors ("delta_io_errors").
# By hand:  scale-swaps.sh up; DEV=$(scale-swaps.sh start iof-1000 | sed -n 's/^DEV=//p')
#           DEV=$DEV RUNTIME=2 fio scale-swaps-randread-qd1.fio; scale-swaps.sh stop iof-1000
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# shellcheck disable=SC2034 # read by guest-bench
ICOUNT_RUNTIME=2	# seconds per point in icount mode (deterministic)
# shellcheck disable=SC2034
NO_ALLOCS=1		# no extra allocation-counting run per point
SIZE_MIB=1024
RATES="1 10 100 1000"
VOL=bench-scale

cmd_configs() {
	local r goal
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		echo "iof-100 iofilter - iofilter, 100 swaps/s"
		return
	fi
	echo "iof-0 base - iofilter, no swaps"
	for r in $RATES; do
		goal=''
		[ "$r" = 1000 ] && goal=:0.97
		echo "iof-$r iofilter iof-0$goal iofilter, $r swaps/s"
	done
}

cmd_up() {
	local dev
	nullb_load
	dev=$(nullb nullb0 "$SIZE_MIB" 0)
	[ -b "$dev" ] || fail "null_blk device missing"
	state_set scale-swaps-dev "$dev"
}

cmd_down() {
	nullb_down nullb0
}

cmd_start() {
	local cfg=$1 origin rate id half a b
	origin=$(state_get scale-swaps-dev)
	[ -b "$origin" ] || fail "no backing device: run '$0 up' first"
	rate=${cfg#iof-}
	case "$cfg" in
	iof-[0-9]*) ;;
	*) fail "unknown configuration $cfg" ;;
	esac
	need_iofilter count
	iof_volume_up "$VOL" "$origin"
	id=$(iof_instance "$VOL" cnt count)
	half=$((SIZE_MIB << 19))
	a="start=0,len=$half,ops=rwdzf,action=filter,chain=$id"
	b="start=$half,len=$half,ops=rwdzf,action=filter,chain=$id"
	iof_load "$VOL" action=pass "$a"
	rm -f "$BENCH_STATE/scale-swaps-pace"*
	if [ "$rate" != 0 ]; then
		echo "+ iof-abi pace $VOL $rate 0 A B &" >&2
		setsid "$IOF_ABI" pace "$VOL" "$rate" 0 "$a" "$b" \
			< /dev/null > "$BENCH_STATE/scale-swaps-pace.out" 2>&1 &
		echo $! > "$BENCH_STATE/scale-swaps-pace.pid"
	fi
	echo "DEV=/dev/mapper/$VOL"
}

cmd_stats() {
	"$IOF_ABI" stats "$VOL" | awk '
		$1 == "clock_us" { print }
		$1 == "generation" { print "rate_swaps", $2 }
		$1 == "vol.errors" { print "delta_io_errors", $2 }'
}

cmd_stop() {
	local pid i out errs=0
	pid=$(cat "$BENCH_STATE/scale-swaps-pace.pid" 2> /dev/null)
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2> /dev/null
		for ((i = 0; i < 100 * BENCH_TSCALE; i++)); do
			kill -0 "$pid" 2> /dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2> /dev/null && fail "the swapper (pid $pid) did not stop"
		out=$(cat "$BENCH_STATE/scale-swaps-pace.out")
		echo "swapper: $out" >&2
		case "$out" in
		*swaps=*" errors=0 "*) ;;
		*) errs=1; echo "the swapper failed: $out" >&2 ;;
		esac
		rm -f "$BENCH_STATE/scale-swaps-pace.pid"
	fi
	if dmsetup info "$VOL" > /dev/null 2>&1; then
		i=$("$IOF_ABI" stats "$VOL" | awk '$1 == "vol.errors" { print $2 }')
		[ "${i:-1}" = 0 ] || { errs=1; echo "the volume counted ${i:-?} I/O errors" >&2; }
	fi
	bench_dm_remove "$VOL"
	[ "$errs" = 0 ] || fail "swaps under load: errors (see above)"
}

bench_main "$@"
