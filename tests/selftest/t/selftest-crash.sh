#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: a test that panics the kernel must be not ok, and the suite goes on
# TIMEOUT: 60
. "$IOF_ROOT/tests/lib/common.sh"
log "crashing the kernel"
sync
echo c > /proc/sysrq-trigger
sleep 30
fail "still alive after sysrq-c"
