#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crypt: write-zeroes, secure erase and (without allow_discards) discards are not advertised, and fail NOTSUPP when they come anyway; zeroing falls back to encrypted zeroes; rule ranges below offset or not in whole crypto sectors are refused at load by the kernel and the tool (regressions: write-zeroes advertised, discards reported done, misaligned ranges accepted) (one KTAP subtest each)
# TIMEOUT: 180
# REQUIRES: dmsetup blkdiscard fallocate blockdev iofilter tool
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter crypt
ctl() { "$IOF_TOOL" "$@"; }
MB=$((1024 * 1024))
key=$IOF_TMP/k
head -c 32 /dev/urandom > "$key"
chmod 600 "$key"
# q DEV LIMIT: a queue limit from sysfs (no udev: /dev/mapper/X is a node)
q() { cat "/sys/dev/block/$((0x$(stat -c %t "$1"))):$((0x$(stat -c %T "$1")))/queue/$2"; }

# zeroed DEV ORIGIN OFF LEN: reads back as zeroes, not stored as plain zeroes
zeroed() {
	rdd "$1" "$3" "$4" "$IOF_TMP/z" || fail "read zeroed range"
	cmp -n "$4" "$IOF_TMP/z" /dev/zero || fail "zeroed range at $3 does not read back as zeroes"
	if cmp -s -n "$4" -i "$3:0" "$2" /dev/zero; then
		fail "zeroes at $3 stored in plaintext"
	fi
}

# --- 1. a volume made by iofilterctl (its table is reloaded with the
# instance): nothing the filter refuses is advertised ---
o=$(mkloop 32)
[ "$(q "$o" discard_max_bytes)" -gt 0 ] || ktap_skip "loop device without discard"
cat > "$IOF_TMP/cz.yaml" <<EOP
version: 1
volumes:
  - name: cz
    device: $o
    filters:
      - name: enc
        type: crypt
        params: {key_file: $key}
    rules:
      - range: {start: 1MiB, length: 16MiB}
        chain: [enc]
EOP
d=/dev/mapper/cz

ctl_not_advertised() {
	ctl apply "$IOF_TMP/cz.yaml" > /dev/null || fail "apply cz"
	assert_eq 0 "$(q "$d" discard_max_bytes)" "discard_max_bytes with allow_discards=0"
	assert_eq 0 "$(q "$d" write_zeroes_max_bytes)" "write_zeroes_max_bytes of a crypt volume"
}

ctl_discards_refused() {
	local before
	wdd "$d" $((2 * MB)) $((2 * MB)) || fail "write"
	before=$(md5sum < "$o")
	expect_fail blkdiscard -o $((2 * MB)) -l "$MB" "$d"
	# punching a hole must not fall back or pretend
	expect_fail fallocate -p -o $((2 * MB)) -l "$MB" "$d"
	assert_eq "$before" "$(md5sum < "$o")" "origin changed by refused discards"
}

# zeroing: BLKZEROOUT and FALLOC_FL_ZERO_RANGE write encrypted zero pages
ctl_zeroing() {
	run blkdiscard -z -o $((2 * MB)) -l "$MB" "$d" || fail "blkdiscard -z"
	zeroed "$d" "$o" $((2 * MB)) "$MB"
	run fallocate -z -o $((3 * MB)) -l "$MB" "$d" || fail "fallocate -z"
	zeroed "$d" "$o" $((3 * MB)) "$MB"
	ctl detach cz --yes > /dev/null || fail "detach cz"
}

# allow_discards=1: discards advertised (and reach the origin: 31-crypt-data),
# write-zeroes still not
ctl_allow_discards() {
	sed -i 's/params: {key_file: \(.*\)}/params: {key_file: \1, allow_discards: 1}/' "$IOF_TMP/cz.yaml"
	ctl apply "$IOF_TMP/cz.yaml" > /dev/null || fail "apply cz with allow_discards"
	[ "$(q "$d" discard_max_bytes)" -gt 0 ] || fail "allow_discards=1: discards not advertised"
	assert_eq 0 "$(q "$d" write_zeroes_max_bytes)" "write_zeroes_max_bytes with allow_discards=1"
	ctl detach cz --yes > /dev/null || fail "detach cz 2"
}

# --- 2. an instance added to a live volume: its limits change only at the
# next reload, so what still comes must fail, never succeed unseen ---
live_add() {
	local id
	[ "$(q "$DEV" discard_max_bytes)" -gt 0 ] || fail "bare volume: no discard"
	id=$(abi create t-live enc crypt --secret-file "$key" cipher=aes-xts-plain64) ||
		fail "create enc"
	abi load t-live action=pass "start=1M,len=16M,ops=rwdzf,action=filter,chain=$id" > /dev/null ||
		fail "load enc"
	wdd "$DEV" $((2 * MB)) $((2 * MB)) || fail "write t-live"
}

