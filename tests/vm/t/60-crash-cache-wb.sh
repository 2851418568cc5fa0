#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crash-point replay, cache write-back: at sampled crash points (200 in make check, thousands in make crashtest) of a dm-log-writes log the cache re-assembles with iofilterctl apply and every write durable at the last mark reads back
# CHECK: crash newest-kernel
# TIMEOUT: 1500
# REQUIRES: dmsetup losetup mod:dm-log-writes iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

load_iofilter cache
# a 2 MiB cache of 4 KiB blocks under a 4 MiB volume: random writes are
# cached, evict each other and are written back all the time
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

crash_record -j 4 -y 3 -u 3

# at every point: the cache metadata loads (apply), the data is there
# shellcheck disable=SC2317 # called by crash_replay
check() {
	crash_apply || { echo "apply failed: the cache does not re-assemble"; return 1; }
	crash_verify "$2"
}
crash_replay check
exit 0
