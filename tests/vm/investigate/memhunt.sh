#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: (investigation, issue 24) benchmark groups in a loop; the guest's mapped files checked after every round
# TIMEOUT: 7200
#
# Not part of make check.  Run it with
#   IOF_EXTRA_TESTS=tests/vm/investigate IOF_VM_ICOUNT=1 \
#       tests/vm/run-suite --kernels 6.12 --tests memhunt --keep
# (IOF_VM_DEBUG="page_poison=1 kfence.sample_interval=1" to catch a write
# to a free page when it is next allocated; IOF_VM_CPU=... for another CPU
# model: IOF_VM_CPU=max gives the guest QEMU 7.2's broken CMPXCHG16B flags
# again, which is how the double fault came back on 2026-12-05).
# Settings, as shell assignments in $BUILD/vm/memhunt.conf:
#   GROUPS_H   benchmark groups (tests/bench/scenarios/GROUP.sh), in order
#   CONFIGS    extended regex over their configuration names
#   FILES      extended regex over the fio job files to run (empty: all)
#   SECS       guest seconds to go on for;  RUNTIME  seconds per fio run
# Each round stacks every configuration as the benchmark does, runs the fio
# jobs on it, takes it down; after every fio run the kernel log is scanned,
# after every round tests/vm/memcheck compares the files the guest maps with
# the host's.  Progress lines go to $IOF_RESULTS/progress.
. "$IOF_ROOT/tests/lib/common.sh"
conf=/run/iof-vm/memhunt.conf
GROUPS_H=crypt CONFIGS='.*' SECS=600 RUNTIME=2 FILES=''
# shellcheck disable=SC1090
[ -f "$conf" ] && . "$conf"
export BENCH_STATE=$IOF_TMP/bench-state RUNTIME RAMP=0 WARMUP=1
mkdir -p "$BENCH_STATE"
REF=/run/iof-vm/memcheck.md5
SCEN=$IOF_ROOT/tests/bench/scenarios
BAD='pagealloc|BUG|Oops|corrupt|WARNING|KFENCE'
t_end=$(($(cut -d. -f1 /proc/uptime) + SECS))
iter=0 runs=0
echo "memhunt: groups=$GROUPS_H configs=$CONFIGS files=$FILES secs=$SECS runtime=$RUNTIME"
echo "memhunt: kernel $(uname -r), $(cat /proc/cmdline)"
grep -m1 -o -w 'avx2\|vaes\|vpclmulqdq\|la57' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
"$IOF_ROOT/tests/vm/memcheck" verify "$REF" || fail "mapped files corrupt before the first round"
while [ "$(cut -d. -f1 /proc/uptime)" -lt "$t_end" ]; do
	iter=$((iter + 1))
	for g in $GROUPS_H; do
		s=$SCEN/$g.sh
		"$s" up > "$IOF_TMP/up.log" 2>&1 || { cat "$IOF_TMP/up.log"; fail "$g up"; }
		for cfg in $("$s" configs | awk '{print $1}' | grep -E "^($CONFIGS)\$"); do
			dev=$("$s" start "$cfg" 2> "$IOF_TMP/start.log" | sed -n 's/^DEV=//p')
			[ -b "$dev" ] || { tail -n 5 "$IOF_TMP/start.log"; continue; }
			for f in "$SCEN/$g"-*.fio; do
				case "$f" in *.warmup.fio) continue ;; esac
				[ -n "$FILES" ] && ! echo "$f" | grep -Eq "$FILES" && continue
				DEV=$dev timeout 120 fio --output-format=terse "$f" > "$IOF_TMP/fio.out" 2>&1
				rc=$?
				runs=$((runs + 1))
				[ $rc = 0 ] || { echo "round $iter $g $cfg ${f##*/}: fio rc=$rc"; tail -n 3 "$IOF_TMP/fio.out"; }
				echo "$(cut -d' ' -f1 /proc/uptime) round $iter $g $cfg ${f##*/} rc=$rc" >> "$IOF_RESULTS/progress"
				if dmesg | grep -Eq "$BAD"; then
					dmesg | grep -E -A30 "$BAD" | head -n 80
					fail "kernel complaint in round $iter after $g $cfg ${f##*/}"
				fi
			done
			"$s" stop "$cfg" > /dev/null 2>&1
		done
		"$s" down > /dev/null 2>&1
	done
	if ! "$IOF_ROOT/tests/vm/memcheck" verify "$REF" > "$IOF_TMP/mc.out"; then
		cat "$IOF_TMP/mc.out"
		fail "CORRUPTION in round $iter after $runs fio runs, guest uptime $(cut -d' ' -f1 /proc/uptime) s"
	fi
	echo "round $iter done: $runs fio runs, guest uptime $(cut -d' ' -f1 /proc/uptime) s, modules: $(awk '/^iofilter/ {printf "%s ", $1}' /proc/modules)"
done
echo "memhunt: $iter rounds, $runs fio runs, no corruption, guest uptime $(cut -d' ' -f1 /proc/uptime) s"
