#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: crypt: keyring and key-file keys, bad keys/ciphers/params refused with clear errors, the key never shown, unsafe policies and key changes refused
# TIMEOUT: 300
# REQUIRES: dmsetup keyctl xxd python3
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
pol "$IOF_TMP/p" "          key_file: $key
          cipher: twofish-xts-plain64"
refused "$IOF_TMP/p" "unsupported cipher"
head -c 20 /dev/urandom > "$IOF_TMP/k20"
chmod 600 "$IOF_TMP/k20"
pol "$IOF_TMP/p" "          key_file: $IOF_TMP/k20"
refused "$IOF_TMP/p" "key is 20 bytes"
pol "$IOF_TMP/p" "          cipher: aes-xts-plain64"
refused "$IOF_TMP/p" "no key"
pol "$IOF_TMP/p" "          key: logon:iofilter:nosuchkey"
refused "$IOF_TMP/p" "not found"
pol "$IOF_TMP/p" "          key_file: $key
          sector_size: 1000"
refused "$IOF_TMP/p" "sector_size"
pol "$IOF_TMP/p" "          key_file: $key
          colour: blue"
refused "$IOF_TMP/p" "unknown parameter .colour."
# an offset past the volume: validate refuses the rule range below it
# (the kernel's own "beyond the volume" check is the crypt create's)
pol "$IOF_TMP/p" "          key_file: $key
          offset: 64MiB"
refused "$IOF_TMP/p" "below offset 64MiB"
# unsafe policies: writes encrypted but not reads; crypt as the default
pol "$IOF_TMP/p" "          key_file: $key" "      - range: {start: 1MiB, length: 8MiB}
        ops: [write]
        chain: [enc]"
refused "$IOF_TMP/p" "range"
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
echo "ok - bad input refused"

# --- a logon key from the keyring ---
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
echo "ok - keyring and key file"

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
grep_key "dmsetup table" dmsetup table
grep_key "dmsetup status" dmsetup status
grep_key "iofilterctl status" ctl status
grep_key "iofilterctl status -o json" ctl -o json status
grep_key "iofilterctl stats -o json" ctl -o json stats
grep_key "instance read-back" abi status vk enc
grep_key "dmesg" dmesg
ctl status vk | grep -q "key=secret" || fail "status does not say where the key came from"

# a key file others can read draws a warning
chmod 644 "$key"
ctl validate "$IOF_TMP/kf.yaml" > "$IOF_TMP/out" 2>&1 || fail "validate"
grep -qi "readable by" "$IOF_TMP/out" || fail "no warning about a world-readable key file"
chmod 600 "$key"

# --- changing what encrypts a range with data needs --force ---
pol "$IOF_TMP/kf2.yaml" "          key_file: $key
          iv_offset: 8"
if ctl apply "$IOF_TMP/kf2.yaml" > "$IOF_TMP/out" 2>&1; then fail "iv_offset change without --force"; fi
grep -q -- "--force" "$IOF_TMP/out" || fail "no hint about --force"
cmp -n $((8 * MB)) "$IOF_TMP/d" <(dd if=/dev/mapper/vk bs=1M skip=1 count=8 iflag=direct status=none) ||
	fail "refused change altered the data"
ctl apply --force "$IOF_TMP/kf2.yaml" > /dev/null || fail "apply --force"
ctl status vk | grep -q "iv_offset=8" || fail "forced change not applied"
ctl detach vk --yes > /dev/null || fail "detach"
exit 0
