# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the benchmark setup scripts (tests/bench/scenarios/*.sh).
# Sourced by each of them; works inside the VM (run by tests/bench/guest-bench)
# and on any machine where the modules can be loaded (run by hand).
#
# A setup script is run as
#	SCRIPT configs              the configurations: "NAME ROLE COMPARE LABEL..."
#	SCRIPT up                   create the backing devices (once per group)
#	SCRIPT start CONFIG [data]  stack CONFIG on them; prints "DEV=/dev/..."
#	SCRIPT stop CONFIG          take CONFIG down again
#	SCRIPT stats CONFIG         optional "key value" lines (e.g. hit ratio)
#	SCRIPT down                 remove the backing devices
# ROLE is base (measured, compared to nothing), peer (what users would use
# instead) or iofilter; COMPARE, for iofilter configurations, is a comma
# list of PEER[:GOAL[:HITGOAL]][@PATTERN] (GOAL: the ratio the issue asks
# for; HITGOAL: the same for the read hit ratio, where both report one;
# PATTERN: the goals hold only in the scenarios whose name contains it)
# or "-".
# "start" exits 4 with "SKIP: reason" when the configuration cannot run here
# (a filter module not built yet); any other failure exits 1.
# "start CONFIG data" asks for a stack whose backing device stores data
# (iof-lat verifies what it reads); data-bearing groups ignore the word.
# A script whose "data" stack differs has a line "SEPARATE_DATA=1" (the
# quick pass then stacks the configuration twice).
#
# State (device names, keys) lives in $BENCH_STATE (default /tmp/iof-bench).
# A wait for the guest's own work (a resync, bcache stopping) polls up to
# a limit times $BENCH_TSCALE (default 1; guest-bench sets its TSCALE, 10
# in icount mode, where the guest clock may run far ahead of the host's).

: "${IOF_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${IOF_BUILD:=$IOF_ROOT/build}"
: "${IOF_KREL:=$(uname -r)}"
: "${IOF_MODDIR:=$IOF_BUILD/$IOF_KREL}"
: "${BENCH_STATE:=/tmp/iof-bench}"
: "${BENCH_TSCALE:=1}"
export IOF_ROOT IOF_BUILD IOF_KREL IOF_MODDIR BENCH_STATE BENCH_TSCALE
IOF_ABI=${IOF_ABI:-$IOF_BUILD/tests/iof-abi}

# shellcheck source=tests/lib/common.sh
. "$IOF_ROOT/tests/lib/common.sh"

mkdir -p "$BENCH_STATE"

# Everything but the "DEV=" line goes to stderr, so "start" can be read
# by a caller that takes the device from stdout.
run() {
	echo "+ $*" >&2
	"$@" >&2
}

# state_set KEY VALUE / state_get KEY
state_set() { printf '%s\n' "$2" > "$BENCH_STATE/$1"; }
state_get() { cat "$BENCH_STATE/$1" 2> /dev/null; }

# bench_dm NAME TABLE: create a dm device (no udev in the VM).
bench_dm() {
	echo "+ dmsetup create $1: $2" >&2
	dmsetup --noudevsync create "$1" --table "$2" >&2 || fail "dmsetup create $1"
	dmsetup --noudevsync mknodes "$1" >&2
	[ -b "/dev/mapper/$1" ] || fail "/dev/mapper/$1 missing"
}

# bench_dm_remove NAME...: remove dm devices that exist (quietly).
bench_dm_remove() {
	local n
	for n; do
		dmsetup info "$n" > /dev/null 2>&1 || continue
		dmsetup --noudevsync remove --retry "$n" >&2 || fail "dmsetup remove $n"
	done
}

# brd_up COUNT SIZE_MIB: load brd with COUNT RAM disks of SIZE_MIB each and
# write every page once, so no run pays for brd's page allocation.
brd_up() {
	local n=$1 mib=$2 i
	[ -d /sys/module/brd ] && { rmmod brd 2> /dev/null || fail "brd is in use"; }
	modprobe brd rd_nr="$n" rd_size=$((mib * 1024)) max_part=0 ||
		ktap_skip "module brd not available"
	for ((i = 0; i < n; i++)); do
		[ -b "/dev/ram$i" ] || fail "/dev/ram$i missing after modprobe brd"
		dd if=/dev/zero of="/dev/ram$i" bs=1M count="$mib" oflag=direct status=none ||
			fail "fill /dev/ram$i"
	done
}

brd_down() {
	[ -d /sys/module/brd ] || return 0
	rmmod brd || fail "rmmod brd"
}

