#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: iofilterctl apply (device: and image:, loop attach/reuse, idempotent, --dry-run), status, filters, stats (json, --watch), message, detach (one KTAP subtest each)
# CHECK: newest-kernel
# TIMEOUT: 300
# REQUIRES: dmsetup losetup jq iofilter tool
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/ctl.sh"

load_iofilter count
T=$IOF_TMP
DEVA=$(mkloop 32) || exit 1
IMG=$T/img.raw
truncate -s 16M "$IMG" || fail "truncate"
MiB=$((1 << 20))

cat > "$T/p1.yaml" <<EOF
version: 1
volumes:
  - name: t-cdev
    device: $DEVA
    filters:
      - name: cnt
        type: count
    rules:
      - name: boot
        range: {start: 0, length: 1MiB}
        ops: [write]
        action: deny
      - name: data
        range: {start: 1MiB, length: 15MiB}
        chain: [cnt]
    default: pass
  - name: t-cimg
    image: $IMG
    filters:
      - name: cnt
        type: count
        params: {defer: 0}
    rules:
      - range: {start: 0}
        chain: [cnt]
EOF

# The subtests run in order: each starts from the state the ones before it
# left (a failed one may make later ones fail too, but does not hide them).
# LOOP, the loop device apply attaches to the image, is found between them.

# ---- --dry-run on nothing: the plan, no change
dry_run_new() {
	kstate "$T/k0"
	ctl_rc 0 apply --dry-run "$T/p1.yaml"
	out_has "^  \+ loop: attach $IMG to a loop device"
	out_has "^  \+ volume t-cdev: /dev/mapper/t-cdev over $DEVA \(32MiB\)"
	out_has "^  \+ instance cnt: count defer=0"
	out_has "^  \+ rule #2: data: 1MiB\+15MiB -> chain\(cnt\)"
	out_has "^t-cimg: [0-9]+ changes \(dry run, nothing applied\)"
	kstate_same "$T/k0"
	[ -z "$(loops_of "$IMG")" ] || fail "dry run attached a loop device"
	ctl_rc 0 -o json apply --dry-run "$T/p1.yaml"
	json_docs 1
	jq_true '.dry_run == true and (.volumes | length) == 2 and .errors == []'
	jq_true '[.volumes[].changes[] | select(.what == "volume")] | length == 2'
	kstate_same "$T/k0"
}

# ---- apply: both volumes created
apply_new() {
	local loop devnum
	ctl_rc 0 apply "$T/p1.yaml"
	out_has "^t-cdev: created /dev/mapper/t-cdev over $DEVA \(32MiB\): 1 filter, 2 rules"
	loop=$(loops_of "$IMG")
	[ "$(echo "$loop" | wc -w)" = 1 ] || fail "image attached to '$loop', expected one loop device"
	out_has "^t-cimg: created /dev/mapper/t-cimg over $loop \(16MiB\)"
	{ [ -b /dev/mapper/t-cdev ] && [ -b /dev/mapper/t-cimg ]; } || fail "dm nodes missing"
	devnum=$(printf '%d:%d' "0x$(stat -c %t "$DEVA")" "0x$(stat -c %T "$DEVA")")
	assert_eq "0 65536 iofilter $devnum t-cdev" "$(dmsetup table t-cdev)" "t-cdev table"
	assert_eq 1 "$(losetup -n -O AUTOCLEAR "$loop" | tr -d ' ')" "loop autoclear"
	abi table t-cimg | grep -q '^rules 1$' || fail "t-cimg rule table"
	abi instances t-cdev | grep -q '^cnt count id=[0-9]* class=0 users=1 ' || fail "t-cdev instance"
}

# I/O through the policy: a denied write, a counted write, a read
policy_io() {
	run dmsetup message t-cdev 0 stats reset || fail "stats reset"
	expect_fail wdd /dev/mapper/t-cdev 0 4096
	wdd /dev/mapper/t-cdev $((2 * MiB)) 8192 || fail "write to data"
	rdd /dev/mapper/t-cimg 0 65536 || fail "read t-cimg"
	assert_eq 1 "$(inst_stat t-cdev cnt writes)" "t-cdev cnt writes"
}

# ---- stats, text and JSON, checked against that I/O
stats_text() {
	ctl_rc 0 stats t-cdev
	out_has "^t-cdev: generation [0-9]+, passed [0-9]+, denied 1, filtered 1, errors 0, splits 0$"
	out_has "^  #2 data +0 +0 +1 +8192 "
	out_lacks "^t-cimg"
}

