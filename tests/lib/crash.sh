# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Crash-point replay (tests/vm/t/6x-crash-*.sh), the way xfstests uses
# dm-log-writes (generic/455): record a workload on a stack whose lower
# devices are dm-linear slices of ONE device under dm-log-writes, so one log
# orders every write, FLUSH and FUA that reached any of them; then, for
# crash points sampled from the log (its marks, and random places between
# them), replay the log's prefix onto a scratch device, put the same slices
# over it, re-assemble the stack with "iofilterctl apply" as an admin would
# after a power cut, and check it.
#   . common.sh; . iof.sh; . crash.sh
#
# Slices of the logged device (MiB):  origin 0-4, cache 4-6, replica 6-10,
# replicate metadata 10-11; names t-cr-origin, t-cr-cache, t-cr-replica,
# t-cr-rmeta.  The volume is t-crv.
#
# Knobs (environment, or $IOF_BUILD/vm/crash.conf, which "make crashtest"
# writes): CRASH_SEED (default: random, printed), CRASH_POINTS (crash points
# per scenario, default 200, what make check runs; make crashtest runs
# 2000), CRASH_WRITES (workload writes, default 800), CRASH_TRACE=1 (print
# every command of each point's check with a timestamp).
#
# A point's check starts one process, "iofilterctl apply" (the re-assembly
# an admin would run); replay, verify, waiting, flush, compare and removal
# go to one "iof-stamp serve" coprocess that crash_replay keeps for all its
# points (crashd): under TCG a process start costs 0.05-0.3 s, and a point
# that started fifteen of them took 1-4 s.

CRASH_CONF=${IOF_BUILD:-$IOF_ROOT/build}/vm/crash.conf
# shellcheck disable=SC1090
[ -f "$CRASH_CONF" ] && . "$CRASH_CONF"
CRASH_SEED=${CRASH_SEED:-$(( ($(date +%s) * 7919 + $$) % 1000000 ))}
CRASH_POINTS=${CRASH_POINTS:-200}
CRASH_WRITES=${CRASH_WRITES:-800}
STAMP=${IOF_BUILD:-$IOF_ROOT/build}/tests/iof-stamp
REPLAY=${IOF_BUILD:-$IOF_ROOT/build}/tests/iof-replay
{ [ -x "$STAMP" ] && [ -x "$REPLAY" ]; } || ktap_skip "iof-stamp/iof-replay not built (make test-tools)"
[ -x "${IOF_TOOL:-}" ] || ktap_skip "iofilterctl not built (make tool)"
need_module dm-log-writes

CR_MB=11		# the logged device
CR_VOL=t-crv
CR_BLOCKS=1024		# 4 KiB blocks of the volume (4 MiB)
CR_LOG=$IOF_TMP/log.img
CR_STATE=$IOF_TMP/state
CR_POLICY=$IOF_TMP/policy.yaml
CR_DEV=/dev/mapper/$CR_VOL

# crash_slices DEV: (re)create the four slices over DEV
crash_slices() {
	local d=$1 n start len
	for n in origin:0:4 cache:4:2 replica:6:4 rmeta:10:1; do
		IFS=: read -r n start len <<< "$n"
		dmsetup --noudevsync remove "t-cr-$n" 2> /dev/null
		dm_create "t-cr-$n" "0 $((len * 2048)) linear $d $((start * 2048))" \
			> /dev/null || fail "slice $n"
	done
}

crash_remove_slices() {
	local n
	for n in origin cache replica rmeta; do
		dmsetup --noudevsync remove --retry "t-cr-$n" || fail "remove t-cr-$n"
	done
}

# crash_record STAMP-ARGS...: create the logged device and its slices, apply
# $CR_POLICY, run iof-stamp write on the volume (marks go into the log), tear
# the stack down without flushing it (a crash keeps what the disks have),
# leave the log in $CR_LOG.  The policy must exist.
crash_record() {
	crash_record_start
	run "$STAMP" write -d "$CR_DEV" -S "$CR_STATE" -s "$CRASH_SEED" \
		-n $CR_BLOCKS -w "$CRASH_WRITES" -L t-crlog "$@" ||
		fail "workload"
	crash_record_end
}