# nullb_load: (re)load null_blk with no devices and mount configfs.
nullb_load() {
	[ -d /sys/module/null_blk ] && { rmmod null_blk 2> /dev/null || fail "null_blk in use"; }
	modprobe null_blk nr_devices=0 || ktap_skip "module null_blk not available"
	mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
	[ -d /sys/kernel/config/nullb ] || fail "null_blk has no configfs interface"
}

# nullb NAME SIZE_MIB MEMORY_BACKED [COMPLETION_NSEC]: a null_blk device
# through configfs (after nullb_load); prints its /dev node.  Without
# COMPLETION_NSEC requests complete in the submitter's context; with it, a
# timer completes each one that long after submission (a slow disk that,
# unlike dm-delay, supports REQ_NOWAIT as every blk-mq disk does).
nullb() {
	local d=/sys/kernel/config/nullb/$1
	mkdir "$d" || fail "configfs nullb $1"
	echo "$2" > "$d/size"
	echo "$3" > "$d/memory_backed"
	echo 4096 > "$d/blocksize"
	if [ -n "${4:-}" ]; then
		echo 2 > "$d/irqmode"
		echo "$4" > "$d/completion_nsec"
	else
		echo 0 > "$d/irqmode"
	fi
	nproc > "$d/submit_queues" 2> /dev/null
	echo 1 > "$d/power" || fail "power on nullb $1"
	# newer kernels name the disk after the configfs directory
	if [ -b "/dev/$1" ]; then echo "/dev/$1"; else echo "/dev/nullb$(cat "$d/index")"; fi
}

# nullb_down NAME...: remove those null_blk devices, unload null_blk.
nullb_down() {
	local n
	for n; do
		[ -d "/sys/kernel/config/nullb/$n" ] || continue
		echo 0 > "/sys/kernel/config/nullb/$n/power"
		rmdir "/sys/kernel/config/nullb/$n" || fail "remove nullb $n"
	done
	rmmod null_blk 2> /dev/null || true
}

# wipe DEV [MIB]: zero the first MIB (default 1) of DEV (old metadata).
wipe() {
	dd if=/dev/zero of="$1" bs=1M count="${2:-1}" oflag=direct status=none ||
		fail "wipe $1"
}

# need_iofilter [FILTER...]: load iofilter.ko and the filter modules;
# exit 4 (not available) when one is not built for this kernel.
need_iofilter() {
	load_iofilter "$@"
	[ -x "$IOF_ABI" ] || ktap_skip "iof-abi not built (make test-tools)"
}

# iof_volume_up NAME ORIGIN: an iofilter volume NAME over ORIGIN.
iof_volume_up() {
	bench_dm "$1" "0 $(blockdev --getsz "$2") iofilter $2 $1"
}

# iof_instance VOLUME NAME TYPE [--secret-file F] [k=v...]: prints the id.
iof_instance() {
	local id
	echo "+ iof-abi create $*" >&2
	id=$("$IOF_ABI" create "$@") || fail "create instance $2 ($3) on $1"
	echo "$id"
}

# iof_load VOLUME DEFAULT [RULE...]
iof_load() {
	local vol=$1
	echo "+ iof-abi load $vol $2 ($(($# - 2)) rules)" >&2
	"$IOF_ABI" load "$@" > /dev/null || fail "load the table of $vol"
}

# iof_chain_all VOLUME ID: every op on the whole volume goes through ID.
iof_chain_all() {
	local bytes
	bytes=$(($(blockdev --getsz "/dev/mapper/$1") * 512))
	iof_load "$1" action=pass "start=0,len=$bytes,ops=rwdzf,action=filter,chain=$2"
}

# iof_status_of VOLUME INSTANCE KEY: a key=value of the instance status.
iof_status_of() {
	"$IOF_ABI" status "$1" "$2" 2> /dev/null | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# bench_main "$@": dispatch to the script's functions (cmd_configs, cmd_up,
# cmd_start, cmd_stop, cmd_down, cmd_stats).
bench_main() {
	local cmd=${1:-}
	shift || true
	case "$cmd" in
	configs|up|down) "cmd_$cmd" ;;
	start|stop)
		[ -n "${1:-}" ] || { echo "usage: $0 $cmd CONFIG" >&2; exit 2; }
		"cmd_$cmd" "$@" ;;
	stats)
		[ -n "${1:-}" ] || { echo "usage: $0 stats CONFIG" >&2; exit 2; }
		if declare -F cmd_stats > /dev/null; then cmd_stats "$@"; fi ;;
	*)
		echo "usage: $0 configs | up | start CONFIG [data] | stop CONFIG | stats CONFIG | down" >&2
		exit 2 ;;
	esac
}
