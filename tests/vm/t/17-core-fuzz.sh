#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: ioctl fuzzer (tests/tools/iof-fuzz): 100,000 structure-aware calls as root (fails if 240 s are not enough) and 10,000 as nobody on live volumes with instances of every type and I/O running; afterwards the module still works and nothing leaked (guards the unterminated-MESSAGE oops)
# TIMEOUT: 400
# REQUIRES: dmsetup iofilter
#
# The seed is printed and logged to the kernel log before the first call,
# so a run that ends in an oops still names it.  To replay a seed, put it in
# build/fuzz-seed on the host (read here) and run this test again, or run
# "iof-fuzz --seed S --trace ..." by hand.
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

FUZZ=$IOF_BUILD/tests/iof-fuzz
[ -x "$FUZZ" ] || ktap_skip "iof-fuzz not built (make test-tools)"
CALLS=${IOF_FUZZ_CALLS:-100000}
UNPRIV=$((CALLS / 10))
seed=${IOF_FUZZ_SEED:-}
[ -z "$seed" ] && [ -s "$IOF_BUILD/fuzz-seed" ] && seed=$(cat "$IOF_BUILD/fuzz-seed")
[ -n "$seed" ] || seed=$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')

load_iofilter count crypt replicate cache
iof_volume t-fuzz 64
vol1=$DEV
iof_volume t-fuzz2 16
devs=
for _ in 1 2 3 4; do
	devs=$devs${devs:+,}$(mkloop 16)
done

echo "iof-fuzz: seed $seed, $CALLS calls" > /dev/kmsg
t_start=$(date +%s)
log "seed $seed (replay: IOF_FUZZ_SEED=$seed or build/fuzz-seed)"
t0=$(date +%s)
"$FUZZ" --seed "$seed" --calls "$CALLS" --unpriv-calls "$UNPRIV" \
	--time-limit 240 --io "$vol1" --size $((64 << 20)) --devs "$devs" t-fuzz t-fuzz2 \
	> "$IOF_TMP/fuzz.out" || { cat "$IOF_TMP/fuzz.out"; fail "fuzzer checks failed (seed $seed)"; }
cat "$IOF_TMP/fuzz.out"
# the time limit only keeps a hopelessly slow machine from the test timeout
# (100,000 calls take 46-70 s under TCG): fewer calls is a failure
grep -q "^# $CALLS calls in " "$IOF_TMP/fuzz.out" ||
	fail "fewer than $CALLS calls: $(grep -E 'calls in|time limit' "$IOF_TMP/fuzz.out" | tr '\n' ' ')"
log "fuzzing took $(($(date +%s) - t0)) s"

# nothing leaked: every instance and volume goes, module references drop
"$FUZZ" --cleanup t-fuzz t-fuzz2 || fail "cleanup after fuzzing"
dm_remove t-fuzz
dm_remove t-fuzz2
"$FUZZ" --check-empty || fail "state left after fuzzing"
for m in iofilter_count iofilter_crypt iofilter_replicate iofilter_cache; do
	assert_eq 0 "$(cat /sys/module/$m/refcnt)" "references to $m"
done

# the module still works: create, load, I/O, remove
iof_volume t-after 32
id=$(abi create t-after c count) || fail "create after fuzzing"
abi load t-after action=pass "start=0,len=16M,ops=rwdzf,action=filter,chain=$id" > /dev/null ||
	fail "load after fuzzing"
wdd "$DEV" $((1 << 20)) $((1 << 20)) || fail "write after fuzzing"
rdd "$DEV" $((1 << 20)) $((1 << 20)) "$IOF_TMP/back" || fail "read after fuzzing"
cmp -n $((1 << 20)) -i $((1 << 20)):0 "$ORIGIN" "$IOF_TMP/back" ||
	fail "data read back differs from the origin"
if cmp -s -n $((1 << 20)) "$IOF_TMP/back" /dev/zero; then fail "the write was lost"; fi
[ "$(inst_stat t-after c writes)" -gt 0 ] || fail "the instance saw no writes"
abi load t-after action=pass > /dev/null || fail "reload after fuzzing"
abi remove t-after c || fail "remove after fuzzing"
dm_remove t-after
"$FUZZ" --check-empty || fail "state left at the end"
log "after-checks took $(($(date +%s) - t_start)) s from the start of fuzzing"
exit 0
