#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: a guest frozen solid (every CPU spinning, interrupts off) is killed by the host watchdog
# TIMEOUT: 10
. "$IOF_ROOT/tests/lib/common.sh"
ko=$IOF_BUILD/$IOF_KREL-selftest/iof_selftest_warn.ko
[ -f "$ko" ] || fail "$ko not built (tests/vm/run-suite --selftest builds it)"
log "freezing the guest"
sync
insmod "$ko" mode=freeze
fail "insmod mode=freeze returned"
