#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: iofilterctl bad input: bad policies (validate and apply), missing devices, filter module not loaded, unprivileged caller, other documented exit codes: clear error, documented exit code, nothing changed (one KTAP subtest each)
# CHECK: newest-kernel
# TIMEOUT: 300
# REQUIRES: dmsetup losetup jq iofilter tool
# shellcheck disable=SC2317 # the checks run through subtest
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/ctl.sh"

load_iofilter count
# A directory and files the unprivileged caller can read.
P=$IOF_TMP/pub
{ mkdir -p "$P" && chmod 755 "$IOF_TMP" "$P"; } || fail "mkdir"
DEV=$(mkloop 32 "$P/dev.img") || exit 1
DEV2=$(mkloop 8 "$P/dev2.img") || exit 1

# pol NAME: write a policy from stdin; the first lines are the good volume.
pol() {
	{
		printf 'version: 1\nvolumes:\n  - name: t-cbad\n    device: %s\n' "$DEV"
		cat
	} > "$P/$1.yaml"
	chmod 644 "$P/$1.yaml"
}

pol good <<'EOF'
    filters:
      - name: cnt
        type: count
    rules:
      - name: data
        range: {start: 1MiB, length: 8MiB}
        chain: [cnt]
EOF
ctl_rc 0 apply "$P/good.yaml"
kstate "$IOF_TMP/k0" t-cbad

