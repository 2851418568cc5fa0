#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crash-point replay, full chain crypt -> replicate (sync) -> cache (write-back): at sampled crash points (20 in make check, thousands in make crashtest) the stack re-assembles with iofilterctl apply, the pair resyncs to byte-identical and every write durable at the last mark reads back
# TIMEOUT: 2400
# REQUIRES: dmsetup losetup mod:dm-log-writes iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/crash.sh"

load_iofilter crypt replicate cache
head -c 64 /dev/urandom > "$IOF_TMP/key"
chmod 600 "$IOF_TMP/key"
# the replica gets the ciphertext the cache and the origin get
cat > "$CR_POLICY" <<YAML
version: 1
volumes:
  - name: $CR_VOL
    device: /dev/mapper/t-cr-origin
    filters:
      - name: k
        type: crypt
        params:
          cipher: aes-xts-plain64
          key_file: $IOF_TMP/key
          sector_size: 4096
      - name: r
        type: replicate
        params:
          replica: /dev/mapper/t-cr-replica
          metadata: /dev/mapper/t-cr-rmeta
          mode: sync
          region_size: 64KiB
      - name: c
        type: cache
        params:
          cache_dev: /dev/mapper/t-cr-cache
          block_size: 4KiB
          mode: writeback
          low_watermark: 5
          high_watermark: 20
          promote_hits: 1
    rules:
      - name: all
        range: {start: 0}
        chain: [k, r, c]
    default: pass
YAML

crash_record -j 4 -y 3 -u 3

# shellcheck disable=SC2317 # called by crash_replay
check() {
	crash_check_pair "$1" "$2" r
}
crash_replay check
exit 0
