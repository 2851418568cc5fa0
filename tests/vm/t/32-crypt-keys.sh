#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crypt: keyring and key-file keys, bad keys/ciphers/params refused with clear errors, the key never shown, unsafe policies and key changes refused (one KTAP subtest each)
# TIMEOUT: 300
# REQUIRES: dmsetup keyctl xxd python3
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter crypt
ctl() { "$IOF_TOOL" "$@"; }
MB=$((1024 * 1024))
O=$(mkloop 16)
key=$IOF_TMP/k64
head -c 64 /dev/urandom > "$key"
chmod 600 "$key"
hex=$(xxd -p -c 256 "$key")

RULES="      - range: {start: 1MiB, length: 8MiB}
        chain: [enc]"
# pol FILE PARAMS_LINES [RULES_YAML]
pol() {
	cat > "$1" <<EOP
version: 1
volumes:
  - name: vk
    device: $O
    filters:
      - name: enc
        type: crypt
        params:
$2
    rules:
${3:-$RULES}
EOP
}
# refused FILE PATTERN: apply fails, prints PATTERN, leaves no volume behind
refused() {
	if ctl apply "$1" > "$IOF_TMP/out" 2>&1; then
		cat "$IOF_TMP/out"
		fail "apply $1 succeeded"
	fi
	cat "$IOF_TMP/out"
	grep -q -- "$2" "$IOF_TMP/out" || fail "no '$2' in the error"
	[ ! -e /dev/mapper/vk ] || fail "volume left behind by a refused apply"
	abi stats vk > /dev/null 2>&1 && fail "kernel volume left behind"
	return 0
}

# --- bad input, each refused with its reason ---
head -c 20 /dev/urandom > "$IOF_TMP/k20"
chmod 600 "$IOF_TMP/k20"
# bad PARAMS_LINES PATTERN [RULES_YAML]: a policy with them is refused
bad() {
	pol "$IOF_TMP/p" "$1" "${3:-}"
	refused "$IOF_TMP/p" "$2"
}

# unsafe: two crypt instances over one range
two_instances() {
	cat > "$IOF_TMP/p2" <<EOP
version: 1
volumes:
  - name: vk
    device: $O
    filters:
      - name: a
        type: crypt
        params: {key_file: $key}
      - name: b
        type: crypt
        params: {key_file: $key}
    rules:
      - range: {start: 1MiB, length: 8MiB}
        chain: [a]
      - range: {start: 4MiB, length: 8MiB}
        allow_overlap: true
        chain: [b]
EOP
	refused "$IOF_TMP/p2" "range"
}

# --- a logon key from the keyring ---
keyring_and_file() {
	local kid
	kid=$(keyctl padd logon iofilter:vk @u < "$key") || fail "keyctl padd"
	pol "$IOF_TMP/kr.yaml" "          key: logon:iofilter:vk"
	ctl apply "$IOF_TMP/kr.yaml" || fail "apply with a keyring key"
	head -c $((8 * MB)) /dev/urandom > "$IOF_TMP/d"
	dd if="$IOF_TMP/d" of=/dev/mapper/vk bs=1M seek=1 oflag=direct status=none || fail "write"
	ctl detach vk --yes > /dev/null || fail "detach"
	# same data through the same key given as a key file
	pol "$IOF_TMP/kf.yaml" "          key_file: $key"
	ctl apply "$IOF_TMP/kf.yaml" > /dev/null || fail "apply with key_file"
	cmp -n $((8 * MB)) "$IOF_TMP/d" <(dd if=/dev/mapper/vk bs=1M skip=1 count=8 iflag=direct status=none) ||
		fail "keyring key and key file disagree"
	keyctl unlink "$kid" @u > /dev/null
}

