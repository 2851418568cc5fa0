#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh: everything `make check` runs, in order:
#   1. scripts/deps.sh
#   2. make modules-all      (every kernel in KVERS; any "warning:" fails)
#   3. make tool, make unit  (host unit tests; skipped while the tool has no
#                             Makefile), tests/units-check.sh (systemd-analyze
#                             verify of packaging/systemd), tests/qemu-check.sh
#                             (the guest CPU model under TCG, issue 24)
#   4. tests/vm/run-suite --kernels "$KVERS" --tests "$TESTS"
#   5. tests/dkms-check.sh: dkms add/build/install for every kernel, the VM
#      test 02-dkms-autoload on the newest, dkms remove (one result)
#   6. tests/demo-check.sh (make demo in a fresh clone), when FULL=1
#   7. tests/selftest/check-runner, when RUNNER_SELFTEST=1
#   8. tests/bench/run --quick, when it exists (one test); without TESTS it
#      runs beside step 4's older kernel (IOF_CHECK_SERIAL=1: last, alone)
#   9. without TESTS: the crash-point replay tests ("# CHECK: crash") in a
#      VM of their own, one vCPU, beside step 4 once the benchmark is done
#      (IOF_CHECK_SERIAL=1: inside step 4)
# Counts: each build step is one test; make unit's own "N passed, N failed"
# line when it prints one (else one test); the VM suite's tests; the demo,
# the runner self-check and the benchmark one test each.  Ends with the line
# "N skipped" and then, last, "N passed, N failed" (the line CI reads); exit
# status 0 iff nothing failed.
#
# Environment: KVERS (kernel releases, default: all supported), TESTS (VM test
# filter), FULL=1 (every VM test on every kernel; see "Time budget" below),
# RUNNER_SELFTEST=1, BUILD.  Logs: $BUILD/check/.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
BUILD=$(realpath -m "${BUILD:-$root/build}")
export BUILD
logs=$BUILD/check
mkdir -p "$logs"

pass=0 failed=0 skipped=0 t_all=$(date +%s)
summary=()

say() { echo "==> $*"; }
# make for the build steps, without what `make check X=Y` put in the
# environment and MAKEFLAGS: TESTS=pattern (the VM filter) must not reach
# the sub-makes, where TESTS may mean something else.
bmake() {
	env -u TESTS -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
		make --no-print-directory "$@"
}
elapsed() { echo "$(($(date +%s) - $1))s"; }

