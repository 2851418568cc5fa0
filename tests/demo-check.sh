#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo-check.sh: "make demo" as a new user runs it: in a fresh clone of the
# committed branch (no build/ directory), with the first command the README
# gives.  Fails when make demo exits non-zero, when a line of its output
# says that a part of the product is missing ("not built", "skipping",
# "stands in"), or when it does not end with "demo ok".  Prints the time
# it took.  scripts/check.sh runs it with FULL=1 (it builds the modules
# again and boots a VM: about 3.5 minutes under emulation).
#
#   tests/demo-check.sh [KEEP=1 keeps the clone]
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
branch=$(git -C "$root" rev-parse --abbrev-ref HEAD) || exit 1
tmp=$(mktemp -d /tmp/iof-demo-check.XXXXXX) || exit 1
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
out=$tmp/make-demo.out

echo "==> git clone --branch $branch $root $tmp/iofilter"
git clone -q --branch "$branch" "$root" "$tmp/iofilter" || { echo "demo-check: FAIL: git clone"; exit 1; }
[ ! -e "$tmp/iofilter/build" ] || { echo "demo-check: FAIL: the clone has a build/"; exit 1; }
t0=$(date +%s)
# nothing of the caller's make or build settings
(cd "$tmp/iofilter" && env -u BUILD -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
	-u KVERS -u KDIR -u TESTS make demo) 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
secs=$(($(date +%s) - t0))
echo "==> make demo in a fresh clone: exit $rc in ${secs}s"
[ "$rc" = 0 ] || { echo "demo-check: FAIL: make demo exited $rc"; exit 1; }
if bad=$(grep -Ei 'not built|skipping|stands? in' "$out"); then
	echo "demo-check: FAIL: a step did not show the product:"
	printf '  %s\n' "$bad"
	exit 1
fi
grep -q '^==> demo ok' "$out" || { echo "demo-check: FAIL: no \"demo ok\" at the end"; exit 1; }
echo "demo-check: ok (${secs}s)"
