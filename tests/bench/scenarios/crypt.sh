#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# crypt: AES-XTS encryption (issue 4's benchmark).  Backing: one brd RAM
# disk of 256 MiB.  One 512-bit key (random, made by "up") for everyone;
# 512-byte crypto sectors, IV offset 0.  Configurations:
#   dm-crypt       dm-crypt, default options (kcryptd workqueues)
#   dm-crypt-nowq  dm-crypt with no_read_workqueue,no_write_workqueue
#   iof-crypt      iofilter volume, one rule over the whole device chaining a
#                  crypt instance (cipher=aes-xts-plain64 sector_size=512
#                  iv_offset=0, the key as the instance secret); bios of
#                  256 KiB and more go to its unbound worker (offload_size),
#                  smaller ones too while that pays (module parameter
#                  spread_ns, default)
#   iof-crypt-inline  the same with offload_size=0 and spread_ns=0: every bio
#                  converted in the submitter's or completion context
# CRYPT_SECTOR=4096 in the environment runs all four with 4 KiB sectors.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SIZE_MIB=256
SECTOR=${CRYPT_SECTOR:-512}

cmd_configs() {
	cat <<-'END'
	dm-crypt       peer     -                          dm-crypt
	dm-crypt-nowq  peer     -                          dm-crypt no_{read,write}_workqueue
	iof-crypt      iofilter dm-crypt:1.5,dm-crypt-nowq:1.2  iofilter crypt
	iof-crypt-inline iofilter dm-crypt,dm-crypt-nowq  iofilter crypt, offload_size=0 spread_ns=0
	END
}

cmd_up() {
	brd_up 1 "$SIZE_MIB"
	modprobe dm-crypt || ktap_skip "module dm-crypt not available"
	head -c 64 /dev/urandom > "$BENCH_STATE/crypt.key" || fail "key"
	chmod 600 "$BENCH_STATE/crypt.key"
	crypt_probe
}

# crypt_probe: instantiate xts(aes) once, before anything is measured.  The
# first instance makes the crypto API load and self-test the AES modules,
# and a lookup waits for that 60 s at most, by the guest clock: in icount
# mode that clock jumps ahead whenever the guest waits for the host (the
# modules come over 9p), so the first dm-crypt table load now and then
# failed with ETIMEDOUT.  A few tries; the modules stay loaded.
crypt_probe() {
	local i hex
	hex=$(od -An -v -tx1 "$BENCH_STATE/crypt.key" | tr -d ' \n')
	for ((i = 0; i < 5; i++)); do
		if dmsetup --noudevsync create bench-crypt-probe --table \
			"0 8 crypt aes-xts-plain64 $hex 0 /dev/ram0 0" 2> /dev/null; then
			bench_dm_remove bench-crypt-probe
			return 0
		fi
		sleep 1
	done
	fail "dm-crypt cannot instantiate aes-xts-plain64"
}

SPREAD=/sys/module/iofilter_crypt/parameters/spread_ns

cmd_down() {
	rm -f "$BENCH_STATE/crypt.key"
	if [ -f "$BENCH_STATE/spread_ns" ]; then
		cat "$BENCH_STATE/spread_ns" > "$SPREAD" 2> /dev/null
		rm -f "$BENCH_STATE/spread_ns"
	fi
	brd_down
}

cmd_start() {
	local cfg=$1 dev=/dev/ram0 sz hex opts=() id
	[ -b "$dev" ] && [ -f "$BENCH_STATE/crypt.key" ] || fail "run '$0 up' first"
	sz=$(blockdev --getsz "$dev")
	hex=$(od -An -v -tx1 "$BENCH_STATE/crypt.key" | tr -d ' \n')
	[ "$SECTOR" != 512 ] && opts+=("sector_size:$SECTOR")
	case "$cfg" in
	dm-crypt) ;;
	dm-crypt-nowq) opts+=(no_read_workqueue no_write_workqueue) ;;
	iof-crypt|iof-crypt-inline)
		need_iofilter crypt
		# spread_ns is the module's: the default for iof-crypt, 0 inline
		[ -f "$BENCH_STATE/spread_ns" ] || cat "$SPREAD" > "$BENCH_STATE/spread_ns" ||
			fail "no $SPREAD"
		if [ "$cfg" = iof-crypt ]; then
			cat "$BENCH_STATE/spread_ns" > "$SPREAD"
		else
			echo 0 > "$SPREAD"
		fi || fail "set spread_ns"
		iof_volume_up bench-crypt "$dev"
		id=$(iof_instance bench-crypt key0 crypt --secret-file "$BENCH_STATE/crypt.key" \
			cipher=aes-xts-plain64 "sector_size=$SECTOR" iv_offset=0 \
			"offload_size=$([ "$cfg" = iof-crypt ] && echo 256KiB || echo 0)")
		iof_chain_all bench-crypt "$id"
		echo "DEV=/dev/mapper/bench-crypt"
		return ;;
	*) fail "unknown configuration $cfg" ;;
	esac
	# the key is on dmsetup's command line: fine for a benchmark, not for
	# real use (cryptsetup or a keyring key there)
	echo "+ dmsetup create bench-crypt: 0 $sz crypt aes-xts-plain64 <key> 0 $dev 0 ${#opts[@]} ${opts[*]}" >&2
	dmsetup --noudevsync create bench-crypt --table \
		"0 $sz crypt aes-xts-plain64 $hex 0 $dev 0 ${#opts[@]} ${opts[*]}" >&2 ||
		fail "dmsetup create bench-crypt"
	dmsetup --noudevsync mknodes bench-crypt
	echo "DEV=/dev/mapper/bench-crypt"
}

cmd_stop() {
	bench_dm_remove bench-crypt
}

bench_main "$@"
