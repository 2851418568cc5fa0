#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# core: what the iofilter target itself costs (issue 3's benchmark).
# Backing: null_blk (no data: pure overhead), 1 GiB, through configfs;
# a second, memory-backed null_blk for iof-lat's data checks ("start CONFIG
# data").  Configurations:
#   raw        the null_blk device itself
#   dm-linear  dm-linear over it (the peer)
#   iof-0      iofilter, empty policy table
#   iof-1k     iofilter, 1,000 discard-only range rules tiling the device
#   iof-10k    iofilter, 10,000 such rules (none matches a read or write,
#              but every bio is looked up among them)
#   iof-count  iofilter, one rule over the whole device chaining the
#              example "count" filter
#   iof-bpf    the same with a "bpf" filter and no program attached
#   iof-bpf-hist  the same with policies/bpf/size-hist.bpf.o attached
#              (iofilterctl apply; 6.12 only: Documentation/bpf.rst)
# By hand:  core.sh up; DEV=$(core.sh start iof-1k | sed -n 's/^DEV=//p')
#           DEV=$DEV RUNTIME=10 fio core-randread.fio; core.sh stop iof-1k; core.sh down
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SEPARATE_DATA=1		# iof-lat needs the memory-backed null_blk ("start CONFIG data")
SIZE_MIB=1024		# the null_blk device fio runs on
DATA_MIB=128		# the memory-backed one

cmd_configs() {
	cat <<-'END'
	raw        base     -                       null_blk
	dm-linear  peer     -                       dm-linear
	iof-0      iofilter dm-linear:0.99,raw      iofilter, no rules
	iof-1k     iofilter dm-linear:0.97          iofilter, 1,000 rules
	iof-10k    iofilter dm-linear               iofilter, 10,000 rules
	iof-count  iofilter dm-linear               iofilter, count filter chain
	iof-bpf    iofilter dm-linear               iofilter, bpf filter chain, no program
	iof-bpf-hist iofilter dm-linear             iofilter, bpf filter chain, size histogram program
	END
}

cmd_up() {
	local dev data n
	nullb_load
	dev=$(nullb nullb0 "$SIZE_MIB" 0)
	data=$(nullb nullb1 "$DATA_MIB" 1)
	[ -b "$dev" ] && [ -b "$data" ] || fail "null_blk devices missing"
	state_set core-dev "$dev"
	state_set core-data "$data"
	# the rule sets, once (bash is slow under emulation)
	for n in 1000 10000; do
		rules "$n" $((SIZE_MIB << 20)) > "$BENCH_STATE/core-rules-$n"
		rules "$n" $((DATA_MIB << 20)) > "$BENCH_STATE/core-rules-$n-data"
	done
}

cmd_down() {
	nullb_down nullb0 nullb1
}

# rules N BYTES: N discard-only deny rules tiling [0, BYTES) (4 KiB aligned
# pieces; a 4 KiB read or write never crosses one).
rules() {
	awk -v n="$1" -v bytes="$2" 'BEGIN {
		stride = int(bytes / n / 4096) * 4096
		for (i = 0; i < n; i++) printf "start=%d,len=%d,ops=d,action=deny\n", i * stride, stride
	}'
}

cmd_start() {
	local cfg=$1 origin id n suffix r
	if [ "${2:-}" = data ]; then origin=$(state_get core-data); else origin=$(state_get core-dev); fi
	[ -b "$origin" ] || fail "no backing device: run '$0 up' first"
	case "$cfg" in
	raw) echo "DEV=$origin"; return ;;
	dm-linear) bench_dm bench-core "0 $(blockdev --getsz "$origin") linear $origin 0" ;;
	iof-0|iof-1k|iof-10k|iof-count)
		need_iofilter
		[ "$cfg" = iof-count ] && need_iofilter count
		iof_volume_up bench-core "$origin"
		case "$cfg" in
		iof-1k|iof-10k)
			n=1000
			[ "$cfg" = iof-10k ] && n=10000
			suffix=''
			[ "$origin" = "$(state_get core-data)" ] && suffix=-data
			mapfile -t r < "$BENCH_STATE/core-rules-$n$suffix" || fail "no rule set: run '$0 up'"
			iof_load bench-core action=pass "${r[@]}" ;;
		iof-count)
			id=$(iof_instance bench-core cnt count)
			iof_chain_all bench-core "$id" ;;
		esac ;;
	iof-bpf)
		need_iofilter bpf
		# 6.1: the type refuses instances (Documentation/bpf.rst)
		[ -e /sys/kernel/btf/iofilter_bpf ] || ktap_skip "bpf type not supported on this kernel"
		iof_volume_up bench-core "$origin"
		id=$(iof_instance bench-core prog bpf program=none)
		iof_chain_all bench-core "$id" ;;
	iof-bpf-hist)
		need_iofilter bpf
		[ -e /sys/kernel/btf/iofilter_bpf ] || ktap_skip "bpf type not supported on this kernel"
		[ -f "$IOF_BUILD/bpf/size-hist.bpf.o" ] && [ -x "$IOF_BUILD/iofilterctl" ] ||
			ktap_skip "size-hist.bpf.o or iofilterctl not built (make tool)"
		mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || fail "mount bpffs"
		cat > "$BENCH_STATE/bpf-hist.yaml" <<-EOF
		version: 1
		volumes:
		  - name: bench-core
		    device: $origin
		    filters:
		      - name: prog
		        type: bpf
		        params: {program: $IOF_BUILD/bpf/size-hist.bpf.o}
		    rules:
		      - chain: [prog]
		EOF
		DM_DISABLE_UDEV=1 "$IOF_BUILD/iofilterctl" apply "$BENCH_STATE/bpf-hist.yaml" >&2 ||
			fail "iofilterctl apply (bpf size histogram)" ;;
	*) fail "unknown configuration $cfg" ;;
	esac
	echo "DEV=/dev/mapper/bench-core"
}

cmd_stop() {
	bench_dm_remove bench-core
	rm -rf /sys/fs/bpf/iofilter/bench-core	# the program goes with its pins
}

bench_main "$@"
