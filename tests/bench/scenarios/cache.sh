#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cache: a fast cache in front of a slow origin (issue 6's benchmark).
# Backing: the origin is a memory-backed null_blk of 256 MiB that completes
# each request 2 ms after submission (a slow disk; a timer, not dm-delay,
# because dm-delay does not support REQ_NOWAIT, and a stack over it makes
# io_uring hand every I/O to a worker thread, hit or miss), seen through a
# dm-linear (bench-slow) as the cache device is; the cache is a 64 MiB
# dm-linear slice of a brd RAM disk (cdata), with an 8 MiB slice before it
# (cmeta) for dm-cache's metadata.  Every start wipes the cache slices, so
# each run starts cold and the warm-up job (NAME.warmup.fio) fills it.
#   origin         dm-linear over the slow origin: no cache at all
#   cache-linear   dm-linear over the cache slice (the hit path's yardstick)
#   dm-cache       dm-cache, smq, writeback, 32 KiB blocks (its minimum)
#   dm-writecache  dm-writecache, ssd mode, 4 KiB blocks
#   bcache         bcache, writeback, 4 KiB blocks, 64 KiB buckets (when make-bcache and
#                  the bcache module are there)
#   iof-cache      iofilter cache, mode=writeback, block_size=4KiB, one rule
#                  over the whole device
# "stats CONFIG" prints read hit/miss counters where the cache has them.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SIZE_MIB=256
CACHE_MIB=64
META_MIB=8
DELAY_MS=${CACHE_ORIGIN_DELAY_MS:-2}
IOF_CACHE_MODE=${IOF_CACHE_MODE:-writeback}

cmd_configs() {
	cat <<-'END'
	origin         base     -                                    slow origin, no cache
	cache-linear   base     -                                    dm-linear on the cache device
	dm-cache       peer     -                                    dm-cache smq
	dm-writecache  peer     -                                    dm-writecache
	bcache         peer     -                                    bcache
	iof-cache      iofilter dm-cache::1.0,dm-writecache:1.0@randwrite-wb,bcache,cache-linear:0.95@hit  iofilter cache
	END
}

cmd_up() {
	local origin
	brd_up 1 $((META_MIB + CACHE_MIB))
	nullb_load
	origin=$(nullb nullb0 "$SIZE_MIB" 1 $((DELAY_MS * 1000000)))
	[ -b "$origin" ] || fail "null_blk origin missing"
	modprobe dm-cache-smq 2> /dev/null
	modprobe dm-writecache 2> /dev/null
	bench_dm bench-slow "0 $(blockdev --getsz "$origin") linear $origin 0"
	bench_dm bench-cmeta "0 $((META_MIB * 2048)) linear /dev/ram0 0"
	bench_dm bench-cdata "0 $((CACHE_MIB * 2048)) linear /dev/ram0 $((META_MIB * 2048))"
}

cmd_down() {
	bench_dm_remove bench-cdata bench-cmeta bench-slow
	nullb_down nullb0
	brd_down
}

# bcache_dev: the bcache device over the origin, if registered.
bcache_dev() {
	local d
	for d in /sys/block/bcache*; do
		[ -e "$d" ] && { echo "/dev/${d##*/}"; return; }
	done
}

