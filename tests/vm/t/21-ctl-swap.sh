#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: iofilterctl apply of edited rules and params under live fio verify: atomic swap, replacement through NAME.new + rename, no I/O error
# CHECK: newest-kernel
# TIMEOUT: 400
# REQUIRES: dmsetup losetup jq fio iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/ctl.sh"

load_iofilter count
T=$IOF_TMP
ORIG=$(mkloop 32) || exit 1

# Everything fio touches ([0, 16M)) is covered by a filter rule in both
# policies and the default denies: any moment in which the kernel had a
# table without those rules, or a chain whose instance was gone, fails I/O.
cat > "$T/a.yaml" <<EOF
version: 1
volumes:
  - name: t-cswap
    device: $ORIG
    filters:
      - name: cnt
        type: count
        params: {defer: 0}
    rules:
      - name: all
        range: {start: 0, length: 16MiB}
        chain: [cnt]
    default: deny
EOF
cat > "$T/b.yaml" <<EOF
version: 1
volumes:
  - name: t-cswap
    device: $ORIG
    filters:
      - name: cnt
        type: count
        params: {defer: 1}
      - name: cnt2
        type: count
    rules:
      - name: low
        range: {start: 0, length: 8MiB}
        chain: [cnt]
      - name: high
        range: {start: 8MiB, length: 8MiB}
        chain: [cnt2]
    default: deny
EOF

ctl_rc 0 apply "$T/a.yaml"
ctl_rc 0 -o json status t-cswap
id0=$(jv '.volumes[0].instances[] | select(.name == "cnt") | .id')
gen0=$(jv '.volumes[0].generation')

# One change by hand first, to look at it: params changed -> "cnt.new"
# created, the table loaded with it, the old one removed, the new renamed.
ctl_rc 0 -v apply "$T/b.yaml"
err_has "created filter cnt\.new \(type count, id [0-9]+\)"
err_has "created filter cnt2 "
err_has "removed filter cnt$"
err_has "renamed filter cnt\.new to cnt$"
out_has "^t-cswap: [0-9]+ changes applied, generation [0-9]+$"
ctl_rc 0 -o json status t-cswap
jq_true '[.volumes[0].instances[].name] | sort == ["cnt", "cnt2"]' "no cnt.new left"
jq_true '.volumes[0].instances[] | select(.name == "cnt") | .params == {"defer": "1"} and .status.defer == 1 and .users == 1'
id1=$(jv '.volumes[0].instances[] | select(.name == "cnt") | .id')
[ "$id1" != "$id0" ] || fail "cnt kept id $id0: not replaced"
[ "$(jv '.volumes[0].generation')" -gt "$gen0" ] || fail "generation did not grow"
abi table t-cswap | grep -q '^rules 2$' || fail "table of b.yaml not loaded"
ctl_rc 0 apply "$T/b.yaml"
out_has "^t-cswap: no changes$"
ctl_rc 0 -v apply "$T/a.yaml"
err_has "removed filter cnt2$"
ctl_rc 0 -o json status t-cswap
jq_true '[.volumes[0].instances[].name] == ["cnt"] and .volumes[0].instances[0].params == {"defer": "0"}'

# Now under fio verify: swap a <-> b until fio is done.
run dmsetup message t-cswap 0 stats reset || fail "stats reset"
fio --name=swap --filename=/dev/mapper/t-cswap --size=16M --rw=randwrite \
	--bs=4k --ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c \
	--verify_backlog=64 --verify_fatal=1 --loops=2 \
	--output="$T/fio.txt" & fio=$!
sleep 1
n=0
while kill -0 $fio 2> /dev/null; do
	for p in b a; do
		"$IOF_TOOL" -q apply "$T/$p.yaml" > "$T/apply.out" 2>&1 ||
			{ cat "$T/apply.out"; kill $fio; fail "apply $p.yaml failed under I/O"; }
	done
	n=$((n + 1))
done
wait $fio || { cat "$T/fio.txt"; fail "fio failed while policies were applied"; }
grep -E "err= *[1-9]" "$T/fio.txt" && fail "fio reported errors"
log "$n rounds of apply b.yaml + a.yaml during fio"
[ "$n" -ge 3 ] || fail "only $n rounds of swaps while fio ran"
ctl_rc 0 -o json stats t-cswap
jq_true '.volumes[0] | .errors == 0 and .denied == 0 and .passed == 0' "no bio failed, denied or unfiltered"
jq_true '.volumes[0] | .filtered > 0 and .total.write.ios > 0'
ctl_rc 0 -o json status t-cswap
jq_true '[.volumes[0].instances[].name] == ["cnt"] and .volumes[0].instances[0].flags == []'

ctl_rc 0 detach t-cswap --yes
losetup -d "$ORIG"
exit 0
