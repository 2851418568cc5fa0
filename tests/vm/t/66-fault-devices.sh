#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: device faults: under the full chain crypt -> replicate (sync) -> cache (write-back), dm-flakey under each lower device in turn (origin, cache device, replica, replicate metadata; intermittent outages, then failing writes) during a checked read/write workload: no read returns stale or wrong data, the fault shows in status, and after the fault clears and the stack is re-assembled every acknowledged write reads back and the pair is identical (one KTAP subtest each)
# CHECK: newest-kernel
# TIMEOUT: 900
# REQUIRES: dmsetup losetup mod:dm-flakey iofilter tool
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

# dm-dust (bad blocks that heal when written) is not built in Debian's
# kernels (CONFIG_DM_DUST is unset): dm-flakey's two shapes stand for an
# outage ("1 1": up 1 s, down 1 s, every I/O fails while down) and for a
# device that can read but no longer write ("0 10 1 error_writes").
need_module dm-flakey
load_iofilter crypt replicate cache
crash_chain_policy

DATA=$(mkloop $CR_MB "$IOF_TMP/data.img") || exit 1
crash_slices "$DATA"
# slice NAME -> "start len" in MiB (crash.sh's layout)
declare -A SLICE=([origin]="0 4" [cache]="4 2" [replica]="6 4" [rmeta]="10 1")

# slice_table NAME TARGET-ARGS...: swap slice NAME's table to TARGET-ARGS
# over its piece of $DATA ("linear" or "flakey UP DOWN [features]")
slice_table() {
	local n=$1 start len
	shift
	read -r start len <<< "${SLICE[$n]}"
	{ dmsetup --noudevsync suspend "t-cr-$n" &&
		dmsetup --noudevsync reload "t-cr-$n" \
			--table "0 $((len * 2048)) $1 $DATA $((start * 2048)) ${*:2}" &&
		dmsetup --noudevsync resume "t-cr-$n"; } || fail "t-cr-$n: table $*"
}

# fault_report: what status says about the volume, its instances and the
# slices (one line each)
fault_report() {
	local i
	echo "volume flags=$("$IOF_TOOL" status "$CR_VOL" -o json 2> /dev/null |
		tr -d ' \n' | grep -o '"flags":\[[^]]*\]' | head -n1) errors=$(dm_field "$CR_VOL" 14)"
	for i in k r c; do
		echo "$i: $(abi status "$CR_VOL" "$i" 2> /dev/null)"
	done
}

