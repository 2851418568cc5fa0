#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# units-check.sh: systemd-analyze verify of packaging/systemd/*.service
# (host side; scripts/check.sh runs it as one result).  The units name
# /usr/sbin/iofilterctl, which verify wants to exist, and man:iofilterctl(8),
# which it looks up with man: both point to this tree's build (BUILD) here.
# Any message of verify fails the check, warnings too.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath -m "${BUILD:-$root/build}")
tool=$BUILD/iofilterctl
[ -x "$tool" ] || { echo "units-check: $tool not built (make tool)" >&2; exit 2; }
command -v systemd-analyze > /dev/null || { echo "units-check: no systemd-analyze" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/man/man8"
cp "$root/tools/iofilterctl/iofilterctl.8" "$tmp/man/man8/"
for u in "$root"/packaging/systemd/*.service; do
	sed "s#/usr/sbin/iofilterctl#$tool#g" "$u" > "$tmp/${u##*/}"
done
out=$(MANPATH=$tmp/man systemd-analyze verify "$tmp"/*.service 2>&1)
rc=$?
if [ "$rc" != 0 ] || [ -n "$out" ]; then
	echo "$out"
	echo "units-check: systemd-analyze verify: exit $rc"
	echo "units: 0 passed, 1 failed"
	exit 1
fi
echo "units-check: systemd-analyze verify: $(cd "$tmp" && ls ./*.service | tr '\n' ' ')ok"
echo "units: 1 passed, 0 failed"
