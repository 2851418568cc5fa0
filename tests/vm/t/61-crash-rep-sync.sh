#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crash-point replay, replicate sync: at sampled crash points (20 in make check, thousands in make crashtest) the pair re-assembles with iofilterctl apply, resyncs to byte-identical and every write durable at the last mark reads back
# CHECK: newest-kernel
# TIMEOUT: 1800
# REQUIRES: dmsetup losetup mod:dm-log-writes iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

load_iofilter replicate
cat > "$CR_POLICY" <<YAML
version: 1
volumes:
  - name: $CR_VOL
    device: /dev/mapper/t-cr-origin
    filters:
      - name: r
        type: replicate
        params:
          replica: /dev/mapper/t-cr-replica
          metadata: /dev/mapper/t-cr-rmeta
          mode: sync
          region_size: 64KiB
    rules:
      - name: writes
        ops: [write, discard, write_zeroes, flush]
        chain: [r]
    default: pass
YAML

crash_record -j 4 -y 3 -u 3

# shellcheck disable=SC2317 # called by crash_replay
check() {
	crash_check_pair "$1" "$2" r
}
crash_replay check
exit 0
