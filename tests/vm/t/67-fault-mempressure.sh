#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: memory pressure: ext4 on the full chain crypt -> replicate (sync) -> cache (write-back) with 16 writers calling fsync, run in a memory cgroup of 48 MiB while vm.min_free_kbytes holds back a quarter of RAM and a hog fills the rest: completes without a hang or an allocation failure splat, and the data verifies
# CHECK: crashtest
# TIMEOUT: 600
# REQUIRES: dmsetup losetup fio mkfs.ext4 iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter crypt replicate cache
T=$IOF_TMP
ORIG=$(mkloop 256) || exit 1
CDEV=$(mkloop 64) || exit 1
REPL=$(mkloop 256) || exit 1
RMETA=$(mkloop 4) || exit 1
head -c 64 /dev/urandom > "$T/key"
chmod 600 "$T/key"
cat > "$T/policy.yaml" <<YAML
version: 1
volumes:
  - name: t-mp
    device: $ORIG
    filters:
      - name: k
        type: crypt
        params:
          cipher: aes-xts-plain64
          key_file: $T/key
      - name: r
        type: replicate
        params:
          replica: $REPL
          metadata: $RMETA
          mode: sync
      - name: c
        type: cache
        params:
          cache_dev: $CDEV
          mode: writeback
    rules:
      - name: all
        range: {start: 0}
        chain: [k, r, c]
    default: pass
YAML
run "$IOF_TOOL" apply "$T/policy.yaml" || fail "apply"
run mkfs.ext4 -q -F /dev/mapper/t-mp || fail "mkfs"
mkdir -p "$T/mnt"
run mount /dev/mapper/t-mp "$T/mnt" || fail "mount"

# the squeeze: a quarter of RAM reserved, a memory cgroup for the writers
mem_kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)
old_min=$(cat /proc/sys/vm/min_free_kbytes)
echo $((mem_kb / 4)) > /proc/sys/vm/min_free_kbytes || fail "min_free_kbytes"
CG=/sys/fs/cgroup
if ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then
	mount -t cgroup2 none $CG || ktap_skip "no cgroup2"
fi
echo +memory > $CG/cgroup.subtree_control 2> /dev/null || true
mkdir -p $CG/iof-mp || fail "cgroup"
echo $((48 << 20)) > $CG/iof-mp/memory.max || fail "memory.max"
# shellcheck disable=SC2317 # the EXIT trap
restore() {
	echo "$old_min" > /proc/sys/vm/min_free_kbytes
	[ -n "${HOG:-}" ] && kill "$HOG" 2> /dev/null
	rmdir "$CG/iof-mp" 2> /dev/null
	umount "$T/mnt" 2> /dev/null
}
trap restore EXIT

# a hog outside the cgroup takes what min_free_kbytes leaves, a bit at a
# time, and holds it (page cache and the filters' allocations then compete)
hog_mb=$(awk '/^MemAvailable/ { print int($2 / 1024) - 200 }' /proc/meminfo)
[ "$hog_mb" -gt 0 ] || hog_mb=1
python3 -c "
import time, mmap
m = mmap.mmap(-1, $hog_mb << 20)
for i in range(0, $hog_mb << 20, 4096):
    m[i] = 1
time.sleep(600)
" &
HOG=$!
echo 1000 > /proc/$HOG/oom_score_adj	# if the OOM killer must pick, the hog
sleep 3
log "MemAvailable $(awk '/^MemAvailable/ { print $2 }' /proc/meminfo) kB with the hog ($hog_mb MiB) and min_free_kbytes $(cat /proc/sys/vm/min_free_kbytes)"

# 16 writers, each fsyncing after every 64 KiB, in the cgroup, then a verify
cat > "$T/job.fio" <<FIO
[global]
directory=$T/mnt
size=8m
bs=64k
rw=randwrite
fsync=1
numjobs=16
verify=crc32c
verify_fatal=1
do_verify=1
group_reporting=1
[w]
FIO
t0=$(date +%s)
sh -c "echo \$\$ > $CG/iof-mp/cgroup.procs && exec fio --output=$T/fio.out $T/job.fio" ||
	{ cat "$T/fio.out"; fail "fio under memory pressure"; }
log "16 writers with fsync: $(($(date +%s) - t0)) s; $(grep -E '^ *(write|read):' "$T/fio.out" | tr -s ' ' | head -n 2 | tr '\n' ';')"
log "cgroup: $(grep -E '^(oom|oom_kill|max) ' $CG/iof-mp/memory.events | tr '\n' ' ')"
kill "$HOG" 2> /dev/null
wait "$HOG" 2> /dev/null
HOG=
echo "$old_min" > /proc/sys/vm/min_free_kbytes

# everything the writers fsynced reads back after a detach and re-apply
sync
md5_before=$(cd "$T/mnt" && find . -type f -print0 | sort -z | xargs -0 md5sum)
run umount "$T/mnt" || fail "umount"
run "$IOF_TOOL" detach t-mp --yes || fail "detach"
run "$IOF_TOOL" apply "$T/policy.yaml" || fail "re-apply"
run mount /dev/mapper/t-mp "$T/mnt" || fail "mount after re-apply"
md5_after=$(cd "$T/mnt" && find . -type f -print0 | sort -z | xargs -0 md5sum)
[ "$md5_before" = "$md5_after" ] || fail "files differ after detach and re-apply"
run umount "$T/mnt" || fail "umount"
run fsck.ext4 -fn /dev/mapper/t-mp || fail "fsck"
run "$IOF_TOOL" detach t-mp --yes || fail "detach"
exit 0
