#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dkms-check.sh: DKMS end to end (issue 20), host side, as root.
#
#   tests/dkms-check.sh [--kernels "REL..."] [--vm-kernels "REL..."|none]
#
# 1. make dkms-src into a private source tree; dkms add, build and install
#    for every kernel of --kernels (default: every supported kernel), with a
#    private DKMS tree ($BUILD/dkms), so /usr/src and /var/lib/dkms stay
#    untouched; checks that the five modules are in
#    /lib/modules/REL/updates and that modprobe resolves them (and their
#    dependencies) by name there.
# 2. Boots a VM per --vm-kernels (default: the newest) to run
#    tests/vm/t/02-dkms-autoload.sh: iofilterctl apply loads everything by
#    name from updates/, no insmod.
# 3. Always (trap): dkms remove --all (and the signing key dkms made, if it
#    made one), and checks that no iofilter module is
#    left under /lib/modules/*/updates.  The install exists only while this
#    script runs: the other VM tests insmod build/REL/*.ko, and an installed
#    copy would answer their request_module("iofilter-<type>") calls.
#
# Ends with "dkms: N passed, N failed" (scripts/check.sh counts it as one
# result).  Exit 0 iff everything passed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
BUILD=$(realpath -m "${BUILD:-$root/build}")
kernels=$(scripts/kernels.sh supported)
vmk=''
while [ $# -gt 0 ]; do
	case "$1" in
	--kernels) kernels=$2; shift 2 ;;
	--vm-kernels) vmk=$2; shift 2 ;;
	*) echo "usage: $0 [--kernels \"REL...\"] [--vm-kernels \"REL...\"|none]" >&2; exit 2 ;;
	esac
done
[ -n "$vmk" ] || vmk=${kernels##* }
[ "$vmk" = none ] && vmk=''

say() { echo "# dkms-check: $*"; }
failed=0
bad() { echo "not ok: $*"; failed=1; }

[ "$(id -u)" = 0 ] || { echo "dkms-check: needs root (dkms install writes /lib/modules)" >&2; exit 2; }
command -v dkms > /dev/null || { echo "dkms-check: no dkms (scripts/deps.sh installs it)" >&2; exit 2; }

ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
work=$BUILD/dkms
D=(dkms --dkmstree "$work/tree" --sourcetree "$work/src")
# The files this script installs, to prove they are gone afterwards.
leftovers() { find /lib/modules/*/updates -name 'iofilter*.ko*' 2> /dev/null; }

cleanup() {
	local k
	say "dkms remove iofilter/$ver --all"
	"${D[@]}" remove "iofilter/$ver" --all > "$work/remove.log" 2>&1 ||
		{ cat "$work/remove.log"; bad "dkms remove"; }
	if [ -n "$(leftovers)" ]; then
		bad "left in /lib/modules after dkms remove: $(leftovers | tr '\n' ' ')"
		leftovers | xargs rm -f
		for k in $kernels; do depmod -a "$k"; done
	fi
	rm -rf "$work"
	# dkms makes a module signing key on its first build: not ours to keep.
	[ -n "$had_mok" ] || rm -f /var/lib/dkms/mok.key /var/lib/dkms/mok.pub
	if [ "$failed" = 0 ]; then echo "dkms: 1 passed, 0 failed"; else echo "dkms: 0 passed, 1 failed"; fi
	exit "$failed"
}

[ -z "$(leftovers)" ] || { echo "dkms-check: iofilter modules already in updates/ (not ours; refusing): $(leftovers)" >&2; exit 2; }
had_mok=$(ls /var/lib/dkms/mok.key 2> /dev/null)
rm -rf "$work"
mkdir -p "$work/tree"
trap cleanup EXIT
trap 'exit 1' INT TERM

t0=$(date +%s)
make --no-print-directory -s dkms-src DKMS_SRC="$work/src/iofilter-$ver" || { bad "make dkms-src"; exit 1; }
say "dkms add iofilter/$ver"
"${D[@]}" add "iofilter/$ver" > "$work/add.log" 2>&1 || { cat "$work/add.log"; bad "dkms add"; exit 1; }
for k in $kernels; do
	t=$(date +%s)
	for step in build install; do
		if ! "${D[@]}" "$step" "iofilter/$ver" -k "$k" > "$work/$step-$k.log" 2>&1; then
			tail -n 30 "$work/$step-$k.log"
			find "$work/tree" -name make.log -exec tail -n 30 {} \;
			bad "dkms $step -k $k"
			continue 2
		fi
	done
	for m in iofilter iofilter-crypt iofilter-replicate iofilter-cache iofilter-count iofilter-bpf; do
		p=$(modinfo -k "$k" -n "$m" 2> /dev/null)
		case "$p" in
		/lib/modules/"$k"/updates/*) ;;
		*) bad "$k: modprobe finds $m at '$p', not in updates/" ;;
		esac
	done
	modprobe -S "$k" --show-depends iofilter-cache | grep -q dm-bufio ||
		bad "$k: iofilter-cache has no dm-bufio dependency"
	"${D[@]}" status "iofilter/$ver" -k "$k" 2> /dev/null | grep -q installed || bad "$k: dkms status is not installed"
	say "$k: built and installed in $(($(date +%s) - t))s: $(modinfo -k "$k" -n iofilter)"
done

if [ -n "$vmk" ] && [ "$failed" = 0 ]; then
	for k in $vmk; do
		say "VM test 02-dkms-autoload on $k"
		IOF_RUN_TAG=-dkms tests/vm/run-suite --kernels "$k" --tests 02-dkms-autoload --keep > "$work/vm-$k.log" 2>&1
		rc=$?
		cat "$work/vm-$k.log"
		# A skip would mean the guest did not see the install: a failure here.
		if [ "$rc" != 0 ] || ! grep -Eq "^ *ok [0-9]+ 02-dkms-autoload$" "$work/vm-$k.log"; then
			bad "VM test 02-dkms-autoload on $k"
		fi
	done
fi
say "done in $(($(date +%s) - t0))s"
