#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crypt: fio verify at 512 and 4096-byte sectors, deferred paths, spread bios, discards (refused without allow_discards) and write-zeroes, ext4 + fsck over an encrypted volume (one KTAP subtest each)
# TIMEOUT: 400
# REQUIRES: dmsetup fio mkfs.ext4 e2fsck blkdiscard blockdev xxd
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter crypt
ctl() { "$IOF_TOOL" "$@"; }
MB=$((1024 * 1024))
key=$IOF_TMP/k
head -c 32 /dev/urandom > "$key"
chmod 600 "$key"

# volume NAME ORIGIN SECTOR_SIZE RANGE_YAML [EXTRA_PARAM_LINES]; $force: --force or empty
force=
volume() {
	cat > "$IOF_TMP/$1.yaml" <<EOP
version: 1
volumes:
  - name: $1
    device: $2
    filters:
      - name: enc
        type: crypt
        params:
          key_file: $key
          sector_size: $3
${5:-}
    rules:
      - name: enc
        $4
        chain: [enc]
EOP
	# shellcheck disable=SC2086 # $force: empty or one word
	ctl apply $force "$IOF_TMP/$1.yaml" > /dev/null || fail "apply $1"
}
cstat() { ctl status "$1" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
vols = d["volumes"] if isinstance(d, dict) and "volumes" in d else d
for v in vols:
    for f in v.get("filters", v.get("instances", [])):
        if f["name"] == sys.argv[1]:
            st = f["status"]
            if isinstance(st, str):
                st = dict(kv.split("=", 1) for kv in st.split())
            print(st[sys.argv[2]])' "$2" "$3"; }

# --- fio verify through 512 and 4096-byte crypto sectors (256-bit key) ---
# (each subtest hands its origin on: o512, o4096)
fio_sectors() {
	local ss=$1 o extra kept
	o=$(mkloop 48)
	printf -v "o$ss" %s "$o"
	ktap_keep "o$ss"
	if [ "$ss" = 4096 ]; then
		# a live volume first: adding the filter must still raise the
		# volume's logical block size (iofilterctl reloads the table)
		printf 'version: 1\nvolumes:\n  - name: v%s\n    device: %s\n' "$ss" "$o" > "$IOF_TMP/bare.yaml"
		ctl apply "$IOF_TMP/bare.yaml" > /dev/null || fail "apply bare volume"
		assert_eq 512 "$(blockdev --getss "/dev/mapper/v$ss")" "bare volume block size"
	fi
	# 512: large bios go to the unbound worker (offload_size, default
	# 256 KiB); 4096: offload_size 0, every bio converted inline
	extra=''
	[ "$ss" = 4096 ] && extra='          offload_size: 0'
	# crypt onto a range the live volume routed in clear: --force
	force=''
	[ "$ss" = 4096 ] && force=--force
	volume "v$ss" "$o" "$ss" "range: {start: 1MiB, length: 40MiB}" "$extra"
	force=''

	assert_eq "$ss" "$(blockdev --getss "/dev/mapper/v$ss")" "logical block size of v$ss"
	fio_verify "/dev/mapper/v$ss" 40M --offset=1M
	# big sequential writes: capped at 256 pages each and split
	fio_verify "/dev/mapper/v$ss" 40M --offset=1M --bs=2M --rw=write --iodepth=4
	[ "$(cstat "v$ss" enc writes)" -gt 0 ] || fail "crypt saw no writes"
	if [ "$ss" = 4096 ]; then
		assert_eq 0 "$(cstat "v$ss" enc offloaded)" "offloaded bios with offload_size 0"
	else
		[ "$(cstat "v$ss" enc offloaded)" -gt 0 ] || fail "no bio of 1 MiB was offloaded"
	fi
	assert_eq 0 "$(cstat "v$ss" enc errors)" "crypto errors"
	assert_eq 0 "$(cstat "v$ss" enc rejected)" "rejected bios"
	# bounce pages given back are kept for reuse (the data above was
	# written through reused ones), never more than 512 per instance
	kept=$(cstat "v$ss" enc bounce_kept)
	{ [ "$kept" -gt 0 ] && [ "$kept" -le 512 ]; } ||
		fail "bounce_kept=$kept after the writes (expected 1 to 512)"
}

# misaligned I/O to a 4096-byte crypt range is refused, not corrupted
misaligned() {
	expect_fail dd if=/dev/zero of=/dev/mapper/v4096 bs=512 count=1 seek=$((2 * 2048 + 1)) oflag=direct status=none 2> /dev/null
	ctl detach v4096 --yes > /dev/null || fail "detach v4096"
}

# --- discards: refused by default (as dm-crypt: not advertised, see
# 33-crypt-limits), passed with allow_discards=1 ---
discard_refused() {
	local d=/dev/mapper/v512 before
	wdd "$d" $((4 * MB)) $((1 * MB)) || fail "write"
	before=$(md5sum < "$o512")
	expect_fail blkdiscard -o $((4 * MB)) -l $((1 * MB)) "$d"
	assert_eq "$before" "$(md5sum < "$o512")" "origin changed by a refused discard"
}

# write-zeroes: not passed down as such; the fallback writes encrypted zeroes
write_zeroes() {
	local d=/dev/mapper/v512
	run blkdiscard -z -o $((4 * MB)) -l $((1 * MB)) "$d" || fail "zeroout"
	rdd "$d" $((4 * MB)) $((1 * MB)) "$IOF_TMP/z" || fail "read zeroed"
	cmp -n "$MB" "$IOF_TMP/z" /dev/zero || fail "zeroed range does not read back as zeroes"
	if cmp -s -n "$MB" -i $((4 * MB)):0 "$o512" /dev/zero; then fail "zeroes stored in plaintext"; fi
	ctl detach v512 --yes > /dev/null || fail "detach v512"
}

allow_discards() {
	local o2
	o2=$(mkloop 16)
	volume vd "$o2" 512 "range: {start: 0}" "          allow_discards: 1"
	wdd /dev/mapper/vd 0 "$MB" || fail "write vd"
	run blkdiscard -o 0 -l "$MB" /dev/mapper/vd || fail "discard vd"
	cmp -n "$MB" "$o2" /dev/zero || fail "allow_discards=1: discard did not reach the origin"
	ctl detach vd --yes > /dev/null || fail "detach vd"
}

# --- spread: small bios handed to the worker when converting them costs
# more than spread_ns (1 ns here: always, up to spread_depth at once) ---
P=/sys/module/iofilter_crypt/parameters
old_ns=$(cat $P/spread_ns) old_depth=$(cat $P/spread_depth)
spread_restore() { echo "$old_ns" > "$P/spread_ns"; echo "$old_depth" > "$P/spread_depth"; }
trap spread_restore EXIT	# later tests in this boot get the defaults
sp=0
spread() {
	{ echo 1 > "$P/spread_ns" && echo 4 > "$P/spread_depth"; } || fail "set spread parameters"
	o4=$(mkloop 32)
	ktap_keep o4
	volume vs "$o4" 512 "range: {start: 0}" "          offload_size: 0"
	fio_verify /dev/mapper/vs 24M --iodepth=32
	sp=$(cstat vs enc spread)
	ktap_keep sp
	[ "$sp" -gt 0 ] || fail "spread_ns=1: no bio was spread to the worker"
}

# a submitter that waits for each bio: after a few tries, only probes
spread_qd1() {
	local w0 s0 w s
	w0=$(cstat vs enc writes) s0=$(cstat vs enc spread)
	run fio --name=qd1 --filename=/dev/mapper/vs --size=24M --rw=randwrite \
		--bs=4k --ioengine=psync --direct=1 --number_ios=2000 \
		--output-format=terse > /dev/null || fail "QD1 writes"
	w=$(($(cstat vs enc writes) - w0)) s=$(($(cstat vs enc spread) - s0))
	echo "# QD1: $s of $w writes spread"
	[ $((s * 16)) -lt "$w" ] || fail "QD1: $s of $w writes spread (the hand-off gains nothing there)"
	assert_eq 0 "$(cstat vs enc offloaded)" "offloaded bios with offload_size 0"
	assert_eq 0 "$(cstat vs enc errors)" "crypto errors with spread bios"
}

# what the worker encrypted, dm-crypt decrypts (and our reads agree)
spread_dm_crypt() {
	rdd /dev/mapper/vs 0 $((24 * MB)) "$IOF_TMP/vs.iof" || fail "read vs"
	ctl detach vs --yes > /dev/null || fail "detach vs"
	spread_restore
	{ dmsetup --noudevsync create vsdm --table "0 $(blockdev --getsz "$o4") crypt aes-xts-plain64 $(xxd -p -c 64 "$key") 0 $o4 0" &&
		dmsetup --noudevsync mknodes vsdm; } || fail "dm-crypt over vs's origin"
	rdd /dev/mapper/vsdm 0 $((24 * MB)) "$IOF_TMP/vs.dm" || fail "read vsdm"
	cmp "$IOF_TMP/vs.iof" "$IOF_TMP/vs.dm" || fail "spread conversions differ from dm-crypt's"
	dm_remove vsdm
	losetup -d "$o4"
	echo "# $sp bios spread, byte-identical with dm-crypt"
}

# --- ext4 over a volume encrypted end to end, aes-cbc-essiv:sha256 ---
ext4() {
	local o3 i
	o3=$(mkloop 64)
	ktap_keep o3
	volume ve "$o3" 512 "range: {start: 0}" "          cipher: aes-cbc-essiv:sha256"
	run mkfs.ext4 -q -F /dev/mapper/ve || fail "mkfs"
	mkdir -p "$IOF_TMP/mnt"
	run mount /dev/mapper/ve "$IOF_TMP/mnt" || fail "mount"
	for i in 1 2 3 4; do
		head -c $((3 * MB)) /dev/urandom > "$IOF_TMP/mnt/f$i" || fail "write f$i"
	done
	(cd "$IOF_TMP/mnt" && md5sum f*) > "$IOF_TMP/sums"
	rm "$IOF_TMP/mnt/f2"
	run umount "$IOF_TMP/mnt" || fail "umount"
	# the filesystem is not readable on the origin
	if dumpe2fs -h "$o3" > /dev/null 2>&1; then fail "ext4 superblock readable on the origin"; fi
}

ext4_again() {
	ctl detach ve --yes > /dev/null || fail "detach ve"
	ctl apply "$IOF_TMP/ve.yaml" > /dev/null || fail "re-apply ve"
	run e2fsck -fn /dev/mapper/ve || fail "fsck after remount"
	run mount /dev/mapper/ve "$IOF_TMP/mnt" || fail "mount 2"
	(cd "$IOF_TMP/mnt" && grep -v ' f2$' "$IOF_TMP/sums" | md5sum -c --quiet) || fail "file contents"
	run umount "$IOF_TMP/mnt"
	ctl detach ve --yes > /dev/null || fail "detach ve 2"
}

o512='' o4=''
ktap_plan 11
subtest "fio verify, sector_size 512: large bios offloaded to the worker" fio_sectors 512
subtest "fio verify, sector_size 4096 over a live volume: block size raised, bios converted inline" fio_sectors 4096
subtest "misaligned I/O to a 4096-byte sector range refused" misaligned
subtest "discard refused without allow_discards, the origin unchanged" discard_refused
subtest "write zeroes: encrypted zeroes written, not plaintext" write_zeroes
subtest "allow_discards=1: discards reach the origin" allow_discards
subtest "spread: small bios handed to the worker, fio verify" spread
subtest "spread: a QD1 submitter gets only probes" spread_qd1
subtest "spread: the worker's conversions byte-identical with dm-crypt" spread_dm_crypt
subtest "ext4 over aes-cbc-essiv: files written, nothing readable on the origin" ext4
subtest "ext4 after detach and re-apply: fsck clean, files intact" ext4_again
ktap_finished
