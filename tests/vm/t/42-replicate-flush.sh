#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate: the replica is flushed before resync clears bits on disk or the clean flag is written (dm-log-writes order); a failed replica flush marks the regions written since the last good flush dirty, and resync restores them (sync and async)
# CHECK: newest-kernel
# TIMEOUT: 240
# REQUIRES: dmsetup perl mod:dm-log-writes mod:dm-flakey
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
MB=16 SZ=$((16 << 20)) SECT=32768
vol=t-rep-fl
bad=	# failures that do not stop the test, so that one run shows them all

iof_volume $vol $MB
run dd if=/dev/urandom of="$DEV" bs=1M count=$MB oflag=direct status=none

# ---- 1. initial sync and clean shutdown, logged by dm-log-writes.  The
# replica (sectors [0, SECT)) and the metadata ([SECT, SECT + 2048)) are
# slices of one logged device, so one log orders the writes to both.
data=$(mkloop $((MB + 1)))
logd=$(mkloop 64)
dm_create t-rep-lw "0 $((SECT + 2048)) log-writes $data $logd" || fail "log-writes"
dm_create t-rep-r "0 $SECT linear /dev/mapper/t-rep-lw 0" || fail "replica slice"
dm_create t-rep-m "0 2048 linear /dev/mapper/t-rep-lw $SECT" || fail "metadata slice"
id=$(abi create $vol rep replicate replica=/dev/mapper/t-rep-r \
	metadata=/dev/mapper/t-rep-m region_size=256K) || fail "create"
rep_wait $vol rep state in-sync 90
rep_cmp "$DEV" /dev/mapper/t-rep-r $SZ
abi remove $vol rep || fail "remove"
dm_remove t-rep-m
dm_remove t-rep-r
dm_remove t-rep-lw

# Every write to the metadata (bitmap bits cleared by resync, the clean
# flag) must come after a flush that follows the last replica write.
perl -e '
	use strict;
	my ($dev, $rsect) = @ARGV;
	open(my $f, "<:raw", $dev) or die "open $dev: $!";
	my $buf;
	sysread($f, $buf, 512) == 512 or die "short read";
	my ($magic, $ver, $n, $ss) = unpack("Q< Q< Q< L<", $buf);
	$magic == 0x6a736677736872 or die "no log-writes super";
	$ss == 512 or die "sector size $ss";
	my ($pos, $lastr, $lastf, $bad, $meta, $flushes) = (1, -1, -1, 0, 0, 0);
	for my $i (0 .. $n - 1) {
		sysseek($f, $pos * 512, 0) or die "seek";
		sysread($f, $buf, 512) == 512 or die "short read";
		my ($sec, $nr, $fl) = unpack("Q< Q< Q<", $buf);
		$pos += 1 + (($fl & 4) ? 0 : $nr);
		if ($fl & 1) { $lastf = $i; $flushes++; }
		next if !$nr || ($fl & 12);	# flush only, discard, mark
		if ($sec < $rsect) { $lastr = $i; next; }
		$meta++;
		if ($lastr > $lastf) {
			printf("entry %d: metadata write at %d after replica write %d, no flush between\n",
			       $i, $sec - $rsect, $lastr);
			$bad++;
		}
		# a FUA write is its own flush for what came before it
		$lastf = $i if ($fl & 2);
	}
	print "log: $n entries, $meta metadata writes, $flushes flushes\n";
	exit($bad ? 1 : 0);
' "$logd" $SECT || bad+=" metadata-written-before-replica-flush"

# ---- 2. the replica loses what it had not flushed, and its flush fails
back=$(mkloop $MB)
meta=$(mkloop 1)
run dd if=/dev/zero of="$back" bs=1M count=$MB oflag=direct status=none
dm_create t-rep-r "0 $SECT linear $back 0" || fail "replica"
R=/dev/mapper/t-rep-r
for mode in sync async; do
	dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct status=none
	id=$(abi create $vol rep replicate replica=$R metadata="$meta" \
		mode=$mode) || fail "create $mode"
	rep_wait $vol rep state in-sync 90
	abi load $vol action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null ||
		fail "load"
	wdd "$DEV" 0 4096 conv=fsync || fail "flushed write ($mode)"
	# 1 MiB at 4 MiB reaches the replica (not flushed there)
	wdd "$DEV" $((4 << 20)) $((1 << 20)) || fail "write ($mode)"
	rep_wait $vol rep lag_bytes 0 30
	rep_cmp "$DEV" "$R" $SZ
	# power loss on the replica: its volatile cache is gone, and its
	# next flush fails
	run dd if=/dev/zero of="$back" bs=1M count=1 seek=4 oflag=direct status=none
	dm_swap t-rep-r "0 $SECT flakey $back 0 0 1 1 error_writes"
	run sync "$DEV"
	for ((i = 0; i < 100; i++)); do
		[ "$(inst_stat $vol rep dirty_regions)" -gt 0 ] && break
		sleep 0.1
	done
	rep_status $vol rep
	[ "$(inst_stat $vol rep errors)" -gt 0 ] || fail "the failed flush was not seen ($mode)"
	[ "$(inst_stat $vol rep dirty_regions)" -gt 0 ] ||
		bad+=" unflushed-regions-clean-after-failed-flush($mode)"
	dm_swap t-rep-r "0 $SECT linear $back 0"
	abi msg $vol rep resync > /dev/null 2>&1 || true	# or the probe does it
	rep_wait $vol rep state in-sync 60
	[ -z "$bad" ] || log "failures so far:$bad"
	rep_cmp "$DEV" "$R" $SZ
	abi load $vol action=pass > /dev/null || fail "unload"
	abi remove $vol rep || fail "remove"
done

[ -z "$bad" ] || fail "$bad"
dm_remove t-rep-r
dm_remove $vol
losetup -d "$back" "$meta" "$data" "$logd" "$ORIGIN"
rmmod iofilter_replicate || fail "rmmod"
exit 0
