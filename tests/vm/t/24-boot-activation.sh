#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: boot activation (issue 20): the ExecStart/ExecStop commands of packaging/systemd/iofilter-{local,remote}.service, read from the unit files, bring up every volume of a policy directory (local: a write-back cache; netdev: a replica over NBD) and detach them all at "shutdown", write-back cache flushed (dirty=0, the origin holds the data) (one KTAP subtest each)
# CHECK: newest-kernel
# TIMEOUT: 240
# REQUIRES: dmsetup losetup ip nbd-server nbd-client mod:nbd iofilter tool
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter cache replicate count
T=$IOF_TMP
UNITS=$IOF_ROOT/packaging/systemd
ETC=$T/etc/iofilter

# ---- the units' commands, from the unit files, pointed at this tree
# unit_cmd UNIT KEY: the command of KEY (ExecStart, ExecStop) of UNIT, with
# the tool and /etc/iofilter of this test.
unit_cmd() {
	local line
	line=$(sed -n "s/^$2=//p" "$UNITS/$1")
	{ [ -n "$line" ] && [[ $line != *$'\n'* ]]; } || fail "$1: no single $2="
	line=${line//\/usr\/sbin\/iofilterctl/$IOF_TOOL}
	echo "${line//\/etc\/iofilter/$ETC}"
}
# run_unit UNIT KEY: run it as systemd would (no shell, split on blanks).
run_unit() {
	local -a argv
	read -r -a argv <<< "$(unit_cmd "$1" "$2")"
	log "$1 $2: ${argv[*]}"
	"${argv[@]}"
}

# ---- devices: local origin + cache, a count volume; NBD replica + metadata
ORIG=$(mkloop 32) && CDEV=$(mkloop 8) && CNT=$(mkloop 8) && META=$(mkloop 4) || exit 1
NBD=/dev/nbd0 PORT=10820
[ -b $NBD ] || fail "$NBD missing after modprobe nbd"
run ip link set lo up || fail "loopback up"
truncate -s 32M "$T/replica.img"
cat > "$T/nbd.conf" <<EOC
[generic]
	listenaddr = 127.0.0.1
	port = $PORT
[rep]
	exportname = $T/replica.img
	flush = true
	fua = true
EOC
run nbd-server -C "$T/nbd.conf" -p "$T/nbd.pid" || fail "nbd-server"
cleanup() {
	nbd-client -d "$NBD" > /dev/null 2>&1
	[ -f "$T/nbd.pid" ] && kill "$(cat "$T/nbd.pid")" 2> /dev/null
}
trap cleanup EXIT
for _ in 1 2 3 4 5; do
	nbd-client -N rep 127.0.0.1 $PORT $NBD -b 4096 -t 5 > /dev/null 2>&1 && break
	sleep 1
done
[ "$(cat /sys/block/nbd0/size)" -gt 0 ] || fail "nbd-client could not connect"
ORIG2=$(mkloop 32) || exit 1

mkdir -p "$ETC/policies.d" "$ETC/netdev.d"
cat > "$ETC/policies.d/10-vm.yaml" <<EOF
version: 1
volumes:
  - name: t-boot-vm
    device: $ORIG
    filters:
      - name: ssd
        type: cache
        params:
          cache_dev: $CDEV
          block_size: 4KiB
          mode: writeback
          low_watermark: 90
          high_watermark: 95
    rules:
      - name: cached
        chain: [ssd]
EOF
cat > "$ETC/policies.d/20-count.yaml" <<EOF
version: 1
volumes:
  - name: t-boot-cnt
    device: $CNT
    filters:
      - name: n
        type: count
    rules:
      - range: {start: 0}
        chain: [n]
EOF
# not a policy: ignored
echo "not yaml" > "$ETC/policies.d/README"
cat > "$ETC/netdev.d/10-db.yaml" <<EOF
version: 1
volumes:
  - name: t-boot-db
    device: $ORIG2
    filters:
      - name: dr
        type: replicate
        params:
          replica: $NBD
          metadata: $META
          mode: sync
    rules:
      - name: all-writes
        ops: [write, discard, write_zeroes, flush]
        chain: [dr]
    default: pass
EOF

# The subtests run in order, each from the state the ones before it left
# (the steps of a boot and a shutdown).

# ---- "boot": local first, then remote (After=iofilter-local.service)
boot() {
	local v
	run_unit iofilter-local.service ExecStart || fail "iofilter-local ExecStart"
	run_unit iofilter-remote.service ExecStart || fail "iofilter-remote ExecStart"
	for v in t-boot-vm t-boot-cnt t-boot-db; do
		[ -b "/dev/mapper/$v" ] || fail "$v not up after ExecStart"
	done
}

# again (a restart of the unit): nothing changes, no error
restart() {
	run_unit iofilter-local.service ExecStart || fail "iofilter-local ExecStart again"
}

# data: write-back into the cache, replicated writes to NBD
writes() {
	local dirty
	dd if=/dev/urandom of="$T/d1" bs=1M count=4 status=none
	dd if=/dev/urandom of="$T/d2" bs=1M count=4 status=none
	dd if="$T/d1" of=/dev/mapper/t-boot-vm bs=64k oflag=direct status=none || fail "write t-boot-vm"
	dd if="$T/d2" of=/dev/mapper/t-boot-db bs=64k oflag=direct conv=fsync status=none || fail "write t-boot-db"
	dirty=$(inst_stat t-boot-vm ssd dirty)
	log "t-boot-vm: dirty=$dirty before shutdown"
	[ "${dirty:-0}" -gt 0 ] || fail "no dirty blocks: the write-back path was not exercised"
	cmp -s -n 4194304 "$T/d1" "$ORIG" && fail "the origin already has the data: not write-back"
	return 0
}

# ---- "shutdown": remote first (it stops before local), then local
stop_all() {
	local v
	run_unit iofilter-remote.service ExecStop || fail "iofilter-remote ExecStop"
	run_unit iofilter-local.service ExecStop || fail "iofilter-local ExecStop"
	for v in t-boot-vm t-boot-cnt t-boot-db; do
		dmsetup info "$v" > /dev/null 2>&1 && fail "$v still there after ExecStop"
	done
	return 0
}

# The cache was written back before the device went: the origin has it all.
data_after() {
	cmp -n 4194304 "$T/d1" "$ORIG" || fail "origin of t-boot-vm lacks the cached writes after ExecStop"
	cmp -n 4194304 "$T/d2" "$ORIG2" || fail "t-boot-db's origin"
	cmp -n 4194304 "$T/d2" "$NBD" || fail "the NBD replica differs"
}

# and the cache's metadata says clean: dirty=0 when the volume comes back
clean_after() {
	run_unit iofilter-local.service ExecStart || fail "ExecStart after stop"
	assert_eq 0 "$(inst_stat t-boot-vm ssd dirty)" "dirty blocks after ExecStop + ExecStart"
	run_unit iofilter-local.service ExecStop || fail "ExecStop again"
}

# ExecStop with nothing up: nothing to do, exit 0
stop_nothing() {
	run_unit iofilter-local.service ExecStop || fail "ExecStop with nothing up"
}

ktap_plan 7
subtest "boot: ExecStart of local, then remote, brings up every volume" boot
subtest "a restart of iofilter-local: no change, no error" restart
subtest "writes: write-back into the cache, replicated to NBD" writes
subtest "shutdown: ExecStop of remote, then local, detaches every volume" stop_all
subtest "after ExecStop the origins and the NBD replica hold every write" data_after
subtest "the cache is clean when the volume comes back (dirty=0)" clean_after
subtest "ExecStop with nothing up: exit 0" stop_nothing
ktap_finished