# scenario DEV FAULT-ARGS...
scenario() {
	local dev=$1 st=$IOF_TMP/state-$1-$2 out acked rep
	shift
	log "--- fault on $dev: flakey $* ---"
	crash_apply || fail "$dev: apply"
	crash_wait_sync r || fail "$dev: initial sync"
	rm -rf "$st"
	"$STAMP" write -d "$CR_DEV" -S "$st" -s "$RANDOM" -n "$CR_BLOCKS" \
		-w 200000 -T 6 -j 2 -R 2 -y 3 -u 3 -E > "$IOF_TMP/stamp.out" 2>&1 &
	local pid=$!
	# (the subtest's shell: the workload is stopped if the subtest fails)
	trap 'kill $pid 2> /dev/null; wait $pid' EXIT
	sleep 1
	slice_table "$dev" flakey "$@"
	# the replicate metadata is written when regions get dirty, not per
	# write: make it needed while it fails (a full resync marks them all;
	# a refused message is a clear error too).  dm-flakey's clock starts at
	# the table load, up first: send it in the first and the second down
	# second (1-2 s and 3-4 s after the load).
	: > "$IOF_TMP/msg.out"
	if [ "$dev" = rmeta ]; then
		sleep 1.2
		abi msg "$CR_VOL" r resync full >> "$IOF_TMP/msg.out" 2>&1 ||
			echo "resync full refused: error" >> "$IOF_TMP/msg.out"
		sleep 1.8
		abi msg "$CR_VOL" r resync full >> "$IOF_TMP/msg.out" 2>&1 ||
			echo "resync full refused: error" >> "$IOF_TMP/msg.out"
		sleep 0.8
	else
		sleep 4
	fi
	slice_table "$dev" linear
	wait "$pid"
	local rc=$?
	trap - EXIT
	sed 's/^/#   /' "$IOF_TMP/stamp.out"
	{ fault_report; grep -h 'refused' "$IOF_TMP/msg.out"; } > "$IOF_TMP/report"
	sed 's/^/#   /' "$IOF_TMP/report"
	[ "$rc" = 0 ] || fail "$dev ($*): the workload saw wrong data (exit $rc)"
	grep -q '^reads: [1-9]' "$IOF_TMP/stamp.out" || fail "$dev: no reads checked"
	# the fault was seen and reported: an I/O error counted by the volume,
	# an instance that latched an error or went degraded
	if ! grep -Eq 'errors=[1-9]|"error"|state=degraded|state=failed|refused: error' "$IOF_TMP/report" &&
		! grep -Eq ' [1-9][0-9]* (writes|syncs) failed|, [1-9][0-9]* failed,' "$IOF_TMP/stamp.out"; then
		fail "$dev ($*): the fault left no trace in status or in the workload"
	fi
	acked=$(sed -n 's/^acked mark \([0-9]*\):.*/\1/p' "$IOF_TMP/stamp.out")
	[ -n "$acked" ] || fail "$dev: no acked mark"

	# the fault is gone: re-assemble as an admin would.  detach flushes
	# the cache; then every acknowledged write must read back.  A
	# write-back cache that failed cannot flush (its dirty blocks stay on
	# the cache device, admin-guide "Cache device failure"): detach says
	# so, the admin removes the volume and applies again, which is a crash
	# for what was not flushed: every write a completed fdatasync or FUA
	# write covered must read back (the last durable mark).
	local mark=$acked what="acknowledged"
	if ! "$IOF_TOOL" detach "$CR_VOL" --yes > "$IOF_TMP/detach.out" 2>&1; then
		sed 's/^/#   detach: /' "$IOF_TMP/detach.out"
		grep -q 'not written back' "$IOF_TMP/detach.out" ||
			fail "$dev ($*): detach failed without saying why"
		crash_down
		mark=$((acked - 1)) what="durable"
	fi
	crash_apply || fail "$dev: re-apply after the fault"
	crash_wait_sync r || fail "$dev: no resync after the fault"
	"$STAMP" verify -d "$CR_DEV" -S "$st" -m "$mark" > "$IOF_TMP/verify.out" 2>&1 ||
		{ cat "$IOF_TMP/verify.out"; fail "$dev ($*): $what writes lost (mark $mark)"; }
	log "$(cat "$IOF_TMP/verify.out")"
	"$IOF_TOOL" flush "$CR_VOL" > /dev/null 2>&1 || fail "$dev: flush after re-assembly"
	crash_cmp /dev/mapper/t-cr-origin /dev/mapper/t-cr-replica $((CR_BLOCKS * 4096)) ||
		fail "$dev: origin and replica differ after resync"
	"$IOF_TOOL" detach "$CR_VOL" --yes > /dev/null || fail "$dev: detach"
	rep=$(dmsetup table | grep -c '^t-crv:' || true)
	[ "$rep" = 0 ] || fail "$dev: volume left behind"
}

# after a scenario failed: its slice back to linear and the volume gone, so
# the next scenario starts from where a passing one leaves
reassemble() {
	local start len
	read -r start len <<< "${SLICE[$1]}"
	log "a scenario on $1 failed: back to linear, volume removed"
	dmsetup --noudevsync suspend "t-cr-$1" &&
		dmsetup --noudevsync reload "t-cr-$1" \
			--table "0 $((len * 2048)) linear $DATA $((start * 2048))" &&
		dmsetup --noudevsync resume "t-cr-$1"
	crash_down
}

ktap_plan 8
for dev in origin cache replica rmeta; do
	what=$dev
	case $dev in
	cache) what="cache device" ;;
	rmeta) what="replicate metadata" ;;
	esac
	f=$KTAP_FAILED
	subtest "$what: intermittent outages (flakey 1 1)" scenario "$dev" 1 1
	[ "$KTAP_FAILED" = "$f" ] || reassemble "$dev"
	f=$KTAP_FAILED
	subtest "$what: failing writes (flakey error_writes)" scenario "$dev" 0 10 1 error_writes
	[ "$KTAP_FAILED" = "$f" ] || reassemble "$dev"
done
crash_remove_slices
ktap_finished
