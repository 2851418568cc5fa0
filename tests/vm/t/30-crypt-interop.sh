#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crypt: on-disk compatible with dm-crypt both ways (512 and 4096-byte sectors, offset, iv_offset, iv_large_sectors); only the matched range is ciphertext
# TIMEOUT: 300
# REQUIRES: dmsetup xxd cmp
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter crypt
need_module dm-crypt
ctl() { "$IOF_TOOL" "$@"; }

MB=$((1024 * 1024))
ORIGIN=$(mkloop 16) || exit 1
key=$IOF_TMP/xts.key
head -c 64 /dev/urandom > "$key"
chmod 600 "$key"
hex=$(xxd -p -c 256 "$key")
ref=$IOF_TMP/ref.img
head -c $((16 * MB)) /dev/urandom > "$ref"

# policy VOLUME SECTOR_SIZE EXTRA_PARAMS_YAML: crypt on [2MiB, 10MiB)
policy() {
	cat > "$IOF_TMP/p.yaml" <<EOP
version: 1
volumes:
  - name: $1
    device: $ORIGIN
    filters:
      - name: enc
        type: crypt
        params:
          cipher: aes-xts-plain64
          key_file: $key
          sector_size: $2
$3
    rules:
      - name: secret
        range: {start: 2MiB, length: 8MiB}
        chain: [enc]
EOP
}

# region FILE START_MB LEN_MB OUT: cut a piece of a file
region() { dd if="$1" of="$4" bs=1M skip="$2" count="$3" status=none; }

# one_case SECTOR_SIZE PARAMS DMCRYPT_IVOFF DMCRYPT_OPTS
one_case() {
	local ss=$1 params=$2 ivoff=$3 opts=$4
	echo "# case sector_size=$ss params={$params} dm-crypt iv_offset=$ivoff opts=$opts"
	policy c1 "$ss" "$params"
	ctl apply "$IOF_TMP/p.yaml" || fail "apply"
	dev=/dev/mapper/c1
	[ -b $dev ] || fail "$dev missing"

	# through iofilter: the whole device reads back what was written
	dd if="$ref" of=$dev bs=1M oflag=direct status=none || fail "write through crypt"
	cmp "$ref" $dev || fail "read-back through crypt differs"

	# the raw origin: plaintext outside the range, ciphertext inside
	cmp -n $((2 * MB)) "$ref" "$ORIGIN" || fail "[0,2M) changed on the origin"
	cmp -i $((10 * MB)) "$ref" "$ORIGIN" || fail "[10M,16M) changed on the origin"
	region "$ORIGIN" 2 8 "$IOF_TMP/raw"
	region "$ref" 2 8 "$IOF_TMP/plain"
	# no 512-byte sector of the range is stored in the clear
	n=$(python3 -c '
import sys
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
print(sum(a[i:i + 512] == b[i:i + 512] for i in range(0, len(a), 512)))' "$IOF_TMP/raw" "$IOF_TMP/plain")
	assert_eq 0 "$n" "sectors of the range stored in plaintext"

	ctl detach c1 --yes || fail "detach"
	[ ! -e $dev ] || fail "$dev still there after detach"

	# dm-crypt over the same range reads what iofilter wrote
	dm_create dmc "0 $((8 * 2048)) crypt aes-xts-plain64 $hex $ivoff $ORIGIN $((2 * 2048)) $opts" ||
		fail "dmsetup create crypt"
	cmp "$IOF_TMP/plain" /dev/mapper/dmc || fail "dm-crypt reads something else than iofilter wrote"
	# and the other way: dm-crypt writes, iofilter reads
	head -c $((8 * MB)) /dev/urandom > "$IOF_TMP/plain2"
	dd if="$IOF_TMP/plain2" of=/dev/mapper/dmc bs=1M oflag=direct status=none || fail "write dm-crypt"
	dm_remove dmc
	ctl apply "$IOF_TMP/p.yaml" > /dev/null || fail "re-apply"
	region $dev 2 8 "$IOF_TMP/got"
	cmp "$IOF_TMP/plain2" "$IOF_TMP/got" || fail "iofilter reads something else than dm-crypt wrote"
	ctl detach c1 --yes || fail "detach 2"
	echo "ok - sector_size=$ss $params"
}

# offset 0: the IV counts volume sectors, so dm-crypt's iv_offset is the start
one_case 512 "" $((2 * 2048)) ""
# offset = the range start, iv_offset as dm-crypt's
one_case 512 "          offset: 2MiB
          iv_offset: 100" 100 ""
one_case 4096 "          offset: 2MiB" 0 "1 sector_size:4096"
one_case 4096 "          offset: 2MiB
          iv_large_sectors: 1" 0 "2 sector_size:4096 iv_large_sectors"
exit 0
