# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Host-side helpers shared by tests/vm/run-suite and tests/vm/run-demo:
# choosing the accelerator and starting QEMU.  Expects IOF_ROOT and BUILD.
#
# Environment:
#   IOF_ACCEL=kvm|tcg   force the accelerator (default: probe, cached)
#   IOF_TCG_THREAD=single  one host thread for all guest CPUs under TCG
#                       (default multi: one per CPU; single rules out
#                       multi-threaded TCG when a guest crash looks like
#                       the emulator's)
#   IOF_VM_ICOUNT=1     deterministic TCG: one host thread and the guest clock
#                       counting executed instructions (-icount shift=0,
#                       sleep=off; 1 ns each): CPU cost per I/O, not speed
#   IOF_VM_CPU=MODEL    the guest CPU model under TCG (default max,-cx16:
#                       see vm_cpu_model)
#   IOF_VM_MEM=2G       guest memory
#   IOF_VM_CPUS=2       guest CPUs
#   IOF_VM_LOCK=FILE    the one-VM-at-a-time lock (default $BUILD/vm/qemu.lock)

VM_PID=

# vm_lock: one VM at a time on this machine (2 cores, and run-suite wipes
# its results dir): wait for the lock file, held until the caller exits.
# IOF_VM_LOCK names it (share one between several checkouts of the tree);
# default $BUILD/vm/qemu.lock.
vm_lock() {
	local lock=${IOF_VM_LOCK:-$BUILD/vm/qemu.lock}
	mkdir -p "$BUILD/vm" "$(dirname "$lock")"
	exec {VM_LOCK_FD}> "$lock"
	if ! flock -n "$VM_LOCK_FD"; then
		echo "# waiting for another VM run to finish ($lock)..." >&2
		flock "$VM_LOCK_FD"
	fi
}

# vm_accel REL: print the QEMU accelerator arguments.  KVM only when a probe
# (a real boot of REL up to the 9p mount, 20 s at most) worked on this host;
# the answer is cached in $BUILD/vm/accel for this host kernel and QEMU.
vm_accel() {
	local rel=$1 accel=${IOF_ACCEL:-} cache=$BUILD/vm/accel key log
	if [ -z "$accel" ]; then
		key="host=$(uname -r) $(qemu-system-x86_64 --version | head -n1)"
		if [ ! -w /dev/kvm ]; then
			accel=tcg
		elif [ -f "$cache" ] && [ "$(sed -n 2p "$cache")" = "$key" ]; then
			accel=$(sed -n 1p "$cache")
		else
			echo "# probing KVM (20 s at most)..." >&2
			log=$BUILD/vm/kvm-probe.log
			timeout 20 qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m 512M \
				-nodefaults -display none -no-reboot -monitor none \
				-serial "file:$log" -kernel "/boot/vmlinuz-$rel" \
				-initrd "$BUILD/vm/initrd-$rel.img" \
				-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
				-append "console=ttyS0 quiet panic=-1 iof.probe=1" > /dev/null 2>&1
			if grep -q IOF-PROBE-OK "$log" 2>/dev/null; then accel=kvm; else accel=tcg; fi
			printf '%s\n%s\n' "$accel" "$key" > "$cache"
			echo "# KVM probe: using $accel" >&2
		fi
	fi
	case "$accel" in
	kvm) echo "-accel kvm -cpu host" ;;
	*)	if [ "${IOF_VM_ICOUNT:-0}" = 1 ]; then
			echo "-accel tcg,thread=single -icount shift=0,sleep=off -cpu $(vm_cpu_model)"
		else
			echo "-accel tcg,thread=${IOF_TCG_THREAD:-multi} -cpu $(vm_cpu_model)"
		fi ;;
	esac
}

# vm_cpu_model: the guest CPU under TCG.  "max" without CMPXCHG16B: QEMU
# 7.2's TCG leaves the flags after CMPXCHG16B wrong (the low bits of an
# earlier operand; tests/qemu/cx16-flags.c), which a guest kernel's SLUB
# executes on every allocation; an interrupt in that window loads them
# (DF, TF, NT, ...) and the guest corrupts memory or double-faults (issue
# 24, Documentation/testing.rst).  Without the feature the kernel takes
# its cmpxchg16b emulation.  tests/qemu-check.sh checks the model.
vm_cpu_model() {
	echo "${IOF_VM_CPU:-max,-cx16}"
}