# crash_record_start: the logged device t-crlog, its slices, the volume
crash_record_start() {
	log "seed $CRASH_SEED: $CRASH_WRITES writes, $CRASH_POINTS crash points"
	CR_DATA=$(mkloop $CR_MB "$IOF_TMP/data.img") || exit 1
	CR_LOGDEV=$(mkloop 512 "$CR_LOG") || exit 1
	dm_create t-crlog "0 $((CR_MB * 2048)) log-writes $CR_DATA $CR_LOGDEV" ||
		fail "create log-writes"
	crash_slices /dev/mapper/t-crlog
	crash_apply || fail "apply on the fresh devices"
}

# crash_record_end: remove the stack (no flush) and the log device; the log
# is complete in $CR_LOG.
crash_record_end() {
	log "$(dmsetup status t-crlog)"
	dmsetup --noudevsync remove --retry "$CR_VOL" || fail "remove $CR_VOL"
	crash_remove_slices
	dmsetup --noudevsync remove --retry t-crlog || fail "remove log-writes"
	losetup -d "$CR_DATA" "$CR_LOGDEV"
	log "log: $("$REPLAY" list "$CR_LOG" | head -n1), $("$REPLAY" marks "$CR_LOG" | grep -c '^iof-') marks"
}

# crash_apply: iofilterctl apply $CR_POLICY (output in $IOF_TMP/apply.out)
crash_apply() {
	"$IOF_TOOL" apply "$CR_POLICY" > "$IOF_TMP/apply.out" 2>&1 ||
		{ cat "$IOF_TMP/apply.out"; return 1; }
}

# crash_down: remove the volume if it is there (instances go with it; no
# flush needed)
crash_down() {
	if [ -n "${CRASHD_PID:-}" ]; then
		crashd remove "$CR_VOL" || fail "remove $CR_VOL"
		return 0
	fi
	dmsetup --noudevsync remove --retry "$CR_VOL" > /dev/null 2>&1 && return 0
	dmsetup info "$CR_VOL" > /dev/null 2>&1 || return 0
	dmsetup --noudevsync remove --retry "$CR_VOL" || fail "remove $CR_VOL"
}

# crashd_start: the coprocess for crash_replay's points (replays the log
# onto $1 and copies that to $2)
crashd_start() {
	coproc CRASHD { exec "$STAMP" serve -S "$CR_STATE" -l "$CR_LOG" -r "$1" -c "$2" 2>&1; }
}

crashd_stop() {
	[ -n "${CRASHD_PID:-}" ] || return 0
	echo quit >&"${CRASHD[1]}"
	wait "$CRASHD_PID"
	CRASHD_PID=
}

# crashd CMD ARGS...: run one command in the coprocess, print its output,
# return its status
crashd() {
	local line
	echo "$*" >&"${CRASHD[1]}" || { echo "crashd: the coprocess is gone"; return 2; }
	while IFS= read -r line <&"${CRASHD[0]}"; do
		case $line in
		"= "*) return "${line#= }" ;;
		*) printf '%s\n' "$line" ;;
		esac
	done
	echo "crashd: the coprocess died during: $*"
	CRASHD_PID=
	return 2
}

# crash_verify MARK [fs]: the volume holds, in every block, a generation
# written to it no older than the durable one at MARK (-1: nothing checked);
# with "fs", the files in $IOF_TMP/mnt (ext4 on the volume, mounted)
crash_verify() {
	[ "$1" -ge 0 ] || return 0
	[ "${2:-}" = fs ] && {
		"$STAMP" fsverify -D "$IOF_TMP/mnt" -S "$CR_STATE" -m "$1" > "$IOF_TMP/verify.out" 2>&1 &&
			return 0
		cat "$IOF_TMP/verify.out"
		return 1
	}
	if [ -n "${CRASHD_PID:-}" ]; then
		crashd verify "$CR_DEV" "$1" > "$IOF_TMP/verify.out" && return 0
	else
		"$STAMP" verify -d "$CR_DEV" -S "$CR_STATE" -m "$1" > "$IOF_TMP/verify.out" 2>&1 &&
			return 0
	fi
	cat "$IOF_TMP/verify.out"
	return 1
}

