#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crash-point replay, replicate sync: at sampled crash points (200 in make check, thousands in make crashtest) the pair re-assembles with iofilterctl apply, resyncs to byte-identical and every write durable at the last mark reads back
# CHECK: crash newest-kernel
# TIMEOUT: 1800
# REQUIRES: dmsetup losetup mod:dm-log-writes iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

crash_replicate sync
exit 0
