#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Kernel discovery for the build and the VM runner.
#   kernels.sh kdir            build dir to use by default
#   kernels.sh krel KDIR       kernel release of a build dir
#   kernels.sh supported       installed Debian releases we support (6.1, 6.12)
#   kernels.sh pick SERIES     newest installed release of a series (e.g. 6.12)
set -u
releases() {
	local d
	for d in /lib/modules/*/build; do
		[ -e "$d/Makefile" ] || continue
		d=${d%/build}; echo "${d##*/}"
	done | sort -V
}
pick() {
	releases | grep -E "^${1//./\\.}([.-]|$)" | tail -n1
}
case "${1:-}" in
kdir)
	r=$(uname -r)
	if [ -e "/lib/modules/$r/build/Makefile" ]; then
		echo "/lib/modules/$r/build"
	else
		r=$(releases | tail -n1)
		[ -n "$r" ] && echo "/lib/modules/$r/build"
	fi ;;
krel)
	k=${2:-}
	u="$k/include/generated/utsrelease.h"
	if [ -f "$u" ]; then
		sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$u"
	elif [ -n "$k" ]; then
		k=$(readlink -f "$k"); k=${k%/build}; echo "${k##*/}"
	fi ;;
supported)
	out=""
	for s in 6.1 6.12; do
		r=$(pick "$s"); [ -n "$r" ] && out="$out $r"
	done
	# shellcheck disable=SC2086 # one line, words trimmed
	echo $out ;;
pick)
	pick "$2" ;;
*)
	echo "usage: $0 kdir|krel KDIR|supported|pick SERIES" >&2; exit 2 ;;
esac
