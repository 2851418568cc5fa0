# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the replicate filter tests (tests/vm/t/4?-replicate-*.sh).
#   . "$IOF_ROOT/tests/lib/common.sh"; . "$IOF_ROOT/tests/lib/iof.sh"
#   . "$IOF_ROOT/tests/lib/replicate.sh"

# rep_wait VOLUME INSTANCE KEY VALUE [SECONDS]: wait until the instance's
# status says KEY=VALUE (default 60 s); fails with the status otherwise.
rep_wait() {
	local vol=$1 inst=$2 key=$3 want=$4 secs=${5:-60} i
	for ((i = 0; i < secs * 10; i++)); do
		[ "$(inst_stat "$vol" "$inst" "$key")" = "$want" ] && return 0
		sleep 0.1
	done
	fail "$inst: $key did not become $want in ${secs}s: $(abi status "$vol" "$inst")"
}

# rep_cmp A B BYTES: A and B hold the same first BYTES (read with O_DIRECT,
# so no page cache hides a difference).
rep_cmp() {
	local a=$1 b=$2 bytes=$3
	cmp <(dd if="$a" bs=1M count=$((bytes >> 20)) iflag=direct status=none) \
	    <(dd if="$b" bs=1M count=$((bytes >> 20)) iflag=direct status=none) ||
		fail "$a and $b differ"
}

# rep_status VOLUME INSTANCE: log the instance's status line
rep_status() {
	log "$2: $(abi status "$1" "$2")"
}
