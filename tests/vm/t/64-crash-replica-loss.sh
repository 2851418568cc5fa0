#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replica power loss: under a sync replicate workload the replica alone loses everything after its last completed flush (its own dm-log-writes log replayed to there) and comes back; after resync the pair is byte-identical, three times
# CHECK: crashtest
# TIMEOUT: 600
# REQUIRES: dmsetup losetup mod:dm-log-writes iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

load_iofilter replicate
T=$IOF_TMP
RANDOM=$CRASH_SEED
SECTORS=$((CR_BLOCKS * 8))
ORIG=$(mkloop 4) || exit 1
RMETA=$(mkloop 1) || exit 1
RDATA=$(mkloop 4 "$T/rdata0.img") || exit 1
dm_create t-crrep "0 $SECTORS linear $RDATA 0" || fail "replica"
cat > "$CR_POLICY" <<YAML
version: 1
volumes:
  - name: $CR_VOL
    device: $ORIG
    filters:
      - name: r
        type: replicate
        params:
          replica: /dev/mapper/t-crrep
          metadata: $RMETA
          mode: sync
          region_size: 64KiB
    rules:
      - name: writes
        ops: [write, discard, write_zeroes, flush]
        chain: [r]
    default: pass
YAML
crash_apply || fail "apply"
crash_wait_sync r || fail "initial sync"
bad=0
for cycle in 1 2 3; do
	# the replica's writes are logged from here, starting from a copy of
	# what it holds now (idle and flushed)
	"$IOF_TOOL" flush "$CR_VOL" > /dev/null || fail "flush"
	cp "$T/rdata$((cycle - 1)).img" "$T/base.img" || fail "copy"
	RLOG=$(mkloop 256 "$T/rlog.img") || exit 1
	dm_swap t-crrep "0 $SECTORS log-writes $RDATA $RLOG"
	"$STAMP" write -d "$CR_DEV" -S "$T/state$cycle" -s $((CRASH_SEED + cycle)) \
		-n $((CR_BLOCKS - 8)) -w 1500 -j 4 -y 3 -u 3 > "$T/stamp.out" 2>&1 &
	stamp=$!
	sleep "$((RANDOM % 3)).$((RANDOM % 10))"
	# power loss: the replica fails (the log-writes target goes, its log
	# is complete) ...
	dm_swap t-crrep "0 $SECTORS error"
	for ((i = 0; i < 300; i++)); do
		[ "$(inst_stat "$CR_VOL" r state)" = degraded ] && break
		# the workload ended first: a write past its blocks shows the
		# instance that the replica is gone
		kill -0 $stamp 2> /dev/null ||
			dd if=/dev/urandom of="$CR_DEV" bs=4096 count=1 seek=$((CR_BLOCKS - 1)) \
				oflag=direct,dsync status=none
		sleep 0.1
	done
	[ "$(inst_stat "$CR_VOL" r state)" = degraded ] ||
		fail "cycle $cycle: the replica failed but the instance is $(abi status "$CR_VOL" r)"
	losetup -d "$RLOG"
	# ... and comes back holding what it had made durable
	NEW=$(mkloop 4 "$T/rdata$cycle.img") || exit 1
	dd if="$T/base.img" of="$NEW" bs=1M oflag=direct status=none || fail "base"
	run "$REPLAY" durable "$T/rlog.img" "$NEW" || fail "replay the replica's log"
	rm -f "$T/rlog.img"
	dm_swap t-crrep "0 $SECTORS linear $NEW 0"
	losetup -d "$RDATA"
	RDATA=$NEW
	wait $stamp || { cat "$T/stamp.out"; fail "cycle $cycle: workload failed"; }
	crash_wait_sync r || fail "cycle $cycle: no resync"
	"$IOF_TOOL" flush "$CR_VOL" > /dev/null || fail "flush"
	marks=$(sed -n 's/^marks //p' "$T/state$cycle/meta")
	"$STAMP" verify -d "$CR_DEV" -S "$T/state$cycle" -m $((marks - 1)) ||
		fail "cycle $cycle: the volume lost writes"
	if crash_cmp "$ORIG" /dev/mapper/t-crrep $((CR_BLOCKS * 4096)); then
		log "cycle $cycle: pair identical after resync ($(abi status "$CR_VOL" r))"
	else
		bad=$((bad + 1))
		log "cycle $cycle: origin and replica differ after resync ($(abi status "$CR_VOL" r))"
		"$STAMP" verify -d /dev/mapper/t-crrep -S "$T/state$cycle" -m $((marks - 1)) | tail -n 5
		# go on from a known state
		"$IOF_TOOL" message "$CR_VOL" r resync full > /dev/null
		crash_wait_sync r || fail "full resync"
	fi
done
dm_remove "$CR_VOL"
dm_remove t-crrep
losetup -d "$ORIG" "$RMETA" "$RDATA"
[ "$bad" = 0 ] || fail "$bad of 3 replica power losses left the pair different after resync (seed $CRASH_SEED)"
exit 0
