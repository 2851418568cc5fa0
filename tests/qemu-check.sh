#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qemu-check.sh: does the guest CPU the runners give QEMU's TCG (vmlib.sh,
# vm_cpu_model) run CMPXCHG16B with the right flags, or not have it?
# tests/qemu/cx16-flags.c runs natively (must be right: the probe itself),
# under qemu-x86_64 -cpu max (shown: QEMU 7.2 gets it wrong) and under
# qemu-x86_64 -cpu <the runners' model> (must be right, or report no
# CMPXCHG16B).  qemu-x86_64 is the same TCG front end as qemu-system-x86_64.
# Issue 24; Documentation/testing.rst.  Prints "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath -m "${BUILD:-$root/build}")
export IOF_ROOT=$root BUILD
# shellcheck source=tests/vm/vmlib.sh
. "$root/tests/vm/vmlib.sh"
pass=0 failed=0
check() {	# check NAME CMD...
	local name=$1
	shift
	if "$@"; then
		echo "ok - $name"
		pass=$((pass + 1))
	else
		echo "not ok - $name"
		failed=$((failed + 1))
	fi
}
if ! command -v qemu-x86_64 > /dev/null; then
	echo "qemu-check: qemu-x86_64 missing (package qemu-user; scripts/deps.sh)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$BUILD/qemu"
probe=$BUILD/qemu/cx16-flags
if ! gcc -O1 -Wall -Wextra -Werror -o "$probe" "$root/tests/qemu/cx16-flags.c"; then
	echo "0 passed, 1 failed"
	exit 1
fi
model=$(vm_cpu_model)
check "cx16-flags natively" "$probe"
echo "# under qemu-x86_64 -cpu max (what QEMU $(qemu-x86_64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') does with the feature):"
qemu-x86_64 -cpu max "$probe" | sed 's/^/#   /'
check "cx16-flags under qemu-x86_64 -cpu $model (the runners' guest CPU)" \
	qemu-x86_64 -cpu "$model" "$probe"
echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