# ---- bad policies: validate and apply give FILE:LINE:COL: MESSAGE, exit 1,
# and apply changes nothing.
pol yaml <<'EOF'
    rules: [ {range: {start: 0}
EOF
pol ukey <<'EOF'
    rulez: []
EOF
pol wtype <<'EOF'
    rules:
      - ops: write
        action: deny
EOF
pol overlap <<'EOF'
    rules:
      - range: {start: 0, length: 2MiB}
        action: deny
      - range: {start: 1MiB, length: 2MiB}
        action: pass
EOF
pol beyond <<'EOF'
    rules:
      - range: {start: 16MiB, length: 32MiB}
        action: deny
EOF
pol utype <<'EOF'
    filters:
      - name: x
        type: nosuch
    rules:
      - chain: [x]
EOF
pol size <<'EOF'
    rules:
      - range: {start: 1MB, length: 1000}
        action: deny
EOF
pol vers <<'EOF'
    rules: []
EOF
sed -i 's/^version: 1$/version: "1"/' "$P/vers.yaml"
# the good volume's change is not applied either: the file has an error
pol twovol <<EOF
    rules:
      - range: {start: 0, length: 1MiB}
        action: deny
  - name: t-cnew
    device: $DEV2
    rules:
      - range: {start: 4MiB, length: 8MiB}
        action: deny
EOF

# Files for the cases below.
cat > "$P/nodev.yaml" <<EOF
version: 1
volumes:
  - name: t-cnew
    device: /dev/no-such-disk
EOF
cat > "$P/noimg.yaml" <<EOF
version: 1
volumes:
  - name: t-cnew
    image: $P/no-such.img
EOF
cat > "$P/crypt.yaml" <<EOF
version: 1
volumes:
  - name: t-cnew
    device: $DEV2
    filters:
      - name: enc
        type: crypt
        params: {cipher: aes-xts-plain64, key: logon:t-cnew}
    rules:
      - range: {start: 0, length: 4MiB}
        chain: [enc]
EOF
sed 's/length: 8MiB/length: 4MiB/' "$P/good.yaml" > "$P/changed.yaml"
chmod 644 "$P/changed.yaml"
if command -v setpriv > /dev/null; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
elif command -v runuser > /dev/null; then
	as_nobody() { runuser -u nobody -- "$@"; }
else
	as_nobody() { ktap_skip "neither setpriv nor runuser"; }
fi

# check_bad NAME LINE:COL MESSAGE [json]
check_bad() {
	local f=$1 pos=$2 msg=$3 verb
	for verb in validate apply; do
		ctl_rc 1 "$verb" "$P/$f.yaml"
		err_has "^$P/$f.yaml:$pos: $msg"
		[ -s "$CTL_OUT" ] && fail "$verb $f: output on stdout"
	done
	err_has "^$P/$f.yaml: [0-9]+ errors?; nothing applied$"
	if [ -n "${4:-}" ]; then
		ctl_rc 1 -o json apply "$P/$f.yaml"
		json_docs 1
		jq_true '.volumes == [] and (.errors | length) >= 1' "$f: JSON"
		jq_true '.errors[0] | .file == "'"$P/$f.yaml"'" and "\(.line):\(.column)" == "'"$pos"'"' "$f: JSON position"
	fi
	kstate_same "$IOF_TMP/k0" t-cbad
}

validate_json_bad() {
	ctl_rc 1 -o json validate "$P/size.yaml"
	json_docs 1
	jq_true '.valid == false and (.errors | length) == 2 and (.errors[0].hint | length) > 0'
}

validate_json_good() {
	ctl_rc 0 -o json validate "$P/good.yaml"
	jq_true '.valid == true and .volumes == 1 and .filters == 1 and .rules == 1 and .errors == []'
}

# ---- origins that do not exist: validate passes (they may exist later),
# --strict and apply refuse; nothing is created
no_origin() {
	local f=$1
	ctl_rc 0 validate "$P/$f.yaml"
	ctl_rc 1 validate --strict "$P/$f.yaml"
	err_has "^$P/$f.yaml:4:[0-9]+: .*No such file or directory"
	ctl_rc 1 apply "$P/$f.yaml"
	err_has "^$P/$f.yaml:4:[0-9]+: .*No such file or directory"
	err_has "nothing applied"
	kstate_same "$IOF_TMP/k0" t-cbad
	[ ! -e /dev/mapper/t-cnew ] || fail "/dev/mapper/t-cnew created"
}

# ---- a filter type whose module is not loaded (and modprobe cannot find:
# the test modules are not installed): clear error, nothing half-created
no_module() {
	[ -d /sys/module/iofilter_crypt ] && ktap_skip "iofilter-crypt is loaded"
	ctl_rc 0 validate "$P/crypt.yaml"
	ctl_rc 1 apply "$P/crypt.yaml"
	err_has "^$P/crypt.yaml:7:15: filter type \"crypt\" is not registered in the kernel"
	err_has "iofilter-crypt"
	kstate_same "$IOF_TMP/k0" t-cbad
	[ ! -e /sys/module/iofilter_crypt ] || fail "crypt module appeared"
}

no_module_dry_run() {
	[ -d /sys/module/iofilter_crypt ] && ktap_skip "iofilter-crypt is loaded"
	ctl_rc 1 apply --dry-run "$P/crypt.yaml"
	err_has "^$P/crypt.yaml:7:15: filter type \"crypt\" is not registered in the kernel"
	kstate_same "$IOF_TMP/k0" t-cbad
	[ ! -e /sys/module/iofilter_crypt ] || fail "crypt module appeared"
}

# ---- unprivileged caller: exit 2, a clear message, nothing changed
# (one snapshot after them all); validate needs no privileges
unpriv() {
	local rc=0
	as_nobody "$IOF_TOOL" "$@" > "$CTL_OUT" 2> "$CTL_ERR" || rc=$?
	cat "$CTL_ERR"
	assert_eq 2 "$rc" "exit code of unprivileged '$*'"
	err_has "permission denied: iofilterctl needs CAP_SYS_ADMIN"
}

unpriv_json() {
	local rc=0
	as_nobody "$IOF_TOOL" -o json stats > "$CTL_OUT" 2> "$CTL_ERR" || rc=$?
	assert_eq 2 "$rc" "exit code of unprivileged stats -o json"
	json_docs 1
	jq_true '.errors[0].errno == 13 or .errors[0].errno == 1'
}

unpriv_validate() {
	as_nobody "$IOF_TOOL" validate "$P/changed.yaml" || fail "validate as nobody"
}

ktap_plan 30
subtest "bad policy: YAML syntax error (and in JSON)" check_bad yaml 6:1 "YAML syntax error" json
subtest "bad policy: unknown key" check_bad ukey 5:5 'unknown key "rulez" in volume'
subtest "bad policy: ops not a list" check_bad wtype 6:14 "ops must be a list"
subtest "bad policy: overlapping ranges (and in JSON)" check_bad overlap 8:16 "range overlaps rule #1" json
subtest "bad policy: range beyond the device" check_bad beyond 6:16 'range ends at 48MiB, beyond the end of '
subtest "bad policy: unknown filter type" check_bad utype 7:15 'unknown filter type "nosuch"'
subtest "bad policy: invalid size unit" check_bad size 6:24 'invalid range start "1MB"'
subtest "bad policy: version not a number" check_bad vers 1:10 "version"
subtest "bad policy: an error in a second volume, the first one not changed either" \
	check_bad twovol 11:16 "range ends at 12MiB, beyond the end of "
subtest "validate -o json of a bad file: every error, with a hint" validate_json_bad
subtest "validate -o json of a good file: valid, with its counts" validate_json_good
subtest "origin device missing: validate passes, --strict and apply refuse" no_origin nodev
subtest "origin image missing: validate passes, --strict and apply refuse" no_origin noimg
subtest "filter module not loaded: apply refuses, nothing half-created" no_module
subtest "filter module not loaded: apply --dry-run refuses" no_module_dry_run
subtest "unprivileged apply: exit 2, permission denied" unpriv apply "$P/changed.yaml"
subtest "unprivileged status: exit 2, permission denied" unpriv status
subtest "unprivileged stats: exit 2, permission denied" unpriv stats t-cbad
subtest "unprivileged filters: exit 2, permission denied" unpriv filters
subtest "unprivileged message: exit 2, permission denied" unpriv message t-cbad cnt reset
subtest "unprivileged detach: exit 2, permission denied" unpriv detach t-cbad --yes
subtest "unprivileged stats -o json: exit 2, the errno in the JSON" unpriv_json
subtest "unprivileged validate: allowed" unpriv_validate
subtest "the unprivileged calls changed nothing" kstate_same "$IOF_TMP/k0" t-cbad
# ---- other documented exit codes
subtest "stats of a missing volume: exit 4" ctl_rc 4 stats nosuch
subtest "unknown command: exit 1" ctl_rc 1 frobnicate
subtest "apply without a file: exit 1" ctl_rc 1 apply
subtest "status --dry-run: exit 1" ctl_rc 1 status --dry-run
subtest "unknown output format: exit 1" ctl_rc 1 -o yaml status
subtest "the refused commands changed nothing" kstate_same "$IOF_TMP/k0" t-cbad

ctl_rc 0 detach t-cbad --yes
losetup -d "$DEV" "$DEV2"
ktap_finished
