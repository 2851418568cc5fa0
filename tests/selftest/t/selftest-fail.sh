#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: a test that fails (exit 1) must be not ok
. "$IOF_ROOT/tests/lib/common.sh"
fail "failing on purpose"
