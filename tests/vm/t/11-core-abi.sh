#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: /dev/iofilter ABI: versions, sizes, reserved fields, bounds, bad pointers, truncated payloads, unprivileged callers
# TIMEOUT: 120
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter count
iof_volume t-abi 16
wdd "$DEV" 0 1M || fail "write"
cp "$ORIGIN" "$IOF_TMP/before" 2>/dev/null || dd if="$ORIGIN" of="$IOF_TMP/before" bs=1M status=none
[ -c /dev/iofilter ] || fail "/dev/iofilter missing"
assert_eq 600 "$(stat -c %a /dev/iofilter)" "/dev/iofilter mode"

abi abi t-abi || fail "ABI cases failed"

# the volume is unaffected: data and I/O still fine
dd if="$ORIGIN" of="$IOF_TMP/after" bs=1M status=none
cmp "$IOF_TMP/before" "$IOF_TMP/after" || fail "data changed"
fio_verify "$DEV" 8M
dm_remove t-abi
exit 0