bcache_stop() {
	local d u i
	for d in /sys/block/bcache*/bcache; do
		[ -e "$d/stop" ] && echo 1 > "$d/stop"
	done
	for u in /sys/fs/bcache/*-*; do
		[ -e "$u/stop" ] && echo 1 > "$u/stop"
	done
	for ((i = 0; i < 100 * BENCH_TSCALE; i++)); do
		ls -d /sys/fs/bcache/*-* /sys/block/bcache* > /dev/null 2>&1 || return 0
		sleep 0.1
	done
	fail "bcache did not stop"
}

cmd_start() {
	local cfg=$1 sz id dev d
	[ -b /dev/mapper/bench-cdata ] || fail "run '$0 up' first"
	sz=$(blockdev --getsz /dev/mapper/bench-slow)
	wipe /dev/mapper/bench-cmeta
	wipe /dev/mapper/bench-cdata
	wipe /dev/mapper/bench-slow
	case "$cfg" in
	origin) bench_dm bench-cache "0 $sz linear /dev/mapper/bench-slow 0" ;;
	cache-linear) bench_dm bench-cache "0 $((CACHE_MIB * 2048)) linear /dev/mapper/bench-cdata 0" ;;
	dm-cache)
		[ -d /sys/module/dm_cache_smq ] || ktap_skip "module dm-cache-smq not available"
		bench_dm bench-cache "0 $sz cache /dev/mapper/bench-cmeta /dev/mapper/bench-cdata /dev/mapper/bench-slow 64 1 writeback smq 0" ;;
	dm-writecache)
		[ -d /sys/module/dm_writecache ] || ktap_skip "module dm-writecache not available"
		bench_dm bench-cache "0 $sz writecache s /dev/mapper/bench-slow /dev/mapper/bench-cdata 4096 0" ;;
	bcache)
		need_cmd make-bcache
		modprobe bcache 2> /dev/null || ktap_skip "module bcache not available"
		run make-bcache --wipe-bcache --writeback --block 4k --bucket 64k \
			-B /dev/mapper/bench-slow -C /dev/mapper/bench-cdata || fail "make-bcache"
		echo /dev/mapper/bench-cdata > /sys/fs/bcache/register || fail "register the cache"
		echo /dev/mapper/bench-slow > /sys/fs/bcache/register || fail "register the origin"
		for ((i = 0; i < 50 * BENCH_TSCALE; i++)); do
			dev=$(bcache_dev)
			[ -n "$dev" ] && [ -b "$dev" ] && break
			sleep 0.1
		done
		[ -n "$dev" ] && [ -b "$dev" ] || fail "no bcache device after registration"
		d=/sys/block/${dev#/dev/}/bcache
		[ "$(cat "$d/state")" != "no cache" ] || fail "bcache: the cache did not attach"
		# bcache otherwise bypasses the cache when it thinks it is slow
		for u in /sys/fs/bcache/*-*; do
			echo 0 > "$u/congested_read_threshold_us"
			echo 0 > "$u/congested_write_threshold_us"
		done
		echo "DEV=$dev"
		return ;;
	iof-cache)
		need_iofilter cache
		iof_volume_up bench-cache /dev/mapper/bench-slow
		id=$(iof_instance bench-cache c0 cache cache_dev=/dev/mapper/bench-cdata \
			block_size=4KiB "mode=$IOF_CACHE_MODE")
		iof_chain_all bench-cache "$id" ;;
	*) fail "unknown configuration $cfg" ;;
	esac
	echo "DEV=/dev/mapper/bench-cache"
}

cmd_stop() {
	case "$1" in
	bcache) bcache_stop ;;
	*) bench_dm_remove bench-cache ;;
	esac
}

cmd_stats() {
	local h m dev
	case "$1" in
	dm-cache)
		dmsetup status bench-cache 2> /dev/null |
			awk '{ print "read_hits", $8; print "read_misses", $9 }' ;;
	bcache)
		dev=$(bcache_dev)
		[ -n "$dev" ] || return 0
		echo "read_hits $(cat "/sys/block/${dev#/dev/}/bcache/stats_total/cache_hits")"
		echo "read_misses $(cat "/sys/block/${dev#/dev/}/bcache/stats_total/cache_misses")"
		;;
	iof-cache)
		h=$(iof_status_of bench-cache c0 read_hits)
		m=$(iof_status_of bench-cache c0 read_misses)
		if [ -z "$h" ]; then
			h=$(iof_status_of bench-cache c0 hits)
			m=$(iof_status_of bench-cache c0 misses)
		fi
		[ -n "$h" ] && [ -n "$m" ] && printf 'read_hits %s\nread_misses %s\n' "$h" "$m"
		;;
	esac
	return 0
}

bench_main "$@"
