#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# replicate: every write to a second device (issue 5's benchmark).
# Backing: three brd RAM disks of 128 MiB: ram0 the primary, ram1 the
# replica, a 4 MiB slice of ram2 the dirty-region metadata.  Configurations:
#   linear       single-leg dm-linear on the primary
#   linear-b     single-leg dm-linear on the replica: with linear, the
#                two-leg yardstick of issue 21's P6 (writing both legs one
#                after the other costs 1/linear + 1/linear-b per I/O; the
#                report's peer "linear+linear-b" is 1 / that sum)
#   dm-raid1     dm "mirror" target over ram0 + ram1, core log, 64 KiB
#                regions, created with nosync (no initial copy running under
#                the benchmark)
#   iof-sync     iofilter replicate, mode=sync, one rule over the whole device
#   iof-async    iofilter replicate, mode=async
# The same five again with the suffix "-1ms", over two memory-backed
# null_blk devices of the same size that complete each request (read,
# write, flush) 1 ms after submission: devices with a latency of their own,
# where the two legs of a mirror overlap.  (A timer in null_blk rather than
# dm-delay: dm-delay does not support REQ_NOWAIT, so io_uring would hand
# every I/O to a worker thread, and its per-I/O timer work is CPU of its
# own.)  On bare brd every copy is guest CPU, so a second leg costs what
# the first does, whatever the design.
# The iofilter configurations wait (60 s at most) for the initial sync that
# a new replica gets before the run starts.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SIZE_MIB=128
REGION=64KiB

DELAY_MS=1

cmd_configs() {
	cat <<-'END'
	linear         peer     -                             dm-linear, one leg
	linear-b       peer     -                             dm-linear on the replica leg
	dm-raid1       peer     -                             dm-raid1 (mirror, core log)
	iof-sync       iofilter linear:0.90,linear+linear-b:0.95,dm-raid1:1.2  iofilter replicate sync
	iof-async      iofilter linear,dm-raid1               iofilter replicate async
	linear-1ms     peer     -                             dm-linear, one leg, 1 ms device
	linear-b-1ms   peer     -                             dm-linear on the replica leg, 1 ms device
	dm-raid1-1ms   peer     -                             dm-raid1, 1 ms devices
	iof-sync-1ms   iofilter linear-1ms:0.90,linear-1ms+linear-b-1ms:0.95,dm-raid1-1ms:1.2  iofilter replicate sync, 1 ms devices
	iof-async-1ms  iofilter linear-1ms,dm-raid1-1ms       iofilter replicate async, 1 ms devices
	END
}

cmd_up() {
	local i dev
	brd_up 3 "$SIZE_MIB"
	modprobe dm-mirror || ktap_skip "module dm-mirror not available"
	nullb_load
	for i in 0 1; do
		dev=$(nullb "nullb$i" "$SIZE_MIB" 1 $((DELAY_MS * 1000000)))
		[ -b "$dev" ] || fail "null_blk device nullb$i missing"
		state_set "repl-slow$i" "$dev"
	done
}

cmd_down() {
	nullb_down nullb0 nullb1
	brd_down
}

# wait_sync VOLUME INSTANCE: until the instance's state is no longer a
# (re)sync, 60 s at most (times BENCH_TSCALE).
wait_sync() {
	local i st
	for ((i = 0; i < 600 * BENCH_TSCALE; i++)); do
		st=$(iof_status_of "$1" "$2" state)
		case "$st" in *sync*ing*|*resync*|*initial*) sleep 0.1 ;; *) return 0 ;; esac
	done
	echo "# $2: still '$st' after $((60 * BENCH_TSCALE)) s; running anyway" >&2
}

cmd_start() {
	local cfg=$1 sz id mode p=/dev/ram0 r=/dev/ram1
	[ -b /dev/ram2 ] || fail "run '$0 up' first"
	case "$cfg" in
	*-1ms)
		cfg=${cfg%-1ms} p=$(state_get repl-slow0) r=$(state_get repl-slow1) ;;
	esac
	sz=$(blockdev --getsz "$p")
	case "$cfg" in
	linear) bench_dm bench-repl "0 $sz linear $p 0" ;;
	linear-b) bench_dm bench-repl "0 $sz linear $r 0" ;;
	dm-raid1)
		bench_dm bench-repl "0 $sz mirror core 2 128 nosync 2 $p 0 $r 0 1 handle_errors" ;;
	iof-sync|iof-async)
		mode=${cfg#iof-}
		need_iofilter replicate
		bench_dm bench-repl-meta "0 8192 linear /dev/ram2 0"
		wipe /dev/mapper/bench-repl-meta 4
		iof_volume_up bench-repl "$p"
		id=$(iof_instance bench-repl rep replicate "replica=$r" "mode=$mode" \
			on_error=degrade metadata=/dev/mapper/bench-repl-meta "region_size=$REGION")
		iof_chain_all bench-repl "$id"
		wait_sync bench-repl rep ;;
	*) fail "unknown configuration $1" ;;
	esac
	echo "DEV=/dev/mapper/bench-repl"
}

cmd_stop() {
	bench_dm_remove bench-repl bench-repl-meta
}

bench_main "$@"
