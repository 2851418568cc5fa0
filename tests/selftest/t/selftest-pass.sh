#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: a passing test; checks the environment and that selftest-leftovers was cleaned up
# TIMEOUT: 60
. "$IOF_ROOT/tests/lib/common.sh"
for v in IOF_ROOT IOF_BUILD IOF_MODDIR IOF_TOOL IOF_RESULTS IOF_KREL IOF_TMP IOF_TEST IOF_PHASE IOF_PERSIST; do
	[ -n "${!v:-}" ] || fail "$v not set"
	echo "$v=${!v}"
done
assert_eq "$(uname -r)" "$IOF_KREL" IOF_KREL
assert_eq 1 "$IOF_PHASE" IOF_PHASE
assert_eq selftest-pass "$IOF_TEST" IOF_TEST
[ -f "$IOF_ROOT/tests/lib/common.sh" ] || fail "IOF_ROOT is not the repository"
mountpoint -q "$IOF_TMP" || fail "IOF_TMP is not a mount of its own"
[ -z "$(ls -A "$IOF_TMP")" ] || fail "IOF_TMP is not empty"
echo hello > "$IOF_RESULTS/artifact" || fail "IOF_RESULTS not writable"
# Left by selftest-leftovers (in an earlier boot, maybe: check anyway).
if [ -d /sys/module/dm_mod ]; then
	left=$(dmsetup ls | grep -v '^No devices found') || true
	[ -z "$left" ] || fail "dm devices left: $left"
fi
if [ -d /sys/module/loop ]; then
	left=$(losetup -n -O NAME)
	[ -z "$left" ] || fail "loop devices left: $left"
fi
! pgrep -f iof-leftover-sleeper > /dev/null || fail "leftover process still running"
exit 0
