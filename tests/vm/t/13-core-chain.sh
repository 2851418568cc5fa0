#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: filter chains: class order, defer/continue paths, error propagation to the filters before, flush fan-out
# TIMEOUT: 300
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

# shellcheck disable=SC2119 # the core only
load_iofilter
insmod "$IOF_MODDIR/iofilter-count.ko" test_types=1 || fail "insmod count test_types=1"
iof_volume t-chain 64

a=$(abi create t-chain a count) || fail "create a"
b=$(abi create t-chain b count-cache defer=1) || fail "create b"
d=$(abi create t-chain d count-replicate) || fail "create d"
expect_fail abi create t-chain a count			# duplicate name
expect_fail abi create t-chain x count defer=2		# filter refuses
x2=$(abi create t-chain x2 count) || fail "create x2"
# two instances of one class in a chain are refused
expect_fail abi load t-chain action=pass "ops=rw,action=filter,chain=$a+$x2"
abi remove t-chain x2 || fail "remove x2"

# chain given in any order runs in class order; data flows through a
# deferring filter (map defers, end_io completes from a worker)
abi load t-chain action=pass "start=0,len=32M,ops=rwdzf,action=filter,chain=$b+$d+$a" > /dev/null ||
	fail "load chain"
fio_verify "$DEV" 32M
for i in a b d; do
	[ "$(inst_stat t-chain $i writes)" -gt 0 ] || fail "$i saw no writes"
	assert_eq 0 "$(inst_stat t-chain $i errors_seen)" "$i errors"
done
# users: the live table uses each instance once
abi status t-chain a | grep -q "users=1" || fail "users count"
expect_fail abi remove t-chain a			# in use

# a failing filter fails the bio; the filters before it see the error,
# the ones after it never see the bio
for i in a b d; do abi msg t-chain $i reset > /dev/null; done
abi msg t-chain d fail map || fail "fail map"
expect_fail wdd "$DEV" 0 4096
assert_eq 1 "$(inst_stat t-chain a errors_seen)" "error seen by the filter before"
assert_eq 0 "$(inst_stat t-chain b writes)" "filter after the failing one saw the bio"
abi msg t-chain d fail off
wdd "$DEV" 0 4096 || fail "write after fail off"
abi msg t-chain d fail endio
expect_fail wdd "$DEV" 0 4096
assert_eq 2 "$(inst_stat t-chain a errors_seen)" "endio error seen above"
abi msg t-chain d fail off
[ "$(stat_of t-chain vol.errors)" -ge 2 ] || fail "volume error counter"
expect_fail abi msg t-chain a bogus-verb
expect_fail abi msg t-chain nosuch reset

# dmsetup message reaches an instance; stats reset via message
run dmsetup message t-chain 0 a reset || fail "dmsetup message"
assert_eq 0 "$(inst_stat t-chain a writes)" "reset by dmsetup message"
expect_fail dmsetup message t-chain 0 nosuch reset
run dmsetup message t-chain 0 stats reset || fail "stats reset"
assert_eq 0 "$(stat_of t-chain vol.write)" "volume counters reset"

# flushes fan out to each instance bound to a flush rule, once each
for i in a b d; do abi msg t-chain $i reset > /dev/null; done
wdd "$DEV" $((40 << 20)) 4096 conv=fsync || fail "fsync"
for i in a b d; do
	[ "$(inst_stat t-chain $i flushes)" -ge 1 ] || fail "$i got no flush"
done

# a flush fails when an instance fails it
abi msg t-chain d fail map
expect_fail wdd "$DEV" $((40 << 20)) 4096 conv=fsync
abi msg t-chain d fail off

abi load t-chain action=pass > /dev/null
for i in a b d; do abi remove t-chain $i || fail "remove $i"; done
dm_remove t-chain
rmmod iofilter_count || fail "rmmod count"
exit 0
