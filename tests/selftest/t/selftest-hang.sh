#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: a test that sleeps past its timeout must be not ok
# TIMEOUT: 20
. "$IOF_ROOT/tests/lib/common.sh"
log "sleeping forever"
sleep 100000