stats_json() {
	ctl_rc 0 -o json stats t-cdev
	json_docs 1
	jq_true '.reset == false and (.volumes | length) == 1 and .errors == []'
	jq_true '.volumes[0] | .name == "t-cdev" and .denied == 1 and .filtered == 1 and .errors == 0'
	jq_true '.volumes[0].total.write == {"ios": 2, "bytes": 12288}' "total writes"
	jq_true '.volumes[0].rules[0] | .name == "boot" and .counters.write.ios == 1'
	jq_true '.volumes[0].rules[1] | .index == 2 and .name == "data" and .counters.write == {"ios": 1, "bytes": 8192}'
	ctl_rc 0 -o json stats
	json_docs 1
	jq_true '[.volumes[].name] | sort == ["t-cdev", "t-cimg"]'
	jq_true '.volumes[] | select(.name == "t-cimg") | .total.read.bytes >= 65536 and .filtered >= 1'
}

# ---- the same file again: nothing changes, counters survive
reapply() {
	kstate "$T/k1" t-cdev t-cimg
	ctl_rc 0 apply "$T/p1.yaml"
	out_has "^t-cdev: no changes$"
	out_has "^t-cimg: no changes$"
	kstate_same "$T/k1" t-cdev t-cimg
	assert_eq "$LOOP" "$(loops_of "$IMG")" "loop device reused"
	assert_eq 1 "$(inst_stat t-cdev cnt writes)" "instance counters after re-apply"
	assert_eq 1 "$(stat_of t-cdev vol.denied)" "volume counters after re-apply"
	ctl_rc 0 -o json apply "$T/p1.yaml"
	json_docs 1
	jq_true '[.volumes[] | .result == "unchanged" and .changes == []] | all'
	jq_true '.volumes[] | select(.name == "t-cimg") | .origin == "'"$LOOP"'"'
	kstate_same "$T/k1" t-cdev t-cimg
}

# ---- --dry-run of an edited policy: the diff, no change
dry_run_edit() {
	sed -e 's/length: 15MiB/length: 7MiB/' -e 's/defer: 0/defer: 1/' "$T/p1.yaml" > "$T/p2.yaml"
	ctl_rc 0 apply --dry-run "$T/p2.yaml"
	out_has "^  - rule #2: data: 1MiB\+15MiB -> chain\(cnt\)$"
	out_has "^  \+ rule #2: data: 1MiB\+7MiB -> chain\(cnt\)$"
	out_has "^  ~ instance cnt: count defer=0 -> count defer=1$"
	out_has "^t-cdev: 2 changes \(dry run, nothing applied\)$"
	out_has "^t-cimg: [0-9]+ changes? \(dry run, nothing applied\)$"
	kstate_same "$T/k1" t-cdev t-cimg
}

# ---- filters and status
filters() {
	ctl_rc 0 filters
	out_has "^count +[0-9.]+ +inspect +2 "
	ctl_rc 0 -o json filters
	json_docs 1
	jq_true '.filters[] | select(.name == "count") | .class == "inspect" and .instances == 2'
}

status_text() {
	ctl_rc 0 status t-cimg
	out_has "^t-cimg: /dev/mapper/t-cimg"
	out_has "^  origin: +$LOOP \([0-9]+:[0-9]+\), file $IMG$"
	out_has "^  instance cnt: type count, class inspect, id [0-9]+, used by 1 rule$"
	out_has "^    params: defer=0$"
}

status_json() {
	ctl_rc 0 -o json status
	json_docs 1
	jq_true '(.volumes | length) == 2 and .errors == []'
	jq_true '.volumes[] | select(.name == "t-cimg") | .origin.path == "'"$LOOP"'" and .origin.backing_file == "'"$IMG"'" and .size == 16777216 and .rules == 1'
	jq_true '.volumes[] | select(.name == "t-cdev") | .instances[0] | .name == "cnt" and .users == 1 and .status.writes == 1 and .params == {}'
	jq_true '.volumes[] | select(.name == "t-cimg") | .instances[0].params == {"defer": "0"}'
}

status_missing() {
	ctl_rc 4 status nosuch
	err_has "no such volume: nosuch"
	ctl_rc 4 -o json status nosuch
	json_docs 1
	jq_true '.volumes == [] and .errors[0].message == "no such volume: nosuch"'
}

# ---- stats --watch: N reports, then it stops by itself
stats_watch() {
	local start
	wdd /dev/mapper/t-cdev $((4 * MiB)) 4096 || fail "write"
	start=$(date +%s)
	ctl_rc 0 -o json stats t-cdev --watch 1 --count 2
	json_docs 2
	[ $(($(date +%s) - start)) -ge 2 ] || fail "--watch 1 --count 2 took less than 2 s"
	jq_true '.interval > 0.5 and .volumes[0].name == "t-cdev" and .volumes[0].table_changed == false'
	jq_true '.volumes[0].total.write | has("ios_per_sec") and has("bytes_per_sec")'
	ctl_rc 0 stats --watch 0.5 --count 3
	assert_eq 3 "$(grep -c '^t-cdev: per second over' "$CTL_OUT")" "text reports"
}

stats_bad_watch() {
	ctl_rc 1 stats --count 2
	err_has "count needs --watch"
	ctl_rc 1 stats --watch 0
}

