#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: make demo: a qcow2 VM disk image encrypted, replicated to an NBD server and cached in write-back by one iofilterctl apply of policies/demo.yaml; fio, status, stats, a flushing detach, and the replica decrypted by cryptsetup reads back what the volume held
# TIMEOUT: 400
#
# Run in the VM by tests/vm/run-demo (not part of the suite).  Every step
# is the product: a missing module, tool or device stops the demo with the
# step named and a non-zero exit; nothing stands in for anything.
. "$IOF_ROOT/tests/lib/common.sh"

D=/tmp/iof-demo		# the directory policies/demo.yaml names
POLICY=$IOF_ROOT/policies/demo.yaml
VOL=vm1
REPLICA=/dev/nbd8	# policies/demo.yaml: replicate's replica
PORT=10809
SIZE_MB=64
MARK="iofilter demo: this sentence was written by the guest"
nstep=0 what=''

# step TITLE: a numbered step; "die" names it when something fails
step() {
	nstep=$((nstep + 1))
	what=$1
	printf '\n==> %d. %s\n' "$nstep" "$1"
}
say() { echo "    $*"; }
die() {
	echo
	echo "demo: FAILED at step $nstep ($what): $*"
	exit 1
}
# show CMD...: print the command, run it indented; its status
show() {
	echo "\$ $*"
	"$@" 2>&1 | sed 's/^/    /'
	return "${PIPESTATUS[0]}"
}
# shellcheck disable=SC2317 # called through show
iofilterctl() { "$IOF_TOOL" "$@"; }
ctl() { "$IOF_TOOL" "$@"; }
# inst KEY INSTANCE: a key of a filter instance's status
inst() {
	ctl -o json status "$VOL" |
		jq -r --arg i "$2" --arg k "$1" '.volumes[0].instances[] | select(.name == $i) | .status[$k]'
}
need() {
	local c
	for c; do
		command -v "$c" > /dev/null || die "command $c not found (scripts/deps.sh installs it)"
	done
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	[ -n "$(dmsetup info -c --noheadings -o name "$VOL" 2> /dev/null)" ] && ctl detach "$VOL" --yes > /dev/null 2>&1
	cryptsetup close demo-replica > /dev/null 2>&1
	nbd-client -d "$REPLICA" > /dev/null 2>&1
	[ -f "$D/nbd.pid" ] && kill "$(cat "$D/nbd.pid")" 2> /dev/null
}
trap cleanup EXIT

step "kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB"
need "$IOF_TOOL" qemu-img qemu-nbd nbd-server nbd-client cryptsetup fio jq dmsetup ip sha256sum
say "$("$IOF_TOOL" version 2>&1 | head -n1)"

step "load the modules: the kernel's dependencies with modprobe, then iofilter and its filters"
# in-tree modules by name; ours from the build (make demo built them)
for m in dm-mod nbd brd; do
	case "$m" in
	brd) run modprobe brd rd_nr=2 rd_size=$((32 * 1024)) ;;
	*) run modprobe "$m" ;;
	esac | sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ] || die "modprobe $m"
done
for f in iofilter iofilter-crypt iofilter-replicate iofilter-cache; do
	ko=$IOF_MODDIR/$f.ko
	[ -f "$ko" ] || die "$ko is not built (make modules)"
	for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do
		[ -d "/sys/module/${dep//-/_}" ] && continue
		[ -f "$IOF_MODDIR/${dep//_/-}.ko" ] && continue	# ours, loaded in this order
		modprobe "$dep" || die "modprobe $dep (needed by $f)"
		say "modprobe $dep (for $f)"
	done
	insmod "$ko" || die "insmod $ko"
	say "insmod $f.ko"
done
{ [ -b /dev/ram0 ] && [ -b /dev/ram1 ]; } || die "no /dev/ram0, /dev/ram1 after modprobe brd"

step "a VM disk image: qcow2, made with qemu-img"
rm -rf "$D"
mkdir -p "$D"
show qemu-img create -f qcow2 "$D/vm1.qcow2" ${SIZE_MB}M || die "qemu-img create"
{ head -c 64 /dev/urandom > "$D/vm1.key" && chmod 600 "$D/vm1.key"; } || die "key file"
say "and a 512-bit key in $D/vm1.key (the policy's key_file)"

step "the remote host: nbd-server exporting a blank disk, attached here as $REPLICA"
ip link set lo up || die "ip link set lo up"
truncate -s ${SIZE_MB}M "$D/replica.img" || die "truncate"
cat > "$D/nbd-server.conf" <<EOC
[generic]
	listenaddr = 127.0.0.1
	port = $PORT
[replica]
	exportname = $D/replica.img
	flush = true
	fua = true
EOC
nbd-server -C "$D/nbd-server.conf" -p "$D/nbd.pid" || die "nbd-server"
show nbd-client -N replica 127.0.0.1 $PORT "$REPLICA" -b 4096 -t 10 || die "nbd-client"
say "(a real setup points nbd-client at another machine; the kernel's NBD client is the transport)"

