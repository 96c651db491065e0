#!/usr/bin/env bash
# staleness.sh: how long after another client saves a notebook a mount
# serves the new version. Run by hand from the repo root, as root (or a
# user who may mount FUSE); not part of CI:
#
#   bash test/bench/staleness.sh [--changes N] [--latency D] [--only LIST] [--out FILE]
#
# Over notebookfs serve on 127.0.0.1 (--latency D before each API request,
# default 0s), alice mounts and reads owned/alice/<notebook>.ipynb, while
# bob, to whom she shared it read,write, saves new versions with
# 'notebookfs upload --overwrite' (another process, another user). For
# rclone 1.60 (Debian's; installed if missing), rclone mount
# --vfs-cache-mode full of rclone serve webdav over a folder, the file is
# changed in that folder directly (a new file renamed over it; serve webdav
# runs with --dir-cache-time 0s, so that it serves the change at once).
# Each run is a fresh mount and test/bench/staleness (see its doc): N
# changes (default 50), each after a random pause of 0 to 2x the target's
# TTL; the reader reads every 75 ms. Runs (--only picks some, by name):
#
#   nbfs-1s     notebookfs --metadata-ttl 1s, reader reopens (cat)
#   nbfs-10s    notebookfs --metadata-ttl 10s, reader reopens
#   nbfs-open   notebookfs --metadata-ttl 1s --poll-interval 1s, the reader
#               keeps one descriptor open and re-reads it with pread
#   rclone-def  rclone, default --dir-cache-time (5m), reader reopens;
#               pauses of 0-20 s as for 10s, waits up to 6 min at the end
#   rclone-10s  rclone --dir-cache-time 10s, reader reopens
#
# Delay: from the moment the save returned to the end of the first read
# that returned that version (or a later one). Changes still not served
# when the run ends (give-up: 3x TTL after the last save, at least 10 s)
# show as ">X" (X: the shortest wait among them).
# Acceptance, checked for nbfs-1s and nbfs-10s: every change served and
# the maximum at most TTL + 1 s (the column "max <= TTL + 1 s"); and no
# torn read (a read that is no version exactly), no step back (an older
# version after a newer one), no read error.
#
# Prints the table and writes it as markdown to test/bench/staleness.md
# (or --out). Exits 1 when the acceptance fails.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
CHANGES=50
LATENCY=0s
ONLY="nbfs-1s nbfs-10s nbfs-open rclone-def rclone-10s"
OUT=$ROOT/test/bench/staleness.md

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--changes) CHANGES=$2; shift 2 ;;
	--changes=*) CHANGES=${1#*=}; shift ;;
	--latency) LATENCY=$2; shift 2 ;;
	--latency=*) LATENCY=${1#*=}; shift ;;
	--only) ONLY=${2//,/ }; shift 2 ;;
	--only=*) ONLY=${1#*=}; ONLY=${ONLY//,/ }; shift ;;
	--out) OUT=$2; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "staleness.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done
case $CHANGES in '' | *[!0-9]*) echo "staleness.sh: --changes wants a number" >&2; exit 2 ;; esac
for r in $ONLY; do
	case $r in nbfs-1s | nbfs-10s | nbfs-open | rclone-def | rclone-10s) ;; *) echo "staleness.sh: unknown run $r" >&2; exit 2 ;; esac
done