stats_reset() {
	ctl_rc 0 stats t-cdev --reset
	out_has "\(counters reset\)"
	assert_eq 0 "$(stat_of t-cdev vol.denied)" "counters after --reset"
}

# ---- message
message() {
	ctl_rc 0 message t-cdev cnt reset
	assert_eq 0 "$(inst_stat t-cdev cnt writes)" "reset by message"
	ctl_rc 0 message t-cdev cnt flush
	assert_eq flushed "$(cat "$CTL_OUT")" "answer of the filter"
	ctl_rc 0 -o json message t-cdev cnt flush
	json_docs 1
	jq_true '.volume == "t-cdev" and .instance == "cnt" and .message == "flush" and .result == "flushed" and .errors == []'
}

message_missing() {
	ctl_rc 4 message t-cdev nosuch reset
	err_has "no such filter instance: nosuch"
	ctl_rc 4 message nosuch cnt reset
}

message_refused() {
	ctl_rc 6 message t-cdev cnt no-such-verb
	err_has "message to cnt: "
	ctl_rc 6 -o json message t-cdev cnt no-such-verb
	json_docs 1
	jq_true '.result == null and (.errors | length) == 1 and .errors[0].errno > 0'
}

# ---- flush, resync: only cache and replicate instances get them
flush_resync() {
	ctl_rc 0 flush t-cdev
	out_has "^t-cdev: no cache or replicate filters$"
	ctl_rc 0 -o json resync t-cdev
	json_docs 1
	jq_true '.volume == "t-cdev" and .message == "resync" and .instances == [] and .errors == []'
	ctl_rc 4 flush nosuch
}

version() {
	ctl_rc 0 -o json version
	json_docs 1
	jq_true '.kernel.loaded == true and .kernel.volumes == 2 and .abi == .kernel.abi'
}

# ---- detach
detach_refused() {
	kstate "$T/k2" t-cdev t-cimg
	ctl_rc 1 detach t-cimg < /dev/null
	err_has "without --yes"
	exec 3< /dev/mapper/t-cimg
	ctl_rc 5 detach t-cimg --yes
	err_has "in use"
	exec 3<&-
	ctl_rc 4 detach nosuch --yes
	kstate_same "$T/k2" t-cdev t-cimg
}

detach_image() {
	ctl_rc 0 detach t-cimg --yes
	out_has "^t-cimg: detached"
	dmsetup info t-cimg > /dev/null 2>&1 && fail "t-cimg still exists"
	[ -e /dev/mapper/t-cimg ] && fail "/dev/mapper/t-cimg left behind"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -z "$(loops_of "$IMG")" ] && break
		sleep 0.5
	done
	[ -z "$(loops_of "$IMG")" ] || fail "loop device of the image not detached: $(loops_of "$IMG")"
}

detach_device() {
	ctl_rc 0 -o json detach t-cdev --yes
	json_docs 1
	jq_true '.volume == "t-cdev" and .removed == true and .flushed == [] and .errors == []'
	dmsetup info t-cdev > /dev/null 2>&1 && fail "t-cdev still exists"
	losetup "$DEVA" > /dev/null || fail "detach released a loop device it did not attach"
	[ "$(cat /sys/module/iofilter_count/refcnt)" = 0 ] || fail "count module still referenced"
	ctl_rc 0 -o json status
	jq_true '.volumes == []'
}

ktap_plan 22
subtest "apply --dry-run of a new policy: the plan, text and JSON, nothing changed" dry_run_new
subtest "apply: a device volume and an image on a new loop device" apply_new
LOOP=$(loops_of "$IMG")
subtest "I/O through the applied policy: denied, counted, passed" policy_io
subtest "stats: text" stats_text
subtest "stats -o json: the counters of that I/O" stats_json
subtest "apply of the same file again: no changes, counters kept, loop device reused" reapply
subtest "apply --dry-run of an edited policy: the diff, nothing changed" dry_run_edit
subtest "filters: text and JSON" filters
subtest "status: text" status_text
subtest "status -o json" status_json
subtest "status of a missing volume: exit 4, text and JSON" status_missing
subtest "stats --watch --count: the reports, then it stops" stats_watch
subtest "stats: --count without --watch and --watch 0 refused" stats_bad_watch
subtest "stats --reset" stats_reset
subtest "message: the filter's answer, text and JSON" message
subtest "message to a missing instance or volume: exit 4" message_missing
subtest "message the filter refuses: exit 6, text and JSON" message_refused
subtest "flush and resync without cache or replicate filters" flush_resync
subtest "version -o json" version
subtest "detach refused: without --yes, in use, missing volume; nothing changed" detach_refused
subtest "detach of an image volume: its loop device released" detach_image
subtest "detach -o json of a device volume: the loop device kept, the module free" detach_device

losetup -d "$DEVA"
ktap_finished
