# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the iofilterctl tests (tests/vm/t/2?-ctl-*.sh): run the tool,
# check its exit code, output and JSON, and take snapshots of what the
# kernel has, to prove that a refused command changed nothing.
#   . "$IOF_ROOT/tests/lib/common.sh"; . "$IOF_ROOT/tests/lib/iof.sh"
#   . "$IOF_ROOT/tests/lib/ctl.sh"

[ -x "${IOF_TOOL:-}" ] || ktap_skip "iofilterctl not built (make tool)"
need_cmd jq losetup
CTL_OUT=$IOF_TMP/ctl.out CTL_ERR=$IOF_TMP/ctl.err

# ctl ARGS...: run iofilterctl; its stdout is in $CTL_OUT, its stderr in
# $CTL_ERR (both also logged); returns its exit code.
ctl() {
	local rc=0
	echo "+ iofilterctl $*"
	"$IOF_TOOL" "$@" > "$CTL_OUT" 2> "$CTL_ERR" || rc=$?
	sed 's/^/  1| /' "$CTL_OUT"
	sed 's/^/  2| /' "$CTL_ERR"
	[ "$rc" = 0 ] || echo "  exit $rc"
	return $rc
}

# ctl_rc CODE ARGS...: run iofilterctl, fail unless it exits with CODE.
ctl_rc() {
	local want=$1 rc=0
	shift
	ctl "$@" || rc=$?
	[ "$rc" = "$want" ] || fail "iofilterctl $*: exit $rc, expected $want"
}

# out_has ERE / err_has ERE / out_lacks ERE: grep the last run's output.
out_has() { grep -Eq -- "$1" "$CTL_OUT" || fail "stdout lacks /$1/"; }
err_has() { grep -Eq -- "$1" "$CTL_ERR" || fail "stderr lacks /$1/"; }
out_lacks() { ! grep -Eq -- "$1" "$CTL_OUT" || fail "stdout has /$1/"; }

# json_docs N: stdout is exactly N JSON documents, each an object.
json_docs() {
	local n
	n=$(jq -s 'map(type == "object") | length' "$CTL_OUT") ||
		fail "stdout is not valid JSON"
	assert_eq "$1" "$n" "JSON documents on stdout"
	jq -e -s 'all(type == "object")' "$CTL_OUT" > /dev/null || fail "JSON: not objects"
}

# jv FILTER: jq -r FILTER on the last run's stdout (one document).
jv() { jq -r "$1" "$CTL_OUT"; }

# jq_true FILTER [WHAT]: the filter holds on stdout.
jq_true() {
	jq -e "$1" "$CTL_OUT" > /dev/null || fail "${2:-JSON check} failed: $1"
}

# kstate FILE [VOLUME...]: what the kernel has: dm devices and tables, loop
# devices, and per volume the raw rule table (with its generation) and the
# instances (ids, users, parameter blocks).  Two equal files: nothing changed.
kstate() {
	local f=$1 v
	shift
	{
		echo "== dm"
		dmsetup table 2>&1 | sort
		echo "== loop"
		losetup -l -n -O NAME,BACK-FILE,AUTOCLEAR 2>&1 | sort
		for v; do
			echo "== $v"
			abi table "$v" 2>&1
			abi instances "$v" 2>&1
		done
	} > "$f"
}

# kstate_same FILE [VOLUME...]: the kernel still matches snapshot FILE.
kstate_same() {
	local f=$1
	shift
	kstate "$f.now" "$@"
	diff -u "$f" "$f.now" || fail "kernel state changed (see diff above)"
}

# loops_of FILE: loop devices backed by FILE, one a line.
loops_of() {
	losetup -n -O NAME -j "$1"
}
