#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: DKMS-installed modules load by name (issue 20): iofilterctl apply, with nothing loaded, modprobes iofilter and each filter type (crypt, replicate, cache, count) from /lib/modules/KREL/updates with their dependencies (dm-bufio); no insmod. Runs only under tests/dkms-check.sh, which installs and removes the DKMS build
# CHECK: dkms
# TIMEOUT: 120
# REQUIRES: dmsetup losetup modprobe modinfo tool
. "$IOF_ROOT/tests/lib/common.sh"

KREL=$IOF_KREL
UPD=/lib/modules/$KREL/updates
core=$(modinfo -k "$KREL" -n iofilter 2> /dev/null) || core=
case "$core" in
"$UPD"/*) ;;
*) ktap_skip "no DKMS install of iofilter for $KREL in $UPD (tests/dkms-check.sh makes one for this test only)" ;;
esac
log "modprobe finds iofilter at $core"

MODS="iofilter iofilter-crypt iofilter-replicate iofilter-cache iofilter-count"
# A clean slate: nothing of ours loaded, and the cache's dependency neither.
for m in iofilter_cache iofilter_replicate iofilter_crypt iofilter_count iofilter; do
	[ ! -d "/sys/module/$m" ] || rmmod "$m" || fail "rmmod $m"
done
[ ! -d /sys/module/dm_bufio ] || rmmod dm_bufio 2> /dev/null ||
	log "dm_bufio is in use: its autoload is not shown"

# Each module resolves to the DKMS copy, with its dependencies, by name.
for m in $MODS dm-iofilter; do
	run modprobe -S "$KREL" --show-depends "$m" > "$IOF_TMP/dep" || fail "modprobe cannot resolve $m"
	grep "$UPD/" "$IOF_TMP/dep" > /dev/null || fail "$m does not resolve into $UPD"
done
modprobe -S "$KREL" --show-depends iofilter-cache | grep -q "dm-bufio" ||
	fail "iofilter-cache does not depend on dm-bufio (depmod)"

T=$IOF_TMP
DATA=$(mkloop 16) && REP=$(mkloop 16) && META=$(mkloop 4) && CACHE=$(mkloop 8) &&
	CNT=$(mkloop 8) || exit 1
head -c 64 /dev/urandom > "$T/key" && chmod 600 "$T/key"
cat > "$T/p.yaml" <<EOF
version: 1
volumes:
  - name: t-dkms
    device: $DATA
    filters:
      - name: k
        type: crypt
        params:
          cipher: aes-xts-plain64
          key_file: $T/key
      - name: r
        type: replicate
        params:
          replica: $REP
          metadata: $META
          mode: sync
      - name: c
        type: cache
        params:
          cache_dev: $CACHE
          block_size: 4KiB
          mode: writeback
    rules:
      - name: all
        range: {start: 0}
        chain: [k, r, c]
  - name: t-dkms-cnt
    device: $CNT
    filters:
      - name: n
        type: count
    rules:
      - range: {start: 0}
        chain: [n]
EOF

run "$IOF_TOOL" -v apply "$T/p.yaml" || fail "apply with nothing loaded"
for m in $MODS dm-bufio; do
	s=${m//-/_}
	[ -d "/sys/module/$s" ] || fail "$m not loaded by apply"
	want=$(modinfo -k "$KREL" -F srcversion "$m")
	got=$(cat "/sys/module/$s/srcversion" 2> /dev/null)
	[ -z "$want" ] || assert_eq "$want" "$got" "srcversion of the loaded $m"
done
log "loaded from $UPD: $(for m in $MODS; do modinfo -k "$KREL" -n "$m"; done | tr '\n' ' ')"
"$IOF_TOOL" filters

# The volume works.
dd if=/dev/urandom of="$T/d" bs=64k count=16 status=none
dd if="$T/d" of=/dev/mapper/t-dkms bs=64k oflag=direct status=none || fail "write"
cmp -n 1048576 "$T/d" /dev/mapper/t-dkms || fail "read back"
run "$IOF_TOOL" detach --yes t-dkms || fail "detach t-dkms"
run "$IOF_TOOL" detach --yes t-dkms-cnt || fail "detach t-dkms-cnt"

# dm's own autoload: a table of target "iofilter" loads the core by alias.
for m in iofilter_cache iofilter_replicate iofilter_crypt iofilter_count iofilter; do
	rmmod "$m" || fail "rmmod $m"
done
dmsetup create t-dkms-alias --table "0 8 iofilter 7:0 t-dkms-alias" > /dev/null 2>&1
dmsetup remove t-dkms-alias > /dev/null 2>&1
[ -d /sys/module/iofilter ] || fail "dm did not load iofilter for target \"iofilter\" (dm-iofilter alias)"
log "ok"
