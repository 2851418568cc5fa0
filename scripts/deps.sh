#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# deps.sh: install (apt-get) every Debian package the project needs to build,
# test and benchmark: kernels and headers for both supported series, the VM
# runner's tools, the tool's libraries.  Quiet and quick when everything is
# there; otherwise one `apt-get update` and one install.  Needs root (or sudo).
#
#   scripts/deps.sh           install what is missing
#   scripts/deps.sh --check   only list what is missing (exit 1 if anything)
set -euo pipefail

packages=(
	# kernels to test on, and their headers to build the modules
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	build-essential sparse pkg-config
	# iofilterctl
	libyaml-dev libdevmapper-dev liburing-dev
	# the bpf filter type: programs (clang -target bpf), loading, inspection
	clang libbpf-dev bpftool
	# the VM and what runs in it
	qemu-system-x86 busybox-static kmod xz-utils cpio
	dmsetup cryptsetup-bin nbd-server nbd-client e2fsprogs keyutils fio
	# qcow2 and other VM image formats (qemu-img, qemu-nbd)
	qemu-utils
	# qemu-x86_64: tests/qemu-check.sh runs its probe under TCG (issue 24)
	qemu-user
	util-linux coreutils
	# DKMS packaging (tests/dkms-check.sh), udev in the guest (23-ctl-udev)
	dkms udev
	# benchmarks
	gnuplot-nox bcache-tools
)

missing=()
for p in "${packages[@]}"; do
	case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" in
	ii*) ;;
	*) missing+=("$p") ;;
	esac
done

[ "${#missing[@]}" = 0 ] && exit 0
if [ "${1:-}" = --check ]; then
	echo "missing packages: ${missing[*]}"
	exit 1
fi

echo "deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo > /dev/null || {
		echo "deps: not root and no sudo; as root: apt-get install ${missing[*]}" >&2
		exit 1
	}
	sudo=(sudo)
fi
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${apt[@]}" update > "$log" 2>&1 ||
	! "${apt[@]}" -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		install --no-install-recommends "${missing[@]}" >> "$log" 2>&1; then
	cat "$log" >&2
	echo "deps: apt-get failed" >&2
	exit 1
fi
echo "deps: done" >&2
