#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scale-volumes: cost per I/O against the number of volumes on one host
# (issue 21).  Backing: 64 null_blk devices (64 MiB each, no memory
# backing), through configfs.  Configurations, one point of the curve each:
#   linear-N   N dm-linear volumes, one over each of N null_blk devices
#   iof-N      N iofilter volumes, each with its own table of one range
#              rule over the whole volume ("ops=rw,action=pass": every read
#              is looked up and matches it), one over each null_blk device
# for N = 1, 2, 4, 8, 16, 32, 64.  The fio job runs one job per volume
# (numjobs=N, each on /dev/mapper/bench-svJ), 4 KiB random reads at QD1
# each; IOPS are the sum, the cost per I/O counts the I/Os of all N.
# start prints NJOBS=N (fio's numjobs) and DEVS=... (every volume: the
# sampler sums their I/O counts).
# By hand:  scale-volumes.sh up; eval "$(scale-volumes.sh start iof-8)"
#           DEV=$DEV NJOBS=$NJOBS RUNTIME=2 fio scale-volumes-randread-qd1.fio
#           scale-volumes.sh stop iof-8; scale-volumes.sh down
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# shellcheck disable=SC2034 # read by guest-bench
ICOUNT_RUNTIME=2	# seconds per point in icount mode (deterministic)
# shellcheck disable=SC2034
NO_ALLOCS=1		# no extra allocation-counting run per point
NDEV=64
[ "${BENCH_QUICK:-0}" = 1 ] && NDEV=4	# the quick pass stacks 4 volumes only
SIZE_MIB=64
POINTS="1 2 4 8 16 32 64"

cmd_configs() {
	local n
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		echo "iof-4 iofilter - iofilter, 4 volumes"
		return
	fi
	for n in $POINTS; do
		echo "linear-$n peer - dm-linear, $n volumes"
		echo "iof-$n iofilter linear-$n iofilter, $n volumes"
	done
}

cmd_up() {
	local i dev devs=()
	nullb_load
	for ((i = 0; i < NDEV; i++)); do
		dev=$(nullb "nullb$i" "$SIZE_MIB" 0)
		[ -b "$dev" ] || fail "null_blk device $i missing"
		devs+=("$dev")
	done
	state_set scale-volumes-devs "${devs[*]}"
}

cmd_down() {
	local i names=()
	for ((i = 0; i < NDEV; i++)); do names+=("nullb$i"); done
	nullb_down "${names[@]}"
}

cmd_start() {
	local cfg=$1 n i origins out=()
	read -r -a origins <<< "$(state_get scale-volumes-devs)"
	[ "${#origins[@]}" = "$NDEV" ] || fail "no backing devices: run '$0 up' first"
	n=${cfg##*-}
	case "$cfg" in
	linear-*|iof-*)
		if [ "$n" -lt 1 ] || [ "$n" -gt "$NDEV" ]; then fail "unknown configuration $cfg"; fi ;;
	*) fail "unknown configuration $cfg" ;;
	esac
	# shellcheck disable=SC2119 # no filter module needed
	[ "${cfg%-*}" = iof ] && need_iofilter
	for ((i = 0; i < n; i++)); do
		if [ "${cfg%-*}" = iof ]; then
			iof_volume_up "bench-sv$i" "${origins[$i]}"
			iof_load "bench-sv$i" action=pass \
				"start=0,len=$((SIZE_MIB << 20)),ops=rw,action=pass"
		else
			bench_dm "bench-sv$i" "0 $(blockdev --getsz "${origins[$i]}") linear ${origins[$i]} 0"
		fi
		out+=("/dev/mapper/bench-sv$i")
	done
	echo "NJOBS=$n"
	echo "DEVS=${out[*]}"
	echo "DEV=/dev/mapper/bench-sv0"
}

cmd_stop() {
	local i names=()
	for ((i = 0; i < NDEV; i++)); do names+=("bench-sv$i"); done
	bench_dm_remove "${names[@]}"
}

bench_main "$@"
