#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: a test that skips (exit 4) is reported ok # SKIP with its reason
. "$IOF_ROOT/tests/lib/common.sh"
ktap_skip "skipping on purpose"
