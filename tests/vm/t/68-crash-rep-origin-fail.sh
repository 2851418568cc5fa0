#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crash-point replay, replicate (sync, then async) over an origin that fails writes for half a second of the recorded workload: writes the replica took but the origin failed leave their regions dirty, so at sampled crash points and at the end of the log (the clean removal) the pair resyncs to byte-identical and every acknowledged write reads back
# CHECK: crash newest-kernel
# TIMEOUT: 1800
# REQUIRES: dmsetup losetup mod:dm-log-writes mod:dm-flakey iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

# The write path this covers: a write whose replica leg succeeded and whose
# origin leg failed is reported failed, and its region is committed dirty
# before that (sync_finish() / the async end_io).  Without the dirty bit a
# clean removal leaves origin and replica different with nothing to resync:
# the end of the log, always one of the points here (CR_END), shows that.
need_module dm-flakey
load_iofilter replicate
CR_END=1
points=$((CRASH_POINTS / 2 > 5 ? CRASH_POINTS / 2 : 5))

# origin_table TARGET-ARGS...: the origin slice (MiB 0-4 of the logged
# device) becomes TARGET over it, under the live volume
origin_table() {
	dm_swap t-cr-origin "0 8192 $1 /dev/mapper/t-crlog 0 ${*:2}" > /dev/null
}

for mode in sync async; do
	log "--- replicate $mode, the origin fails writes for 0.5 s ---"
	# fresh devices: nothing of the first run under the second
	rm -f "$IOF_TMP/data.img" "$IOF_TMP/replay.img" "$IOF_TMP/work.img"
	CR_LOG=$IOF_TMP/log-$mode.img
	CR_STATE=$IOF_TMP/state-$mode
	crash_rep_policy $mode
	crash_record_start
	"$STAMP" write -d "$CR_DEV" -S "$CR_STATE" -s "$CRASH_SEED" -n $CR_BLOCKS \
		-w 200000 -T 6 -j 4 -y 3 -u 3 -E -L t-crlog > "$IOF_TMP/stamp.out" 2>&1 &
	pid=$!
	sleep 1.5
	# up 0 s, down 10 s: every write (and flush) fails, reads work
	origin_table flakey 0 10 1 error_writes
	sleep 0.5
	origin_table linear
	wait $pid
	rc=$?
	sed 's/^/#   /' "$IOF_TMP/stamp.out"
	[ "$rc" = 0 ] || fail "$mode: the workload failed (exit $rc)"
	# the fault must have hit writes, or the case tests nothing
	grep -Eq '^acked mark [0-9]+: [1-9][0-9]* writes' "$IOF_TMP/stamp.out" ||
		fail "$mode: no write failed while the origin failed writes"
	log "r: $(abi status "$CR_VOL" r)"
	crash_record_end
	# shellcheck disable=SC2317 # called by crash_replay
	check() {
		crash_check_pair "$1" "$2" r
	}
	CRASH_POINTS=$points crash_replay check
done
exit 0
