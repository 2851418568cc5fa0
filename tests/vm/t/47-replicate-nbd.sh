#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate to an NBD replica (nbd-server on loopback): kill the server mid-workload, no primary write fails, degraded with dirty regions; reconnect, resync, byte-identical
# CHECK: newest-kernel
# TIMEOUT: 600
# REQUIRES: dmsetup fio ip pgrep nbd-server nbd-client mod:nbd
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
SZ=$((64 << 20))
vol=t-rep-nbd
NBD=/dev/nbd0
PORT=10819
[ -b $NBD ] || fail "$NBD missing after modprobe nbd"
# the VM brings up no network: the loopback interface is enough
run ip link set lo up || fail "loopback up"

img=$IOF_TMP/nbd-replica.img
truncate -s 64M "$img"
conf=$IOF_TMP/nbd-server.conf
cat > "$conf" <<EOC
[generic]
	listenaddr = 127.0.0.1
	port = $PORT
[rep]
	exportname = $img
	flush = true
	fua = true
	trim = true
EOC

server_start() {
	run nbd-server -C "$conf" -p "$IOF_TMP/nbd.pid" || fail "nbd-server"
}
# server_kill: the listener and the child serving our connection
server_kill() {
	local parent
	parent=$(cat "$IOF_TMP/nbd.pid")
	run kill -9 $(pgrep -P "$parent") "$parent"
	rm -f "$IOF_TMP/nbd.pid"
}
# nbd_connect: the instance's probe may hold the device for an instant
nbd_connect() {
	local i
	for i in $(seq 20); do
		nbd-client -N rep 127.0.0.1 $PORT $NBD -b 4096 -t 5 && return 0
		sleep 0.5
	done
	fail "nbd-client could not connect"
}
cleanup_nbd() {
	nbd-client -d $NBD > /dev/null 2>&1
	[ -f "$IOF_TMP/nbd.pid" ] && server_kill
}
trap cleanup_nbd EXIT

server_start
nbd_connect
iof_volume $vol 64
meta=$(mkloop 1)

id=$(abi create $vol rep replicate replica="$NBD" metadata="$meta") || fail "create"
rep_wait $vol rep state in-sync 180
abi load $vol action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null || fail "load"
fio_verify "$DEV" 8M
rep_cmp "$DEV" $NBD $SZ

# kill the server in the middle of a verified write workload
fio --name=kill --filename="$DEV" --size=32M --rw=randwrite --bs=4k \
	--ioengine=libaio --iodepth=16 --direct=1 --runtime=12 --time_based \
	--fsync=16 --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--output-format=terse > "$IOF_TMP/fio-kill.out" 2>&1 &
fpid=$!
sleep 4
server_kill
wait $fpid || { cat "$IOF_TMP/fio-kill.out"; fail "a primary write failed when the replica died"; }
rep_status $vol rep
assert_eq degraded "$(inst_stat $vol rep state)" "state after the server died"
d1=$(inst_stat $vol rep dirty_regions)
[ "$d1" -gt 0 ] || fail "no dirty regions"
wdd "$DEV" $((48 << 20)) $((4 << 20)) || fail "write while degraded"
d2=$(inst_stat $vol rep dirty_regions)
[ "$d2" -gt "$d1" ] || fail "dirty did not grow ($d1 -> $d2)"

# reattach: the instance let go of the dead device; restart, reconnect
nbd-client -d $NBD > /dev/null 2>&1
server_start
nbd_connect
rep_wait $vol rep state in-sync 180
assert_eq 0 "$(inst_stat $vol rep dirty_regions)" "dirty after resync"
rep_cmp "$DEV" $NBD $SZ

abi load $vol action=pass > /dev/null
abi remove $vol rep || fail "remove"
dm_remove $vol
losetup -d "$meta" "$ORIGIN"
cleanup_nbd
trap - EXIT
rmmod iofilter_replicate || fail "rmmod"
exit 0
