#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: iofilterctl stats --watch during fio: one JSON line per report, rates per second that agree with fio (IOPS, 4 KiB per I/O), per filter counter deltas, --count stops it, Ctrl-C exits 0
# CHECK: newest-kernel
# TIMEOUT: 240
# REQUIRES: dmsetup losetup jq fio iofilter tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/ctl.sh"

load_iofilter count
T=$IOF_TMP
ORIG=$(mkloop 64) || exit 1

cat > "$T/w.yaml" <<EOF
version: 1
volumes:
  - name: t-cwatch
    device: $ORIG
    filters:
      - name: cnt
        type: count
    rules:
      - name: data
        range: {start: 0, length: 64MiB}
        chain: [cnt]
EOF
ctl_rc 0 apply "$T/w.yaml"

# fio for longer than the reports take; its own IOPS is the reference.
fio --name=watch --filename=/dev/mapper/t-cwatch --size=64M --rw=randrw \
	--bs=4k --ioengine=libaio --iodepth=8 --direct=1 --time_based --runtime=20 \
	--output-format=json --output="$T/fio.json" 2> "$T/fio.err" & fio=$!
# fio takes seconds to start under TCG: wait until its I/O shows
n=0
for _ in $(seq 60); do
	n=$("$IOF_TOOL" -o json stats t-cwatch | jq '.volumes[0].total.write.ios')
	[ "$n" -gt 100 ] && break
	kill -0 $fio 2> /dev/null || { cat "$T/fio.err"; fail "fio ended before its I/O started"; }
	sleep 1
done
[ "$n" -gt 100 ] || fail "no I/O from fio in 60 s"
start=$(date +%s.%N)
ctl_rc 0 -o json stats t-cwatch --watch 1 --count 4
end=$(date +%s.%N)
wait $fio || { cat "$T/fio.err"; fail "fio failed"; }

# JSON Lines: 4 lines, each one object
assert_eq 4 "$(wc -l < "$CTL_OUT")" "report lines"
json_docs 4
awk "BEGIN { exit !($end - $start >= 3.5 && $end - $start < 10) }" ||
	fail "--watch 1 --count 4 took $(awk "BEGIN { print $end - $start }") s"

# Every report: reads and writes per second, non-zero, 4 KiB each; the
# count filter's status counters grew.
jq -e -s 'all(.[]; .interval > 0.8 and .interval < 3
	and (.volumes[0].total.read.ios_per_sec > 0) and (.volumes[0].total.write.ios_per_sec > 0)
	and ((.volumes[0].total.write.bytes_per_sec / .volumes[0].total.write.ios_per_sec - 4096) | . * . < 4)
	and ((.volumes[0].total.read.bytes_per_sec / .volumes[0].total.read.ios_per_sec - 4096) | . * . < 4)
	and (.volumes[0].rules[0].name == "data")
	and (.volumes[0].filters[0].name == "cnt")
	and (.volumes[0].filters[0].deltas.writes > 0) and (.volumes[0].filters[0].deltas.reads > 0))' \
	"$CTL_OUT" > /dev/null || fail "a report lacks plausible rates"

# Plausible: the reports' mean IOPS is within a factor of 3 of what fio saw.
fio_iops=$(jq '.jobs[0].read.iops + .jobs[0].write.iops' "$T/fio.json")
ctl_iops=$(jq -s 'map(.volumes[0].total.read.ios_per_sec + .volumes[0].total.write.ios_per_sec) | add / length' "$CTL_OUT")
log "fio: $fio_iops IOPS; stats --watch: $ctl_iops IOPS"
awk "BEGIN { r = $ctl_iops / $fio_iops; exit !(r > 0.33 && r < 3) }" ||
	fail "stats --watch says $ctl_iops IOPS, fio $fio_iops"
# the filter's deltas agree with the rule's rate (the rule runs the filter)
jq -e -s 'all(.[]; (.volumes[0].filters[0].deltas.writes / .interval) as $f
	| .volumes[0].rules[0].counters.write.ios_per_sec as $r
	| ($f - $r) * ($f - $r) < ($r * 0.2 + 50) * ($r * 0.2 + 50))' \
	"$CTL_OUT" > /dev/null || fail "filter deltas and rule rates disagree"

# Text: an iostat-like table per report; idle now.
ctl_rc 0 stats t-cwatch --watch 0.5 --count 2
assert_eq 2 "$(grep -c '^t-cwatch: per second over' "$CTL_OUT")" "text reports"
out_has "^  filter cnt \(count\):"

# Ctrl-C (SIGINT) ends an unlimited --watch with status 0.
"$IOF_TOOL" stats t-cwatch --watch 0.5 > "$T/int.out" 2>&1 & w=$!
sleep 1.8
kill -INT $w
rc=0
wait $w || rc=$?
cat "$T/int.out"
assert_eq 0 "$rc" "exit status after SIGINT"
grep -q '^t-cwatch: per second over' "$T/int.out" || fail "no report before SIGINT"

ctl_rc 0 detach t-cwatch --yes
losetup -d "$ORIG"
exit 0