step "one policy: encrypt, replicate, cache (policies/demo.yaml)"
grep -E '^ *(- name|type|image|format|cipher|replica|cache_dev|mode|chain):' "$POLICY" | sed 's/^/    /'
show iofilterctl apply "$POLICY" || die "iofilterctl apply $POLICY"
[ -b /dev/mapper/$VOL ] || die "no /dev/mapper/$VOL after apply"
say "the first sync copies the volume to the replica:"
for i in $(seq 600); do
	s=$(inst state remote)
	[ "$s" = in-sync ] && break
	[ $((i % 20)) = 1 ] && say "  remote: state=$s sync=$(inst sync_pct remote)%"
	sleep 0.2
done
[ "$s" = in-sync ] || die "the replica did not reach in-sync (state $s)"
say "  remote: state=in-sync"

step "fio: 15 s of verified random 4 KiB reads and writes on /dev/mapper/$VOL"
fio --name=demo --filename=/dev/mapper/$VOL --rw=randrw --bs=4k --size=16M \
	--ioengine=libaio --iodepth=8 --direct=1 --time_based --runtime=15 \
	--verify=crc32c --verify_backlog=256 --verify_fatal=1 --randseed=42 \
	> "$D/fio.out" 2>&1
rc=$?
tr '\r' '\n' < "$D/fio.out" | grep -E '^ +(read|write): IOPS|err=|verify:' | grep -v 'err= 0' | sed 's/^ */    /'
[ "$rc" = 0 ] || { cat "$D/fio.out"; die "fio exit $rc"; }
say "the same 16 MiB read again: now served by the cache"
fio --name=reread --filename=/dev/mapper/$VOL --rw=randread --bs=4k --size=16M \
	--ioengine=libaio --iodepth=8 --direct=1 --time_based --runtime=4 --randseed=43 \
	> "$D/fio2.out" 2>&1 || { cat "$D/fio2.out"; die "fio reread"; }
tr '\r' '\n' < "$D/fio2.out" | grep -E '^ +read: IOPS' | sed 's/^ */    /'
printf '%s\n' "$MARK" | dd of=/dev/mapper/$VOL bs=4k seek=256 conv=sync oflag=direct status=none ||
	die "write the marker"
say "and one sentence at 1 MiB: \"$MARK\""

step "iofilterctl status: what each filter reports"
show iofilterctl status "$VOL" || die "iofilterctl status"
hits=$(inst read_hits ssd) dirty=$(inst dirty ssd) rstate=$(inst state remote)
say "-> cache: $hits read hits, $dirty dirty blocks (written to the cache, not yet to the image);"
say "   replica: $rstate"
[ "${hits:-0}" -gt 0 ] || die "no cache read hits"
[ "${dirty:-0}" -gt 0 ] || die "no dirty blocks in write-back"
[ "$rstate" = in-sync ] || die "replica state $rstate"

step "iofilterctl stats: I/O through the volume"
show iofilterctl stats "$VOL" || die "iofilterctl stats"

step "what the volume holds now, and what the disks hold"
sum=$(dd if=/dev/mapper/$VOL bs=1M iflag=direct status=none | sha256sum | cut -c1-16)
say "sha256 of /dev/mapper/$VOL: $sum..."
grep -qa "$MARK" /dev/mapper/$VOL || die "the marker does not read back"
say "the sentence reads back through the volume"
grep -qa "$MARK" "$D/replica.img" && die "the replica holds plaintext"
say "the replica's file on the remote host: ciphertext (the sentence is not in it)"

step "detach: flush the cache, remove the volume, disconnect the image"
show iofilterctl detach "$VOL" --yes || die "iofilterctl detach"
[ ! -e /dev/mapper/$VOL ] || die "/dev/mapper/$VOL still there"
pgrep -x qemu-nbd > /dev/null && die "qemu-nbd still serves the image"
show qemu-img check "$D/vm1.qcow2" || die "qemu-img check"
grep -qa "$MARK" "$D/vm1.qcow2" && die "the image holds plaintext"
say "the image is closed and consistent, and holds ciphertext only"

step "proof: the replica, decrypted by cryptsetup (dm-crypt) with the same key"
show cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
	--key-file "$D/vm1.key" --sector-size 4096 --iv-large-sectors \
	"$REPLICA" demo-replica || die "cryptsetup open"
rsum=$(dd if=/dev/mapper/demo-replica bs=1M iflag=direct status=none | sha256sum | cut -c1-16)
say "sha256 of the decrypted replica: $rsum..."
[ "$rsum" = "$sum" ] || die "the replica differs from the volume ($rsum != $sum)"
grep -qa "$MARK" /dev/mapper/demo-replica || die "the sentence is not in the decrypted replica"
say "= the volume's: the remote copy is complete, and readable with the key only"
cryptsetup close demo-replica || die "cryptsetup close"

step "done: demo ok"
exit 0