# crash_replay CHECK_FN: replay the log to each sampled crash point (sorted,
# so each replay goes on from the previous one) onto a scratch device, copy
# it to the work device under the slices and run CHECK_FN POINT MARK there.
# CR_END=1: the end of the log (what the stack's clean removal left) is
# always one of the points.
# CHECK_FN returns non-zero (after printing why) for a failure.  Prints the
# points tried and the failures; fails the test if any.
crash_replay() {
	local check=$1 rdev wdev prev=0 p m n=0 bad=0 t0 t1 t2 failed='' sane=0 last
	local ms_replay=0 ms_check=0
	rdev=$(mkloop $CR_MB "$IOF_TMP/replay.img") || exit 1
	wdev=$(mkloop $CR_MB "$IOF_TMP/work.img") || exit 1
	crash_slices "$wdev"
	crashd_start "$rdev" "$wdev"
	"$REPLAY" points "$CR_LOG" -s "$CRASH_SEED" -c "$CRASH_POINTS" ${CR_END:+-e} > "$IOF_TMP/points" ||
		fail "points"
	last=$(sed -n 's/^marks //p' "$CR_STATE/meta")
	last=$((last - 1))
	t0=$(date +%s)
	while read -r p m; do
		t1=${EPOCHREALTIME/./}
		crashd replay "$prev" "$p" || fail "replay to $p"
		t2=${EPOCHREALTIME/./}
		ms_replay=$((ms_replay + (t2 - t1) / 1000))
		prev=$p
		n=$((n + 1))
		# once: the verifier sees lost writes (the state at an early mark
		# is not the state at the last one)
		if [ "$sane" = 0 ] && [ "${CR_SANITY:-1}" = 1 ] && [ "$m" -ge 0 ] && [ "$m" -lt $((last - 2)) ]; then
			crash_apply || fail "apply at point $p"
			! crash_verify "$last" > /dev/null ||
				fail "point $p (mark iof-$m) passes the check of mark iof-$last: the verifier is blind"
			crash_down
			sane=1
			# the check ran on a copy; the point's own check gets a new one
			crashd replay "$p" "$p" || fail "copy at $p"
		fi
		t1=${EPOCHREALTIME/./}
		if ! crash_run_check "$check" "$p" "$m" > "$IOF_TMP/check.out" 2>&1; then
			bad=$((bad + 1))
			failed="$failed $p"
			echo "# FAILED at point $p (last mark ${m/#-1/none}):"
			sed 's/^/#   /' "$IOF_TMP/check.out" | head -n 40
			[ "$bad" -le 3 ] && cp "$IOF_TMP/work.img" "$IOF_RESULTS/work-$p.img" 2> /dev/null
		fi
		[ "${CRASH_TRACE:-0}" = 1 ] && sed -n "s/^+/# trace $p: +/p" "$IOF_TMP/check.out"
		crash_down
		ms_check=$((ms_check + (${EPOCHREALTIME/./} - t1) / 1000))
	done < "$IOF_TMP/points"
	crashd_stop
	[ "$sane" = 1 ] || [ "${CR_SANITY:-1}" = 0 ] || fail "no crash point early enough to check the verifier"
	log "$IOF_TEST: $n crash points tried in $(($(date +%s) - t0))s (replay $((ms_replay / 1000))s, check $((ms_check / 1000))s), $bad failed${failed:+ (points:$failed)}; seed $CRASH_SEED"
	[ "$bad" = 0 ] || {
		cp "$CR_LOG" "$IOF_RESULTS/log.img" 2> /dev/null
		cp -r "$CR_STATE" "$IOF_RESULTS/state" 2> /dev/null
		[ -f "$IOF_TMP/key" ] && cp "$IOF_TMP/key" "$IOF_RESULTS/"	# a test key
		fail "$bad of $n crash points lost acknowledged writes or failed to re-assemble (re-run: CRASH_SEED=$CRASH_SEED)"
	}
	crash_remove_slices
	losetup -d "$rdev" "$wdev"
}

# crash_run_check CHECK_FN POINT MARK: CHECK_FN POINT MARK; with
# CRASH_TRACE=1 every command it runs is traced with a timestamp (where a
# point's time goes; crash_replay prints the trace)
crash_run_check() {
	[ "${CRASH_TRACE:-0}" = 1 ] || { "$@"; return; }
	local PS4='+ ${EPOCHREALTIME} '
	set -x
	"$@"
	{ local rc=$?; set +x; } 2> /dev/null
	return $rc
}

# crash_cmp A B BYTES: the first BYTES of A and B are identical (O_DIRECT)
crash_cmp() {
	cmp <(dd if="$1" bs=1M count=$(($3 >> 20)) iflag=direct status=none) \
	    <(dd if="$2" bs=1M count=$(($3 >> 20)) iflag=direct status=none)
}

