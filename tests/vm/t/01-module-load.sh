#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: iofilter.ko loads, registers the iofilter target, unloads
# TIMEOUT: 60
# REQUIRES: dmsetup
. "$IOF_ROOT/tests/lib/common.sh"

# shellcheck disable=SC2119 # the core only, no filter modules
load_iofilter
run dmsetup targets | tee "$IOF_TMP/targets"
grep -q '^iofilter ' "$IOF_TMP/targets" || fail "iofilter target not registered"
run rmmod iofilter || fail "rmmod iofilter"
[ ! -d /sys/module/iofilter ] || fail "iofilter still loaded"
exit 0
