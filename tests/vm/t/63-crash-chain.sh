#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crash-point replay, full chain crypt -> replicate (sync) -> cache (write-back): at sampled crash points (200 in make check, thousands in make crashtest) the stack re-assembles with iofilterctl apply, the pair resyncs to byte-identical and every write durable at the last mark reads back
# CHECK: crash
# TIMEOUT: 2400
# REQUIRES: dmsetup losetup mod:dm-log-writes iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

load_iofilter crypt replicate cache
crash_chain_policy

crash_record -j 4 -y 3 -u 3

# shellcheck disable=SC2317 # called by crash_replay
check() {
	crash_check_pair "$1" "$2" r c
}
crash_replay check
exit 0