# crash_wait_sync INSTANCE: wait (60 s at most) until the replicate instance
# of $CR_VOL is in-sync
crash_wait_sync() {
	local i
	[ -n "${CRASHD_PID:-}" ] && { crashd wait "$CR_VOL" "$1" state in-sync 60; return; }
	for ((i = 0; i < 600; i++)); do
		[ "$(inst_stat "$CR_VOL" "$1" state)" = in-sync ] && return 0
		sleep 0.1
	done
	echo "$1 not in-sync after 60s: $(abi status "$CR_VOL" "$1")"
	return 1
}

# crash_check_pair POINT MARK INSTANCE [FLUSHED...]: after a crash the stack
# re-assembles, the replicate instance resyncs to in-sync, every write
# durable at MARK reads back, and after a flush of INSTANCE and FLUSHED (what
# "iofilterctl flush" sends: the cache below writes back, the replica is
# flushed) origin and replica are identical.  Inside crash_replay.
crash_check_pair() {
	local i
	crash_apply || { echo "apply failed: the stack does not re-assemble"; return 1; }
	crash_wait_sync "$3" || return 1
	crash_verify "$2" || return 1
	for i in "${@:3}"; do
		crashd message "$CR_VOL" "$i" flush || { echo "flush $i failed"; return 1; }
	done
	crashd cmp /dev/mapper/t-cr-origin /dev/mapper/t-cr-replica $((CR_BLOCKS * 4096)) ||
		{ echo "origin and replica differ after resync: $(abi status "$CR_VOL" "$3")"; return 1; }
}

# crash_yaml_replicate MODE: the policy entry of replicate instance r over
# the slices (replica, metadata; MODE sync or async)
crash_yaml_replicate() {
	cat <<YAML
      - name: r
        type: replicate
        params:
          replica: /dev/mapper/t-cr-replica
          metadata: /dev/mapper/t-cr-rmeta
          mode: $1
          region_size: 64KiB
YAML
}

# crash_yaml_cache: the policy entry of cache instance c, write-back in
# 4 KiB blocks on the cache slice; low watermarks, so random writes are
# cached, evict each other and are written back all the time
crash_yaml_cache() {
	cat <<YAML
      - name: c
        type: cache
        params:
          cache_dev: /dev/mapper/t-cr-cache
          block_size: 4KiB
          mode: writeback
          low_watermark: 5
          high_watermark: 20
          promote_hits: 1
YAML
}

# crash_chain_policy: $CR_POLICY for the full chain crypt (a random key in
# $IOF_TMP/key) -> replicate (sync) -> cache (write-back) over the slices;
# the replica gets the ciphertext the cache and the origin get (63, 66)
crash_chain_policy() {
	head -c 64 /dev/urandom > "$IOF_TMP/key"
	chmod 600 "$IOF_TMP/key"
	cat > "$CR_POLICY" <<YAML
version: 1
volumes:
  - name: $CR_VOL
    device: /dev/mapper/t-cr-origin
    filters:
      - name: k
        type: crypt
        params:
          cipher: aes-xts-plain64
          key_file: $IOF_TMP/key
          sector_size: 4096
$(crash_yaml_replicate sync)
$(crash_yaml_cache)
    rules:
      - name: all
        range: {start: 0}
        chain: [k, r, c]
    default: pass
YAML
}

# crash_replicate MODE: the replicate scenario of 61 (sync) and 62 (async):
# every write, discard, write-zeroes and flush through one instance; at each
# point the pair resyncs to byte-identical and the durable writes read back.
crash_replicate() {
	load_iofilter replicate
	crash_rep_policy "$1"
	crash_record -j 4 -y 3 -u 3
	# shellcheck disable=SC2317 # called by crash_replay
	check() {
		crash_check_pair "$1" "$2" r
	}
	crash_replay check
}

# crash_rep_policy MODE: $CR_POLICY with one replicate instance r (MODE sync
# or async) for every write, discard, write-zeroes and flush of the volume
crash_rep_policy() {
	cat > "$CR_POLICY" <<YAML
version: 1
volumes:
  - name: $CR_VOL
    device: /dev/mapper/t-cr-origin
    filters:
$(crash_yaml_replicate "$1")
    rules:
      - name: writes
        ops: [write, discard, write_zeroes, flush]
        chain: [r]
    default: pass
YAML
}