log() { printf '%s staleness: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

WORK=$(mktemp -d /tmp/nbstale.XXXXXX) || exit 1
MOUNTS=()
PIDS=()
cleanup() {
	local m p
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wants() { [[ " $ONLY " == *" $1 "* ]]; }

# wait_for COND_CMD...: poll up to 60 s
wait_for() {
	local i
	for i in $(seq 1 6000); do
		"$@" 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}

stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# ---------------------------------------------------------------- setup
command -v fusermount3 >/dev/null || die "fusermount3 missing (apt-get install fuse3)"
if { wants rclone-def || wants rclone-10s; } && ! command -v rclone >/dev/null; then
	log "installing rclone (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null; } ||
		die "could not install rclone"
fi
RCLONE_VERSION=$(rclone version 2>/dev/null | head -1)

BIN=$WORK/bin
mkdir -p "$BIN"
log "building notebookfs and test/bench/staleness"
go build -o "$BIN/notebookfs" ./cmd/notebookfs || die "go build notebookfs"
go build -o "$BIN/" ./test/bench/staleness || die "go build staleness"
NBFS=$BIN/notebookfs
COMMIT=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- 2>/dev/null || echo "+dirty")
# Nothing below may read the caller's ~/.tiledb or write into their home.
mkdir -p "$WORK/home"
export HOME=$WORK/home XDG_CACHE_HOME=$WORK/home/cache XDG_DATA_HOME=$WORK/home/data XDG_CONFIG_HOME=$WORK/home/config

# give_up TTL_SECONDS: 3x TTL, at least 10 s
give_up() { echo $(($1 * 3 > 10 ? $1 * 3 : 10))s; }

ROWS=()
DETAILS=()
FAILS=()

# measure NAME TARGET SETTING TTL_SECONDS GAP GIVEUP ACCEPT STALENESS_ARGS...:
# runs test/bench/staleness and records its row. ACCEPT is yes when the
# run must meet the acceptance.
measure() {
	local name=$1 target=$2 setting=$3 ttl=$4 gap=$5 giveup=$6 accept=$7
	shift 7
	local res=$WORK/$name.out errf=$WORK/$name.err n seen mn med p90 mx reads torn back errs save verdict=
	log "$name: $target, $setting: $CHANGES changes, pauses 0-$gap"
	if ! "$BIN/staleness" -changes "$CHANGES" -gap-max "$gap" -give-up "$giveup" -seed "$CHANGES$ttl" "$@" >"$res" 2>"$errf"; then
		FAILS+=("$name: staleness failed: $(tail -3 "$errf" | tr '\n' '|')")
		log "$name: FAILED: $(tail -3 "$errf")"
		return
	fi
	IFS=$'\t' read -r n seen mn med p90 mx reads torn back errs save <"$res"
	if [ "$accept" = yes ]; then
		verdict=yes
		if [ "$seen" != "$n" ] || awk -v m="$mx" -v t="$ttl" 'BEGIN { exit !(m + 0 > t + 1) }'; then
			verdict=NO
			FAILS+=("$name: max $mx s (limit $((ttl + 1)) s), served $seen of $n")
		fi
		if [ "$torn" != 0 ] || [ "$back" != 0 ] || [ "$errs" != 0 ]; then
			FAILS+=("$name: $torn torn reads, $back step backs, $errs read errors")
		fi
	fi
	ROWS+=("| $target | $setting | 0-$gap | $seen / $n | $mn | $med | $p90 | $mx | ${verdict:--} | $reads | $torn | $back | $errs | $save |")
	grep -E '^(torn read|read error):' "$errf" | head -3 | sed "s/^/$name: /" >>"$WORK/details"
	log "$name: served $seen/$n, min $mn, median $med, p90 $p90, max $mx s; reads $reads, torn $torn, step backs $back, errors $errs${verdict:+; max <= TTL + 1 s: $verdict}"
}

# ---------------------------------------------------------------- notebookfs
if wants nbfs-1s || wants nbfs-10s || wants nbfs-open; then
	mkdir -p "$WORK/serve-data"
	ALICE=$("$NBFS" user add --data "$WORK/serve-data" alice) || die "user add alice"
	BOB=$("$NBFS" user add --data "$WORK/serve-data" bob) || die "user add bob"
	errf=$WORK/serve.log
	"$NBFS" serve --listen 127.0.0.1:0 --data "$WORK/serve-data" --latency "$LATENCY" --log-level warn 2>"$errf" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	wait_for grep -q '^listening on http://' "$errf" || die "notebookfs serve did not start: $(cat "$errf")"
	SERVE_URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$errf" | head -1)
	log "notebookfs serve --latency $LATENCY at $SERVE_URL"

	# nbfs_run NAME TTL POLL KEEPOPEN
	nbfs_run() {
		local name=$1 ttl=$2 poll=$3 keep=$4 nb=stale-$1 mnt=$WORK/mnt-$1 setting args=()
		echo '{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}' |
			TILEDB_REST_TOKEN=$ALICE "$NBFS" upload --remote "$SERVE_URL" - "tiledb://alice/$nb" >/dev/null || die "create $nb"
		TILEDB_REST_TOKEN=$ALICE "$NBFS" share --remote "$SERVE_URL" --actions read,write "tiledb://alice/$nb" bob >/dev/null || die "share $nb"
		mkdir -p "$mnt"
		MOUNTS+=("$mnt")
		TILEDB_REST_TOKEN=$ALICE "$NBFS" mount --remote "$SERVE_URL" --cache-dir "$WORK/cache-$name" \
			--metadata-ttl "${ttl}s" ${poll:+--poll-interval "$poll"} --log-level warn "$mnt" >"$WORK/mount-$name.log" 2>&1 &
		local pid=$!
		PIDS+=("$pid")
		wait_for mountpoint -q "$mnt" || die "$name: not mounted: $(tail -3 "$WORK/mount-$name.log")"
		setting="--metadata-ttl ${ttl}s${poll:+ --poll-interval $poll}"
		if [ "$keep" = yes ]; then
			args+=(-keep-open)
			setting+=", one fd kept open (pread)"
		else
			setting+=", reopen (cat)"
		fi
		local accept=yes
		[ "$keep" = yes ] && accept=no
		measure "$name" notebookfs "$setting" "$ttl" "$((ttl * 2))s" "$(give_up "$ttl")" "$accept" "${args[@]}" \
			-read "$mnt/owned/alice/$nb.ipynb" \
			-write-cmd "TILEDB_REST_TOKEN=$BOB exec '$NBFS' upload --remote '$SERVE_URL' --log-level warn --overwrite - tiledb://alice/$nb >/dev/null"
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
		stop_pid "$pid"
	}
	wants nbfs-1s && nbfs_run nbfs-1s 1 "" no
	wants nbfs-10s && nbfs_run nbfs-10s 10 "" no
	wants nbfs-open && nbfs_run nbfs-open 1 1s yes
	stop_pid "$SERVE_PID"
fi

# ---------------------------------------------------------------- rclone
# rclone_run NAME DIR_CACHE_SECONDS (empty: rclone's default, 5m)
rclone_run() {
	local name=$1 dct=$2 origin=$WORK/origin-$1 mnt=$WORK/mnt-$1 conf=$WORK/rclone.conf args=() setting ttl giveup
	mkdir -p "$origin" "$WORK/tmp-$name" "$mnt"
	: >"$conf"
	# serve webdav has a directory cache of its own (5 min): off, so that
	# it serves a change of its folder at once and only the mount's
	# caches are measured.
	rclone serve webdav "$origin" --addr 127.0.0.1:0 --config "$conf" --dir-cache-time 0s >"$WORK/webdav-$name.log" 2>&1 &
	local wpid=$!
	PIDS+=("$wpid")
	wait_for grep -qo 'http://127\.0\.0\.1:[0-9]*' "$WORK/webdav-$name.log" || die "rclone serve webdav did not start: $(cat "$WORK/webdav-$name.log")"
	local addr
	addr=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/webdav-$name.log" | head -1)
	[ -n "$dct" ] && args=(--dir-cache-time "${dct}s")
	MOUNTS+=("$mnt")
	rclone mount :webdav: "$mnt" --config "$conf" --webdav-url "$addr" --vfs-cache-mode full \
		--cache-dir "$WORK/rclone-cache-$name" "${args[@]}" >"$WORK/rclone-$name.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	wait_for mountpoint -q "$mnt" || die "$name: rclone not mounted: $(tail -3 "$WORK/rclone-$name.log")"
	if [ -n "$dct" ]; then
		setting="--dir-cache-time ${dct}s, reopen (cat)"
		ttl=$dct giveup=$(give_up "$dct")
	else
		# The default is 5 min: pauses as for 10 s, so that the run ends
		# in reasonable time, and a wait long enough for one refresh.
		setting="default --dir-cache-time (5m), reopen (cat)"
		ttl=10 giveup=6m
	fi
	measure "$name" "rclone mount (full)" "$setting" "$ttl" "$((ttl * 2))s" "$giveup" no \
		-read "$mnt/stale.ipynb" -write-file "$origin/stale.ipynb" -tmp-dir "$WORK/tmp-$name"
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
	stop_pid "$pid"
	stop_pid "$wpid"
}
wants rclone-def && rclone_run rclone-def ""
wants rclone-10s && rclone_run rclone-10s 10

# ---------------------------------------------------------------- report
{
	echo "| target | setting | pause before each change (s) | changes served | min (s) | median (s) | p90 (s) | max (s) | max <= TTL + 1 s | reads | torn | step back | read errors | save (s) |"
	echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${ROWS[@]}"
} | sed 's/ | 0-\([0-9]*\)s | / | 0-\1 | /' >"$WORK/table.md"

{
	echo "# notebookfs staleness benchmark"
	echo
	echo "Produced by \`bash test/bench/staleness.sh --changes $CHANGES$([ "$LATENCY" = 0s ] || echo " --latency $LATENCY")\` at $COMMIT on $(date -u +%Y-%m-%dT%H:%MZ)," \
		"$(nproc) CPUs, $(uname -sr), $(go version | cut -d' ' -f3)${RCLONE_VERSION:+, $RCLONE_VERSION}."
	echo
	cat "$WORK/table.md"
	echo
	echo "Delay: from the moment the other client's save returned to the end of the first read that returned that version or a later one;"
	echo "\">X\": not served when the run ended, X the shortest wait among those. The reader reads every 75 ms."
	echo "Save: median time of one save (notebookfs: one \`notebookfs upload --overwrite\` process; rclone: write and rename in the origin folder)."
	echo "torn: reads that were no version exactly; step back: a read of an older version after a newer one."
	if [ -s "$WORK/details" ]; then
		echo
		echo "Reads that were not a version:"
		echo
		sed 's/^/- /' "$WORK/details"
	fi
	if [ ${#FAILS[@]} -gt 0 ]; then
		echo
		echo "## Failures"
		echo
		printf -- '- %s\n' "${FAILS[@]}"
	fi
} >"$WORK/results.md"

cp "$WORK/results.md" "$OUT"
echo
cat "$WORK/table.md"
echo
[ -s "$WORK/details" ] && cat "$WORK/details"
echo "written to $OUT"
if [ ${#FAILS[@]} -gt 0 ]; then
	printf 'FAIL: %s\n' "${FAILS[@]}"
	exit 1
fi