# hidden_in_guest PATH: true when the guest cannot see PATH through the host
# root export (its /tmp and /run are tmpfs of its own).
hidden_in_guest() {
	case "$1" in /tmp|/tmp/*|/run|/run/*) return 0 ;; esac
	return 1
}

# vm_start REL CONSOLE_LOG CMDLINE...: boot REL in the background (VM_PID),
# serial console to CONSOLE_LOG.  The guest sees the host root read-only and
# $BUILD/vm writable at /run/iof-vm (tag iofvm).  Every virtio device costs
# seconds of boot under slub_debug: the repository and $BUILD get exports of
# their own only when the host root export cannot show them.
vm_start() {
	local rel=$1 console=$2
	shift 2
	local accel fs=security_model=none,multidevs=remap extra=''
	# shellcheck disable=SC2207 # the accelerator arguments are words
	accel=($(vm_accel "$rel"))
	local args=(
		"${accel[@]}" -smp "${IOF_VM_CPUS:-2}" -m "${IOF_VM_MEM:-2G}"
		-nodefaults -display none -no-reboot -monitor none
		-serial "file:$console"
		-kernel "/boot/vmlinuz-$rel" -initrd "$BUILD/vm/initrd-$rel.img"
		-virtfs "local,path=/,mount_tag=hostroot,readonly=on,$fs"
		-virtfs "local,path=$BUILD/vm,mount_tag=iofvm,$fs"
	)
	if hidden_in_guest "$IOF_ROOT"; then
		args+=(-virtfs "local,path=$IOF_ROOT,mount_tag=iofrepo,readonly=on,$fs")
		extra="$extra iof.mnt=iofrepo:$IOF_ROOT"
	fi
	case "$BUILD/" in
	"$IOF_ROOT"/*) ;;
	*) if hidden_in_guest "$BUILD"; then
		args+=(-virtfs "local,path=$BUILD,mount_tag=iofbuild,readonly=on,$fs")
		extra="$extra iof.mnt=iofbuild:$BUILD"
	fi ;;
	esac
	args+=(-append "console=ttyS0 quiet panic=-1 iof.root=$IOF_ROOT iof.build=$BUILD$extra $*")
	: > "$console"
	qemu-system-x86_64 "${args[@]}" < /dev/null > "$console.qemu" 2>&1 &
	VM_PID=$!
}

# vm_memcheck_snap: the reference for the guest's end-of-boot check of the
# files it maps (tests/vm/memcheck), in $BUILD/vm/memcheck.md5.
vm_memcheck_snap() {
	mkdir -p "$BUILD/vm"
	"$IOF_ROOT/tests/vm/memcheck" snap "$BUILD/vm/memcheck.md5"
}

# vm_memcheck_result RESDIR: print the verdict of every boot that wrote
# one (RESDIR/memcheck-BOOT); return 1 when a boot found a mapped file
# changed in guest memory that did not change on the host.
vm_memcheck_result() {
	local res=$1 f bad=0 host_changed
	host_changed=$("$IOF_ROOT/tests/vm/memcheck" recheck "$BUILD/vm/memcheck.md5")
	for f in "$res"/memcheck-*; do
		[ -f "$f" ] || continue
		if grep -q '^memcheck: CORRUPT' "$f"; then
			if [ -n "$host_changed" ] &&
				! grep '^memcheck: CORRUPT' "$f" | sed 's/^memcheck: CORRUPT //' |
				grep -vxF -f <(printf '%s\n' "$host_changed") > /dev/null; then
				echo "boot ${f##*-}: files changed on the host during the run (not guest corruption): $host_changed"
				continue
			fi
			echo "boot ${f##*-}: GUEST MEMORY CORRUPTION: $(grep '^memcheck: CORRUPT' "$f" | sed 's/^memcheck: CORRUPT //' | tr '\n' ' ')"
			bad=1
		else
			echo "boot ${f##*-}: $(tail -n 1 "$f")"
		fi
	done
	return $bad
}

# vm_kill: stop the VM started by vm_start (if still running) and reap it.
vm_kill() {
	[ -n "$VM_PID" ] || return 0
	kill "$VM_PID" 2> /dev/null
	wait "$VM_PID" 2> /dev/null
	VM_PID=
}
