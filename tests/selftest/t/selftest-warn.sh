#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: a kernel WARNING fails a test that exits 0
# TIMEOUT: 60
. "$IOF_ROOT/tests/lib/common.sh"
ko=$IOF_BUILD/$IOF_KREL-selftest/iof_selftest_warn.ko
[ -f "$ko" ] || fail "$ko not built (tests/vm/run-suite --selftest builds it)"
expect_fail insmod "$ko" mode=warn
exit 0
