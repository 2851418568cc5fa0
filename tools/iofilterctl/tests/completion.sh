#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of the bash completion: source it, fill COMP_WORDS / COMP_CWORD
# as bash would, call _iofilterctl and compare COMPREPLY.  "iofilterctl" is a
# shell function here standing in for the kernel's answer to "status".
# completion.sh [IOFILTERCTL]: with the built tool, also a run against no
# module.  Exit 0 when every case passes, 1 otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/iofilterctl/iofilterctl.bash-completion
. "$here/../iofilterctl.bash-completion"

fail=0
n=0

check()
{
	local want=$1 got
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	_iofilterctl 2>"$tmp/stderr"
	got="${COMPREPLY[*]}"
	n=$((n + 1))
	if [[ $got != "$want" ]]; then
		echo "  FAIL completion of '$*': got '$got', expected '$want'" >&2
		fail=1
	elif [[ -s $tmp/stderr ]]; then
		echo "  FAIL completion of '$*' printed: $(cat "$tmp/stderr")" >&2
		fail=1
	fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/pol"
: >"$tmp/pol/vm.yaml"
: >"$tmp/pol/notes.txt"

# shellcheck disable=SC2317 # called by the completion
iofilterctl()
{
	[[ $1 == status ]] || return 1
	printf '%s\n' "vm1: /dev/mapper/vm1 (253:0)" "  origin:     /dev/loop0 (7:0)" \
		"  instance stats: type count, class inspect" "vm2: /dev/mapper/vm2 (253:1)"
}

check "apply apply-all" iofilterctl ap
check "detach detach-all" iofilterctl deta
check "status stats" iofilterctl stat
check "help" iofilterctl -v he
check "--output" iofilterctl --ou
check "text json" iofilterctl -o ""
check "vm1 vm2" iofilterctl status ""
check "vm2" iofilterctl -o json detach vm2
check "vm1 vm2" iofilterctl stats --watch 1 v
check "" iofilterctl stats --watch ""
check "" iofilterctl status vm1 ""
check "--dry-run" iofilterctl apply --d
check "--force" iofilterctl apply --f
check "--yes" iofilterctl detach --y
check "--strict" iofilterctl validate --s
check "$tmp/pol/vm.yaml" iofilterctl apply "$tmp/pol/"
check "$tmp/pol" iofilterctl validate "$tmp/po"
check "validate" iofilterctl help va

# Without the module (or as a user): no volumes, and nothing printed.
# shellcheck disable=SC2317 # called by the completion
iofilterctl()
{
	echo "iofilterctl: cannot open /dev/iofilter: No such file or directory" >&2
	return 4
}
check "" iofilterctl status ""
check "" iofilterctl detach v
unset -f iofilterctl

# The real tool (make test passes it) on a host without the module: quiet.
if [[ $# -ge 1 && ! -e /dev/iofilter ]]; then
	check "" "$1" status ""
fi
# The verbs offered are the tool's (its --help), in its order.
if [[ $# -ge 1 ]]; then
	want=$("$1" --help | sed -n '/^Verbs:/,/^$/p' | awk '/^  [a-z]/ { printf "%s%s", s, $1; s = " " }')
	check "$want" iofilterctl ""
fi

if ((fail)); then
	echo "not ok completion" >&2
	exit 1
fi
echo "completion: $n cases passed"
