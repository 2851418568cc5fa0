#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crash-point replay, ext4 on a write-back cache: files overwritten with fsync and O_DSYNC; at 100 sampled crash points the cache re-assembles, ext4 mounts (journal replay), every write durable at the last mark is in its file and e2fsck -fn finds nothing
# CHECK: crashtest
# TIMEOUT: 1800
# REQUIRES: dmsetup losetup mkfs.ext4 e2fsck mod:dm-log-writes mod:ext4 iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

load_iofilter cache
CRASH_POINTS=$(((CRASH_POINTS + 1) / 2))	# each point mounts and fscks: half as many
cat > "$CR_POLICY" <<YAML
version: 1
volumes:
  - name: $CR_VOL
    device: /dev/mapper/t-cr-origin
    filters:
$(crash_yaml_cache)
    rules:
      - name: all
        ops: [read, write, discard, write_zeroes, flush]
        chain: [c]
    default: pass
YAML

MNT=$IOF_TMP/mnt
CR_SANITY=0	# the blocks are in files: crash_verify on the device does not apply
mkdir -p "$MNT"
crash_record_start
run mkfs.ext4 -q -F -E nodiscard "$CR_DEV" || fail "mkfs"
run mount -t ext4 "$CR_DEV" "$MNT" || fail "mount"
# 1 MiB of files in a 4 MiB file system (1 KiB blocks, 1 MiB journal)
run "$STAMP" fswrite -D "$MNT" -S "$CR_STATE" -s "$CRASH_SEED" -n 256 -F 16 \
	-w $((CRASH_WRITES / 2)) -j 2 -y 10 -u 3 -L t-crlog || fail "workload"
run umount "$MNT" || fail "umount"
crash_record_end

# shellcheck disable=SC2317 # called by crash_replay
check() {
	crash_apply || { echo "apply failed: the cache does not re-assemble"; return 1; }
	[ "$2" -ge 0 ] || return 0	# mkfs not durable yet
	mount -t ext4 "$CR_DEV" "$MNT" || { echo "mount failed"; return 1; }
	crash_verify "$2" fs || { umount "$MNT"; return 1; }
	umount "$MNT" || { echo "umount failed"; return 1; }
	e2fsck -fn "$CR_DEV" > "$IOF_TMP/fsck.out" 2>&1 ||
		{ tail -n 20 "$IOF_TMP/fsck.out"; echo "e2fsck -fn found errors"; return 1; }
}
crash_replay check
exit 0
