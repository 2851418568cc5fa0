#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: leaves a process, a mount, a dm and a loop device behind; the runner must clean and log them
# TIMEOUT: 60
# REQUIRES: dmsetup losetup
. "$IOF_ROOT/tests/lib/common.sh"
need_module dm-mod
dev=$(mkloop 16)
dm_create t-leftover "0 $(dev_sectors "$dev") linear $dev 0" || fail "dm_create"
dm_create iof-leftover-top "0 $(dev_sectors "$dev") linear /dev/mapper/t-leftover 0" || fail "dm_create"
mkdir "$IOF_TMP/mnt"
mount -t tmpfs tmpfs "$IOF_TMP/mnt" || fail "mount"
# A background process the runner has to kill (its name is what pgrep finds).
bash -c 'exec -a iof-leftover-sleeper sleep 100000' &
sleep 0.2
exit 0