# BLKDISCARD turns EOPNOTSUPP from the bio into success (discards are
# advisory), so the bio's status shows in the volume's error counter
live_discard() {
	local before e0
	before=$(md5sum < "$ORIGIN")
	e0=$(stat_of t-live vol.errors)
	run blkdiscard -o $((2 * MB)) -l "$MB" "$DEV" || fail "blkdiscard t-live"
	assert_eq "$before" "$(md5sum < "$ORIGIN")" "origin changed by a refused discard"
	[ "$(inst_stat t-live enc discards_refused)" -ge 1 ] || fail "refused discard not counted"
	[ "$(stat_of t-live vol.errors)" -gt "$e0" ] ||
		fail "the discard completed without an error: reported done while the blocks keep their data"
}

live_zeroing() {
	run blkdiscard -z -o $((2 * MB)) -l "$MB" "$DEV" || fail "blkdiscard -z t-live"
	zeroed "$DEV" "$ORIGIN" $((2 * MB)) "$MB"
}

# a reload brings the limits in line
live_reload() {
	run dmsetup reload t-live --table "$(dmsetup table t-live)" || fail "reload"
	run dmsetup resume t-live || fail "resume"
	assert_eq 0 "$(q "$DEV" discard_max_bytes)" "discard_max_bytes after the reload"
	assert_eq 0 "$(q "$DEV" write_zeroes_max_bytes)" "write_zeroes_max_bytes after the reload"
}

# --- 3. rule ranges: whole crypto sectors at or above offset ---
refused() {
	if abi load t-live action=pass "start=$1,len=$2,ops=rwdzf,action=filter,chain=$id2" \
		> /dev/null 2> "$IOF_TMP/err"; then
		fail "range $1+$2 accepted by e4k"
	fi
	cat "$IOF_TMP/err"
	grep -q "$3" "$IOF_TMP/err" || fail "range $1+$2: no clear reason"
}

aligned_accepted() {
	abi load t-live action=pass "start=$((MB + 4096)),len=$((4 * MB)),ops=rwdzf,action=filter,chain=$id2" > /dev/null ||
		fail "an aligned range above offset was refused"
}

# the tool refuses the same before it reaches the kernel, with the place
tool_refuses() {
	cat > "$IOF_TMP/bad.yaml" <<EOP
version: 1
volumes:
  - name: cb
    device: /dev/null
    filters:
      - name: enc
        type: crypt
        params: {key_file: $key, offset: 2MiB}
    rules:
      - range: {start: 1MiB, length: 16MiB}
        chain: [enc]
EOP
	if ctl validate "$IOF_TMP/bad.yaml" > /dev/null 2> "$IOF_TMP/err"; then
		fail "validate accepted a crypt range below offset"
	fi
	cat "$IOF_TMP/err"
	grep -q "bad.yaml:10:16: range starts at 1MiB, below offset 2MiB of crypt filter \"enc\"" "$IOF_TMP/err" ||
		fail "validate: no file:line:col error for the range below offset"
}

ktap_plan 14
subtest "iofilterctl volume: no discard, no write-zeroes advertised" ctl_not_advertised
subtest "iofilterctl volume: discard and hole punching fail, origin unchanged" ctl_discards_refused
subtest "iofilterctl volume: zeroing writes encrypted zeroes" ctl_zeroing
subtest "allow_discards=1: discards advertised, write-zeroes still not" ctl_allow_discards
losetup -d "$o"

iof_volume t-live 32
subtest "live volume: a crypt instance added" live_add
subtest "live volume: a discard fails NOTSUPP, counted, origin unchanged" live_discard
subtest "live volume: zeroing writes encrypted zeroes" live_zeroing
subtest "live volume: after a reload discards and write-zeroes not advertised" live_reload

id2=$(abi create t-live e4k crypt --secret-file "$key" cipher=aes-xts-plain64 sector_size=4096 offset=1M) ||
	fail "create e4k"
subtest "refused at load: a range starting at 0, below offset" \
	refused 0 $((4 * MB)) "e4k refuses the range: range starts at byte 0, below offset 1048576"
subtest "refused at load: a range starting just below offset" refused $((MB - 4096)) $((4 * MB)) "below offset"
subtest "refused at load: a start not on a crypto sector" \
	refused $((MB + 512)) $((4 * MB)) "not made of whole 4096-byte sectors"
subtest "refused at load: a length not in whole crypto sectors" \
	refused $((2 * MB)) $((4 * MB + 512)) "not made of whole 4096-byte sectors"
subtest "accepted at load: an aligned range above offset" aligned_accepted
abi load t-live action=pass > /dev/null || fail "unload"
abi remove t-live e4k || fail "remove e4k"
abi remove t-live enc || fail "remove enc"
dm_remove t-live

subtest "iofilterctl validate: a range below offset refused at its line and column" tool_refuses
ktap_finished