# --- the key is never shown ---
grep_key() {
	local what=$1
	shift
	"$@" > "$IOF_TMP/show" 2>&1
	if grep -qi "$hex" "$IOF_TMP/show" || grep -qi "${hex:0:32}" "$IOF_TMP/show" ||
		grep -qi "${hex:64:32}" "$IOF_TMP/show"; then
		fail "key material in $what"
	fi
	# the first 16 raw bytes, as one byte string: grep -f would take
	# every newline in random key bytes for a pattern boundary (and an
	# empty pattern matches anything)
	if python3 -c 'import sys
k = open(sys.argv[1], "rb").read(16)
sys.exit(0 if k in open(sys.argv[2], "rb").read() else 1)' "$key" "$IOF_TMP/show"; then
		fail "raw key bytes in $what"
	fi
}

key_source_shown() {
	ctl status vk | grep -q "key=secret" || fail "status does not say where the key came from"
}

# a key file others can read draws a warning (its mode back before the checks)
readable_key_file() {
	local rc=0
	chmod 644 "$key"
	ctl validate "$IOF_TMP/kf.yaml" > "$IOF_TMP/out" 2>&1 || rc=$?
	chmod 600 "$key"
	[ "$rc" = 0 ] || fail "validate"
	grep -qi "readable by" "$IOF_TMP/out" || fail "no warning about a world-readable key file"
}

# --- changing what encrypts a range with data needs --force ---
change_refused() {
	pol "$IOF_TMP/kf2.yaml" "          key_file: $key
          iv_offset: 8"
	if ctl apply "$IOF_TMP/kf2.yaml" > "$IOF_TMP/out" 2>&1; then fail "iv_offset change without --force"; fi
	grep -q -- "--force" "$IOF_TMP/out" || fail "no hint about --force"
	cmp -n $((8 * MB)) "$IOF_TMP/d" <(dd if=/dev/mapper/vk bs=1M skip=1 count=8 iflag=direct status=none) ||
		fail "refused change altered the data"
}

change_forced() {
	ctl apply --force "$IOF_TMP/kf2.yaml" > /dev/null || fail "apply --force"
	ctl status vk | grep -q "iv_offset=8" || fail "forced change not applied"
}

ktap_plan 21
subtest "refused: an unsupported cipher" bad "          key_file: $key
          cipher: twofish-xts-plain64" "unsupported cipher"
subtest "refused: a key of the wrong size" bad "          key_file: $IOF_TMP/k20" "key is 20 bytes"
subtest "refused: no key" bad "          cipher: aes-xts-plain64" "no key"
subtest "refused: a keyring key that does not exist" bad "          key: logon:iofilter:nosuchkey" "not found"
subtest "refused: a bad sector_size" bad "          key_file: $key
          sector_size: 1000" "sector_size"
subtest "refused: an unknown parameter" bad "          key_file: $key
          colour: blue" "unknown parameter .colour."
# an offset past the volume: validate refuses the rule range below it
# (the kernel's own "beyond the volume" check is the crypt create's)
subtest "refused: a rule range below the offset" bad "          key_file: $key
          offset: 64MiB" "below offset 64MiB"
# unsafe policies: writes encrypted but not reads; two crypt instances
subtest "refused: writes encrypted but not reads" bad "          key_file: $key" "range" \
	"      - range: {start: 1MiB, length: 8MiB}
        ops: [write]
        chain: [enc]"
subtest "refused: two crypt instances over one range" two_instances
subtest "a keyring key and the same key as a file give the same data" keyring_and_file
subtest "key not shown: dmsetup table" grep_key "dmsetup table" dmsetup table
subtest "key not shown: dmsetup status" grep_key "dmsetup status" dmsetup status
subtest "key not shown: iofilterctl status" grep_key "iofilterctl status" ctl status
subtest "key not shown: iofilterctl status -o json" grep_key "iofilterctl status -o json" ctl -o json status
subtest "key not shown: iofilterctl stats -o json" grep_key "iofilterctl stats -o json" ctl -o json stats
subtest "key not shown: the instance's read-back" grep_key "instance read-back" abi status vk enc
subtest "key not shown: dmesg" grep_key "dmesg" dmesg
subtest "status says where the key came from" key_source_shown
subtest "a world-readable key file draws a warning" readable_key_file
subtest "changing iv_offset of a range with data refused without --force, data kept" change_refused
subtest "apply --force makes the change" change_forced

ctl detach vk --yes > /dev/null || fail "detach"
ktap_finished