# result NAME ok|fail|skip [DETAIL]
result() {
	case "$2" in
	ok) pass=$((pass + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
	summary+=("$(printf '%-22s %-5s %s' "$1" "$2" "${3:-}")")
	say "$1: $2${3:+ ($3)}"
}

# add_counts NAME LOG RC: add the "N passed, N failed[, N skipped]" line of
# LOG; a failing RC with no failure counted is one more failure.
add_counts() {
	local name=$1 log=$2 rc=$3 line p f s
	line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n1)
	if [ -z "$line" ]; then
		if [ "$rc" = 0 ]; then result "$name" ok "no count printed"; else result "$name" fail "exit status $rc, no count printed"; fi
		return
	fi
	line=${line#*: }
	read -r p _ f _ s _ <<< "${line//,/}"
	pass=$((pass + p)) failed=$((failed + f)) skipped=$((skipped + ${s:-0}))
	summary+=("$(printf '%-22s %s' "$name" "$line")")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		result "$name" fail "exit status $rc"
	fi
}

# totals: the closing lines; CI reads the last one, "N passed, N failed".
totals() {
	echo "$skipped skipped"
	echo "$pass passed, $failed failed"
}

# ------------------------------------------------------------------ deps
t=$(date +%s)
say "deps"
if ! scripts/deps.sh; then
	result deps fail "scripts/deps.sh failed: nothing else can run"
	totals
	exit 1
fi
# Releases; a series (6.1, 6.12) stands for its newest installed release.
kvers='' want=${KVERS:-$(scripts/kernels.sh supported)}
for k in $want; do
	[ -e "/lib/modules/$k/build" ] || k=$(scripts/kernels.sh pick "$k")
	[ -n "$k" ] && kvers="$kvers $k"
done
KVERS=${kvers# }
[ -n "$KVERS" ] || { result kernels fail "no kernel installed for '$want'"; totals; exit 1; }
TESTS=${TESTS:-}
say "kernels: $KVERS ($(elapsed "$t"))"

# ------------------------------------------------------------------ builds
t=$(date +%s)
if [ -f Kbuild ]; then
	say "make modules-all (KVERS=$KVERS)"
	bmake modules-all KVERS="$KVERS" > "$logs/modules.log" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then
		tail -n 40 "$logs/modules.log"
		result "build: modules" fail "make modules-all: exit status $rc, $logs/modules.log"
	elif grep -q 'warning:' "$logs/modules.log"; then
		grep -B2 -A3 'warning:' "$logs/modules.log" | head -n 60
		result "build: modules" fail "warnings, $logs/modules.log"
	else
		result "build: modules" ok "$(elapsed "$t")"
	fi
else
	result "build: modules" skip "no Kbuild yet"
fi

t=$(date +%s)
if [ -f tools/iofilterctl/Makefile ]; then
	say "make tool"
	if bmake tool > "$logs/tool.log" 2>&1; then
		result "build: tool" ok "$(elapsed "$t")"
		t=$(date +%s)
		say "make unit"
		bmake unit > "$logs/unit.log" 2>&1
		rc=$?
		grep -E '^(not )?ok |passed|failed|FAIL' "$logs/unit.log" | tail -n 40
		add_counts "unit" "$logs/unit.log" "$rc"
		say "unit: $(elapsed "$t")"
		t=$(date +%s)
		say "tests/units-check.sh (systemd-analyze verify)"
		tests/units-check.sh > "$logs/units.log" 2>&1
		rc=$?
		cat "$logs/units.log"
		add_counts "systemd units" "$logs/units.log" "$rc"
	else
		tail -n 40 "$logs/tool.log"
		result "build: tool" fail "$logs/tool.log"
		result "unit" fail "not run: the tool did not build"
	fi
else
	result "build: tool" skip "no tools/iofilterctl/Makefile yet"
	result "unit" skip "no tools/iofilterctl/Makefile yet"
fi

# The guest CPU the runners give TCG: CMPXCHG16B right or absent (issue 24)
say "tests/qemu-check.sh (the guest CPU model under TCG)"
tests/qemu-check.sh > "$logs/qemu.log" 2>&1
rc=$?
cat "$logs/qemu.log"
add_counts "qemu" "$logs/qemu.log" "$rc"

# ------------------------------------------------------------------ bench
# The quick benchmark (one test) boots its own VM, one host thread in the
# deterministic mode, and runs beside the VM suite on the older kernel
# (about as long; the suite's guest uses both host threads only part of the
# time).  It builds and makes its initrd first, alone: the suite starts
# when the benchmark's guest boots.  Its own VM lock and memcheck reference;
# dkms (which installs modules the guests would load) waits for both.
# IOF_CHECK_SERIAL=1 runs it last, alone, as before.
bench_pid='' bench_t=0
bench_wait_boot() {
	for _ in $(seq 1 600); do
		grep -q '^==> booting' "$logs/bench.log" 2> /dev/null && return 0
		kill -0 "$bench_pid" 2> /dev/null || return 0
		sleep 1
	done
}
# bench_result RC [END]: END, when it ran in the background: when it ended
bench_result() {
	local rc=$1 took
	took=$((${2:-$(date +%s)} - bench_t))s
	if [ "$rc" = 0 ]; then
		result "bench --quick" ok "$took"
	else
		result "bench --quick" fail "$logs/bench.log"
	fi
}
if [ -x tests/bench/run ] && [ -z "$TESTS" ] && [ "${IOF_CHECK_SERIAL:-0}" != 1 ]; then
	bench_t=$(date +%s)
	say "tests/bench/run --quick, in the background (log: $logs/bench.log)"
	rm -f "$logs/bench.end"
	{
		IOF_VM_LOCK=$BUILD/vm/qemu-bench.lock tests/bench/run --quick > "$logs/bench.log" 2>&1 < /dev/null
		rc=$?
		date +%s > "$logs/bench.end"
		exit "$rc"
	} &
	bench_pid=$!
	bench_wait_boot
fi

# ------------------------------------------------------------------ VM
# Time budget: under TCG the whole suite on every kernel takes longer than
# CI allows.  A test whose header says "# CHECK: newest-kernel" (the long
# replicate and cache scenarios; their data-path tests are not marked) runs
# on the newest kernel of KVERS only, unless FULL=1 or TESTS is given; every
# test passes on every kernel (make check FULL=1 runs them all).
# "# CHECK: crashtest" (long crash-point scenarios) runs in make crashtest
# only, unless FULL=1 or TESTS is given.
# "# CHECK: crash" (the sampled crash-point replay, 200 points a scenario;
# "crash newest-kernel": on the newest kernel only) runs in a VM of its own
# with one vCPU (a crash point is process starts and device set-up: one
# vCPU does them about 3x faster than two when the host's threads are
# shared, see tests/README.md), beside the suites, started when the
# benchmark is done; its own VM lock and results-REL-crash/.
t=$(date +%s)
newest=${KVERS##* }
older=${KVERS% "$newest"}
older=${older% }
# vmlist EGREP: the tests whose header does not match; -l EGREP: does
vmlist() {
	local sel=-L
	[ "$1" = -l ] && { sel=-l; shift; }
	grep "$sel" -E "$1" tests/vm/t/*.sh | xargs -n1 basename | sed 's/\.sh$//' | paste -sd, -
}
# crash_suite KERNELS TESTS TAG: the crash VM's run-suite, log vm-crash-TAG
crash_suite() {
	IOF_VM_CPUS=1 IOF_RUN_TAG=-crash IOF_VM_LOCK=$BUILD/vm/qemu-crash.lock \
		RUNNER_SELFTEST=0 tests/vm/run-suite --kernels "$1" --tests "$2" \
		> "$logs/vm-crash-$3.log" 2>&1 < /dev/null
	echo $? > "$logs/vm-crash-$3.rc"
}
crash_pid=''
if [ -z "$TESTS" ] && [ "${FULL:-0}" != 1 ] && [ -n "$older" ]; then
	if [ -n "$bench_pid" ]; then
		# own VM: the crash tests leave the suites
		light=$(vmlist '^# CHECK: (newest-kernel|crashtest|dkms|crash)')
		newest_tests=$(vmlist '^# CHECK: (crashtest|dkms|crash( |$))')
		crash_new=$(vmlist -l '^# CHECK: crash( |$)')
		crash_old=$(vmlist -l '^# CHECK: crash$')
		say "crash-point replay tests in their own VM after the benchmark (log: $logs/vm-crash-*.log)"
		rm -f "$logs"/vm-crash-*.rc "$logs/crash.end"
		{
			while kill -0 "$bench_pid" 2> /dev/null; do sleep 5; done
			crash_suite "$newest" "$crash_new" new
			[ -z "$crash_old" ] || crash_suite "$older" "$crash_old" old
			date +%s > "$logs/crash.end"
		} &
		crash_pid=$! crash_t=$(date +%s)
	else
		light=$(vmlist '^# CHECK: (newest-kernel|crashtest|dkms|crash newest-kernel)')
		newest_tests=$(vmlist '^# CHECK: (crashtest|dkms)')
	fi
	say "VM tests on $older (tests not marked newest-kernel; FULL=1 runs all)"
	RUNNER_SELFTEST=0 tests/vm/run-suite --kernels "$older" --tests "$light" 2>&1 |
		tee "$logs/vm-older.log"
	add_counts "vm ($older)" "$logs/vm-older.log" "${PIPESTATUS[0]}"
	say "VM tests on $newest (tests not marked crashtest)"
	RUNNER_SELFTEST=0 tests/vm/run-suite --kernels "$newest" --tests "$newest_tests" 2>&1 |
		tee "$logs/vm.log"
	add_counts "vm ($newest)" "$logs/vm.log" "${PIPESTATUS[0]}"
else
	say "VM tests on $KVERS${TESTS:+ (tests: $TESTS)}"
	args=(--kernels "$KVERS")
	[ -n "$TESTS" ] && args+=(--tests "$TESTS")
	RUNNER_SELFTEST=0 tests/vm/run-suite "${args[@]}" 2>&1 | tee "$logs/vm.log"
	add_counts "vm ($KVERS)" "$logs/vm.log" "${PIPESTATUS[0]}"
fi
say "VM tests: $(elapsed "$t")"

if [ -n "$crash_pid" ]; then
	say "waiting for the crash-point replay VM"
	wait "$crash_pid"
	for k in new old; do
		[ -f "$logs/vm-crash-$k.log" ] || continue
		cat "$logs/vm-crash-$k.log"
		add_counts "vm crash ($k)" "$logs/vm-crash-$k.log" "$(cat "$logs/vm-crash-$k.rc" 2> /dev/null || echo 1)"
	done
	say "crash-point replay VM: $(($(cat "$logs/crash.end" 2> /dev/null || date +%s) - crash_t))s after it was started"
fi

if [ -n "$bench_pid" ]; then
	say "waiting for the quick benchmark"
	wait "$bench_pid"
	rc=$?
	cat "$logs/bench.log"
	bench_result "$rc" "$(cat "$logs/bench.end" 2> /dev/null)"
fi

# DKMS: install for every kernel, the autoload VM test on the newest, remove
# (the install must not exist while other VM tests run: tests/README.md).
t=$(date +%s)
if [ -z "$TESTS" ] || [[ "$TESTS" == *dkms* ]]; then
	say "tests/dkms-check.sh"
	tests/dkms-check.sh --kernels "$KVERS" 2>&1 | tee "$logs/dkms.log"
	if [ "${PIPESTATUS[0]}" = 0 ]; then
		result "dkms" ok "$(elapsed "$t")"
	else
		result "dkms" fail "$logs/dkms.log"
	fi
fi

# make demo as a new user runs it, in a fresh clone (tests/demo-check.sh):
# it builds again and boots a VM, about 3.5 minutes, so with FULL=1 only.
t=$(date +%s)
if [ "${FULL:-0}" = 1 ] && [ -z "$TESTS" ]; then
	say "make demo in a fresh clone (tests/demo-check.sh)"
	if tests/demo-check.sh > "$logs/demo-check.log" 2>&1; then
		result "demo (fresh clone)" ok "$(elapsed "$t")"
	else
		tail -n 30 "$logs/demo-check.log"
		result "demo (fresh clone)" fail "$logs/demo-check.log"
	fi
else
	result "demo (fresh clone)" skip "FULL=1 runs it (about 3.5 minutes)"
fi

if [ "${RUNNER_SELFTEST:-0}" = 1 ]; then
	t=$(date +%s)
	k=${KVERS##* }
	say "runner self-check on $k"
	if tests/selftest/check-runner "$k" 2>&1 | tee "$logs/check-runner.log"; then
		result "runner self-check" ok "$(elapsed "$t")"
	else
		result "runner self-check" fail "$logs/check-runner.log"
	fi
fi

if [ -x tests/bench/run ] && [ -z "$bench_pid" ]; then
	bench_t=$(date +%s)
	say "tests/bench/run --quick"
	tests/bench/run --quick 2>&1 | tee "$logs/bench.log"
	bench_result "${PIPESTATUS[0]}"
fi

echo "==> summary ($(elapsed "$t_all"))"
printf '    %s\n' "${summary[@]}"
totals
[ "$failed" = 0 ]
