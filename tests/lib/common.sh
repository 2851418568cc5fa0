# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the VM tests (tests/vm/t/*.sh); see tests/README.md.
#   . "$IOF_ROOT/tests/lib/common.sh"
# Exit codes (kselftest): 0 pass, 1 fail, 4 skip; 75 asks the runner for a
# reboot (the test runs again with IOF_PHASE incremented).
# Everything a test leaves behind (dm devices, loop devices, mounts under
# IOF_TMP, iofilter modules, processes) is cleaned by the runner afterwards, but
# a test should clean up after itself: the runner logs what it had to clean.

set -u
# The VM has no udev: libdevmapper creates the /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1

readonly IOF_EXIT_SKIP=4 IOF_EXIT_REBOOT=75
: "${IOF_TMP:=/tmp}" "${IOF_PHASE:=1}"

log() { echo "# $*"; }
ktap_skip() { echo "SKIP: $*"; exit $IOF_EXIT_SKIP; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# run CMD...: log the command, run it, return its status.
run() {
	echo "+ $*"
	"$@"
}

need_cmd() {
	local c
	for c; do
		command -v "$c" > /dev/null || ktap_skip "command $c not found"
	done
}

need_module() {
	local m
	for m; do
		modprobe "$m" 2> /dev/null || ktap_skip "module $m not available"
	done
}

# load_iofilter [FILTER...]: insmod $IOF_MODDIR/iofilter.ko and the named
# filter modules (iofilter-FILTER.ko; "iofilter-FILTER" works too), loading
# their in-tree dependencies first.  Skips when a module is not built yet.
load_iofilter() {
	local f ko mod dep
	for f in iofilter "$@"; do
		case "$f" in iofilter|iofilter-*) ;; *) f=iofilter-$f ;; esac
		ko=$IOF_MODDIR/$f.ko
		[ -f "$ko" ] || ktap_skip "$f.ko not built for ${IOF_KREL:-this kernel}"
		mod=${f//-/_}
		[ -d "/sys/module/$mod" ] && continue
		for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do
			[ -d "/sys/module/$dep" ] || [ -f "$IOF_MODDIR/${dep//_/-}.ko" ] ||
				need_module "$dep"
		done
		run insmod "$ko" || fail "insmod $ko"
	done
}

# mkloop SIZE_MB [FILE]: sparse backing file (default in IOF_TMP), prints the
# loop device.
mkloop() {
	local size=$1 file=${2:-} dev
	need_module loop
	[ -n "$file" ] || file=$(mktemp "$IOF_TMP/loop.XXXXXX.img")
	truncate -s "${size}M" "$file" || fail "truncate $file"
	dev=$(losetup -f --show "$file") || fail "losetup $file"
	echo "$dev"
}

# dm_create NAME TABLE
dm_create() {
	local name=$1 table=$2
	echo "+ dmsetup create $name: $table"
	dmsetup --noudevsync create "$name" --table "$table" || return
	dmsetup --noudevsync mknodes "$name"
}

# dm_swap NAME TABLE: suspend NAME, load TABLE, resume (a device failing or
# coming back under a live stack)
dm_swap() {
	{ run dmsetup --noudevsync suspend "$1" &&
		dmsetup --noudevsync reload "$1" --table "$2" &&
		dmsetup --noudevsync resume "$1"; } || fail "$1: table $2"
}

dm_remove() {
	run dmsetup --noudevsync remove --retry "$1"
}

# dev_sectors DEV: size in 512-byte sectors.
dev_sectors() {
	blockdev --getsz "$1"
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
}

# assert_cmp_files A B: identical contents (first difference shown).
assert_cmp_files() {
	cmp "$1" "$2" || fail "$1 and $2 differ"
}

# expect_fail CMD...: succeeds when CMD fails.
expect_fail() {
	echo "+ (expect failure) $*"
	if "$@"; then
		fail "succeeded unexpectedly: $*"
	fi
	return 0
}

# Subtests, in KTAP (the shape of the kernel's
# tools/testing/selftests/kselftest/ktap_helpers.sh): a test that checks
# several behaviours reports each one, and one failing does not hide the
# others.  The lines go to the test's log, indented; the runner prints them
# nested under the test's own line.
#   ktap_plan N           before the first subtest: how many there will be
#   subtest DESC CMD...   run CMD (usually a function) in a subshell: its
#                         status is the subtest's verdict (fail() inside it
#                         fails the subtest; ktap_skip skips it)
#   ktap_keep VAR...      in a subtest: hand VARs, as they are now, to the
#                         test's shell (and so to the subtests after it)
#   ktap_finished         exit 1 when a subtest failed or the count is not
#                         the plan's; the test's own verdict
KTAP_N=0 KTAP_PLAN='' KTAP_FAILED=0
ktap_keep() {
	local v
	for v; do printf '%s=%q\n' "$v" "${!v}"; done >> "$IOF_TMP/ktap-kept"
}
ktap_plan() {
	KTAP_PLAN=$1
	echo "    KTAP version 1"
	echo "    1..$1"
}
subtest() {
	local desc=$1 rc
	shift
	KTAP_N=$((KTAP_N + 1))
	echo "# -- subtest $KTAP_N: $desc"
	("$@")
	rc=$?
	if [ -s "$IOF_TMP/ktap-kept" ]; then
		# shellcheck source=/dev/null
		. "$IOF_TMP/ktap-kept"
		: > "$IOF_TMP/ktap-kept"
	fi
	case "$rc" in
	0) echo "    ok $KTAP_N $desc" ;;
	"$IOF_EXIT_SKIP") echo "    ok $KTAP_N $desc # SKIP" ;;
	*)
		echo "    not ok $KTAP_N $desc"
		KTAP_FAILED=$((KTAP_FAILED + 1)) ;;
	esac
}
ktap_finished() {
	[ -z "$KTAP_PLAN" ] || [ "$KTAP_N" = "$KTAP_PLAN" ] ||
		fail "$KTAP_N subtests ran, the plan said $KTAP_PLAN"
	[ "$KTAP_FAILED" = 0 ] || fail "$KTAP_FAILED of $KTAP_N subtests failed"
	exit 0
}

# fio_verify DEV [SIZE] [FIO-ARGS...]: random 4k writes with checksums over
# the first SIZE (default 32M) of DEV, then read everything back and verify.
fio_verify() {
	local dev=$1 size=${2:-32M}
	shift $(($# < 2 ? $# : 2))
	run fio --name=verify --filename="$dev" --size="$size" --rw=randwrite \
		--bs=4k --ioengine=libaio --iodepth=16 --direct=1 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" > "$IOF_TMP/fio.out" ||
		{ cat "$IOF_TMP/fio.out"; fail "fio verify on $dev"; }
}

# request_reboot: end this phase; the runner powers the VM off, boots again and
# runs the test with IOF_PHASE+1.  Keep what must survive in IOF_PERSIST.
request_reboot() {
	[ -n "${IOF_PERSIST:-}" ] || fail "no persistent dir: run under tests/vm/run-suite"
	sync
	exit $IOF_EXIT_REBOOT
}

# crash_reboot: like request_reboot, but reset the VM at once without syncing
# or cleaning anything (power-fail / crash consistency tests).
crash_reboot() {
	[ -n "${IOF_REBOOT_MARK:-}" ] || fail "not run by the VM runner"
	echo reboot > "$IOF_REBOOT_MARK"
	echo b > /proc/sysrq-trigger
	sleep 60
	fail "sysrq reset did not happen"
}
