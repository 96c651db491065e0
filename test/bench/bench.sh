#!/usr/bin/env bash
# bench.sh: the benchmark of issue 7. Run by hand from the repo root, as
# root (or a user who may mount FUSE); not part of CI:
#
#   bash test/bench/bench.sh [--notebooks N] [--latency D] [--out FILE]
#
# It builds notebookfs and the helpers under test/bench/, installs Debian's
# rclone if missing, generates a corpus (the notebooks of
# ../shared/data/notebooks plus N generated ones of 2-200 KB, default
# 1000), and runs one workload, timed step by step, on:
#
#   (a) local      a plain local folder holding the corpus (the floor)
#   (b) loopback   go-fuse's loopback file system over such a folder
#                  (test/bench/loopback; the FUSE floor)
#   (c) rclone     rclone mount --vfs-cache-mode full of rclone serve webdav
#                  over such a folder, reached through test/bench/latproxy,
#                  which holds each HTTP request for --latency
#   (d) notebookfs notebookfs mount of notebookfs serve --latency D, the
#                  corpus loaded into namespace alice (owned/alice/)
#
# Each target gets its own fresh copy of the corpus and a fresh mount.
# Workload steps (in this order, on the folder of notebooks):
#   mount           start the daemon until the mount point is mounted
#   ls -l cold      first ls -l of the folder after mounting
#   ls -l warm      ls -l again
#   cat cold        cat of every notebook (one cat, files in sorted order)
#   cat warm        the same again
#   grep -r warm    grep -r import over the folder, after the cats (so
#                   warm where a target caches content; not a cold grep).
#                   On notebookfs this also walks the read-only history,
#                   owned/alice/.versions/ (every version of every notebook)
#   grep -r warm, no .versions
#                   the same with --exclude-dir=.versions (the same work
#                   as plain grep -r on the other targets)
#   sed -i x20      20 edit-save cycles: sed -i 's/x/y/' on 20 notebooks,
#                   one at a time
#   cp 20 in        one cp of 20 local notebooks into the folder (new names)
#   rm 20           rm of those 20
# A step whose commands exit non-zero or print anything on stderr is marked
# "!" and its first error lines are listed; the run continues.
# For notebookfs, the requests that notebookfs serve answered during each
# step are counted from its GET /metrics (notebookfs_server_requests_total,
# GET /metrics itself excluded). Anything a daemon does in the background
# after a step ends counts for the next step. Peak RSS is each daemon's
# VmHWM, read just before it is unmounted.
#
# Prints the table and writes it as markdown to test/bench/results.md
# (or --out). Only 127.0.0.1 is used. Everything (mounts, daemons, temp
# dirs) is cleaned up on exit.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
NOTEBOOKS=1000
LATENCY=50ms
OUT=$ROOT/test/bench/results.md
SHARED=$ROOT/../shared/data/notebooks

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--notebooks) NOTEBOOKS=$2; shift 2 ;;
	--notebooks=*) NOTEBOOKS=${1#*=}; shift ;;
	--latency) LATENCY=$2; shift 2 ;;
	--latency=*) LATENCY=${1#*=}; shift ;;
	--out) OUT=$2; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done
case $NOTEBOOKS in '' | *[!0-9]*) echo "bench.sh: --notebooks wants a number" >&2; exit 2 ;; esac

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

WORK=$(mktemp -d /tmp/nbbench.XXXXXX) || exit 1
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

# ---------------------------------------------------------------- setup
command -v fusermount3 >/dev/null || die "fusermount3 missing (apt-get install fuse3)"
if ! command -v rclone >/dev/null; then
	log "installing rclone (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null; } ||
		die "could not install rclone"
fi
RCLONE_VERSION=$(rclone version 2>/dev/null | head -1)

BIN=$WORK/bin
mkdir -p "$BIN"
log "building notebookfs and helpers"
go build -o "$BIN/notebookfs" ./cmd/notebookfs || die "go build notebookfs"
go build -o "$BIN/" ./test/bench/loopback ./test/bench/latproxy ./test/bench/gencorpus || die "go build helpers"
NBFS=$BIN/notebookfs

CORPUS=$WORK/corpus
mkdir -p "$CORPUS"
if [ -d "$SHARED" ]; then
	cp "$SHARED"/*.ipynb "$CORPUS"/ || die "copy $SHARED"
else
	log "warning: $SHARED missing; generated notebooks only"
fi
"$BIN/gencorpus" -n "$NOTEBOOKS" "$CORPUS" || die "gencorpus"
mapfile -t ALL < <(cd "$CORPUS" && ls -1 -- *.ipynb | LC_ALL=C sort)
NFILES=${#ALL[@]}
CORPUS_BYTES=$(du -sb "$CORPUS" | cut -f1)
[ "$NFILES" -ge 20 ] || die "corpus has $NFILES notebooks; want at least 20"
# edited: the first 20 generated notebooks (else the first 20 of all);
# copied in: the last 20 of the corpus, as bench-copy-NN.ipynb
mapfile -t EDIT < <(printf '%s\n' "${ALL[@]}" | grep '^gen-' | head -20)
[ "${#EDIT[@]}" -eq 20 ] || mapfile -t EDIT < <(printf '%s\n' "${ALL[@]}" | head -20)
COPYSRC=$WORK/copysrc
mkdir -p "$COPYSRC"
i=0
for f in $(printf '%s\n' "${ALL[@]}" | tail -20); do
	i=$((i + 1))
	cp "$CORPUS/$f" "$COPYSRC/$(printf 'bench-copy-%02d.ipynb' "$i")"
done
log "corpus: $NFILES notebooks, $((CORPUS_BYTES / 1024)) KiB"

# wait_for COND_CMD...: poll up to 60 s
wait_for() {
	local i
	for i in $(seq 1 6000); do
		"$@" 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}

# start_serve LATENCY: starts notebookfs serve on $WORK/serve-data; sets
# SERVE_PID and SERVE_URL
start_serve() {
	local errf=$WORK/serve.$1.log
	"$NBFS" serve --listen 127.0.0.1:0 --data "$WORK/serve-data" --latency "$1" --log-level warn 2>"$errf" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	wait_for grep -q '^listening on http://' "$errf" || die "notebookfs serve did not start: $(cat "$errf")"
	SERVE_URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$errf" | head -1)
}

stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# ---------------------------------------------------------------- load
mkdir -p "$WORK/serve-data"
TOKEN=$("$NBFS" user add --data "$WORK/serve-data" alice) || die "user add"
export TILEDB_REST_TOKEN=$TOKEN
log "loading the corpus into tiledb://alice (serve without latency; not measured)"
start_serve 0s
(cd "$CORPUS" && printf '%s\0' "${ALL[@]}") |
	(cd "$CORPUS" && xargs -0 -P 16 -n 1 sh -c '"$0" upload --remote "$1" "$2" "tiledb://alice/${2%.ipynb}" >/dev/null || echo "upload $2 failed" >&2' "$NBFS" "$SERVE_URL") ||
	die "loading the corpus failed"
stop_pid "$SERVE_PID"
start_serve "$LATENCY"
log "notebookfs serve --latency $LATENCY at $SERVE_URL"

# ---------------------------------------------------------------- workload
STEPS=("mount" "ls -l cold" "ls -l warm" "cat cold" "cat warm" "grep -r warm" "grep -r warm, no .versions" "sed -i x20" "cp 20 in" "rm 20")
COLS=(local loopback rclone notebookfs)
declare -A T E REQ RSS ROUTES
ERRLOG=()

metrics() { curl -sf "$SERVE_URL/metrics"; }
reqs_of() { awk '/^notebookfs_server_requests_total/ && !/route="GET \/metrics"/ {s += $NF} END {print s + 0}' "$1"; }

# routes_delta BEFORE AFTER: "route code: n; ..." of the requests between two
# /metrics snapshots
routes_delta() {
	awk '/^notebookfs_server_requests_total/ && !/route="GET \/metrics"/ {
		v = $NF; k = substr($0, 1, length($0) - length(v) - 1)
		sub(/^notebookfs_server_requests_total/, "", k)
		if (FILENAME == ARGV[1]) { prev[k] = v; next }
		d = v - prev[k]
		if (d > 0) { printf "%s%s %d", sep, k, d; sep = "; " }
	}' "$1" "$2"
}

D= # the folder the steps work on
step_ls() { ls -l "$D" >/dev/null; }
step_cat() { (cd "$D" && cat -- "${ALL[@]}" >/dev/null); }
step_grep() { grep -r import "$D" >/dev/null; }
step_grep_nov() { grep -r --exclude-dir=.versions import "$D" >/dev/null; }
step_sed() {
	local f rc=0
	for f in "${EDIT[@]}"; do
		sed -i 's/x/y/' "$D/$f" || rc=1
	done
	return $rc
}
step_cp() { cp "$COPYSRC"/bench-copy-*.ipynb "$D"/; }
step_rm() { rm "$D"/bench-copy-*.ipynb; }

# record COL IDX T0 T1 RC ERRFILE
record() {
	local col=$1 idx=$2 rc=$5 errf=$6
	T[$col,$idx]=$(awk -v a="$3" -v b="$4" 'BEGIN {printf "%.3f", b - a}')
	if [ "$rc" -ne 0 ] || [ -s "$errf" ]; then
		E[$col,$idx]=1
		local n
		n=$(wc -l <"$errf")
		ERRLOG+=("$col / ${STEPS[$idx]}: exit $rc, $n stderr line(s): $(head -3 "$errf" | tr '\n' '|' | cut -c1-400)")
	fi
}

# run_steps COL: the steps after mount, on $D
run_steps() {
	local col=$1 idx fn t0 t1 rc errf=$WORK/step.err m0=$WORK/m0 m1=$WORK/m1
	local fns=("" step_ls step_ls step_cat step_cat step_grep step_grep_nov step_sed step_cp step_rm)
	for ((idx = 1; idx < ${#fns[@]}; idx++)); do
		fn=${fns[$idx]}
		[ "$col" = notebookfs ] && metrics >"$m0"
		t0=$(date +%s.%N)
		$fn 2>"$errf"
		rc=$?
		t1=$(date +%s.%N)
		record "$col" "$idx" "$t0" "$t1" "$rc" "$errf"
		if [ "$col" = notebookfs ]; then
			metrics >"$m1"
			REQ[$idx]=$(($(reqs_of "$m1") - $(reqs_of "$m0")))
			ROUTES[$idx]=$(routes_delta "$m0" "$m1")
		fi
		log "$col: ${STEPS[$idx]}: ${T[$col,$idx]} s${E[$col,$idx]:+ (errors)}${REQ[$idx]:+, ${REQ[$idx]} requests}"
		sleep 0.3 # settle; not measured
	done
}

# mount_step COL MOUNTPOINT CMD...: starts CMD in the background, times it
# until MOUNTPOINT is mounted; sets DPID
mount_step() {
	local col=$1 mnt=$2 t0 t1 rc=0 errf=$WORK/$1.daemon.log
	shift 2
	mkdir -p "$mnt"
	MOUNTS+=("$mnt")
	[ "$col" = notebookfs ] && metrics >"$WORK/m0"
	t0=$(date +%s.%N)
	"$@" >"$errf" 2>&1 &
	DPID=$!
	PIDS+=("$DPID")
	wait_for mountpoint -q "$mnt" || rc=1
	t1=$(date +%s.%N)
	T[$col,0]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
	if [ $rc -ne 0 ]; then
		E[$col,0]=1
		ERRLOG+=("$col / mount: not mounted after 60 s: $(tail -3 "$errf" | tr '\n' '|')")
		return 1
	fi
	if [ "$col" = notebookfs ]; then
		metrics >"$WORK/m1"
		REQ[0]=$(($(reqs_of "$WORK/m1") - $(reqs_of "$WORK/m0")))
	fi
	log "$col: mounted in ${T[$col,0]} s"
}

# unmount COL MOUNTPOINT PID: records peak RSS, unmounts, waits for PID
unmount() {
	local col=$1 mnt=$2 pid=$3 hwm
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	[ -n "$hwm" ] && RSS[$col]=$((hwm / 1024))
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
	stop_pid "$pid"
}

copy_corpus() { # DEST: a fresh copy of the corpus
	rm -rf "$1"
	cp -a "$CORPUS" "$1"
}

# (a) local folder
log "(a) local folder"
copy_corpus "$WORK/local"
D=$WORK/local
run_steps local

# (b) go-fuse loopback
log "(b) go-fuse loopback"
copy_corpus "$WORK/loopback-orig"
if mount_step loopback "$WORK/mnt-loopback" "$BIN/loopback" "$WORK/loopback-orig" "$WORK/mnt-loopback"; then
	D=$WORK/mnt-loopback
	run_steps loopback
	unmount loopback "$WORK/mnt-loopback" "$DPID"
fi

# (c) rclone mount over rclone serve webdav behind latproxy
log "(c) rclone ($RCLONE_VERSION)"
copy_corpus "$WORK/rclone-orig"
: >"$WORK/rclone.conf"
rclone serve webdav "$WORK/rclone-orig" --addr 127.0.0.1:0 --config "$WORK/rclone.conf" >"$WORK/webdav.log" 2>&1 &
WEBDAV_PID=$!
PIDS+=("$WEBDAV_PID")
wait_for grep -qo 'http://127\.0\.0\.1:[0-9]*' "$WORK/webdav.log" || die "rclone serve webdav did not start: $(cat "$WORK/webdav.log")"
WEBDAV_ADDR=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/webdav.log" | head -1 | sed 's|http://||')
"$BIN/latproxy" -listen 127.0.0.1:0 -target "$WEBDAV_ADDR" -latency "$LATENCY" >"$WORK/latproxy.addr" 2>"$WORK/latproxy.log" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
wait_for grep -q '^127\.0\.0\.1:' "$WORK/latproxy.addr" || die "latproxy did not start: $(cat "$WORK/latproxy.log")"
PROXY_ADDR=$(head -1 "$WORK/latproxy.addr")
log "rclone serve webdav at $WEBDAV_ADDR, latproxy ($LATENCY) at $PROXY_ADDR"
if mount_step rclone "$WORK/mnt-rclone" rclone mount :webdav: "$WORK/mnt-rclone" \
	--config "$WORK/rclone.conf" --webdav-url "http://$PROXY_ADDR" \
	--vfs-cache-mode full --dir-cache-time 10s --cache-dir "$WORK/rclone-cache"; then
	D=$WORK/mnt-rclone
	run_steps rclone
	unmount rclone "$WORK/mnt-rclone" "$DPID"
fi
RSS_WEBDAV=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$WEBDAV_PID/status" 2>/dev/null)
stop_pid "$PROXY_PID"
stop_pid "$WEBDAV_PID"

# (d) notebookfs
log "(d) notebookfs"
if mount_step notebookfs "$WORK/mnt-nbfs" "$NBFS" mount --remote "$SERVE_URL" --cache-dir "$WORK/nbfs-cache" "$WORK/mnt-nbfs"; then
	D=$WORK/mnt-nbfs/owned/alice
	run_steps notebookfs
	unmount notebookfs "$WORK/mnt-nbfs" "$DPID"
fi
RSS_SERVE=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$SERVE_PID/status" 2>/dev/null)
stop_pid "$SERVE_PID"

# ---------------------------------------------------------------- report
ratio() { # A B: A/B with 2 decimals, or -
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
cell() { # COL IDX
	local v=${T[$1,$2]:--}
	[ "$1" = local ] && [ "$2" = 0 ] && v=-
	printf '%s%s' "$v" "${E[$1,$2]:+ !}"
}

{
	echo "| step | local (s) | loopback (s) | rclone (s) | notebookfs (s) | notebookfs / loopback | notebookfs / rclone | notebookfs requests |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for idx in "${!STEPS[@]}"; do
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${STEPS[$idx]}" \
			"$(cell local "$idx")" "$(cell loopback "$idx")" "$(cell rclone "$idx")" "$(cell notebookfs "$idx")" \
			"$(ratio "${T[notebookfs,$idx]:-}" "${T[loopback,$idx]:-}")" "$(ratio "${T[notebookfs,$idx]:-}" "${T[rclone,$idx]:-}")" \
			"${REQ[$idx]:--}"
	done
	printf '| peak RSS (MiB) | - | %s | %s | %s | %s | %s | |\n' "${RSS[loopback]:--}" "${RSS[rclone]:--}" "${RSS[notebookfs]:--}" \
		"$(ratio "${RSS[notebookfs]:-}" "${RSS[loopback]:-}")" "$(ratio "${RSS[notebookfs]:-}" "${RSS[rclone]:-}")"
} >"$WORK/table.md"

{
	echo "# notebookfs benchmark"
	echo
	echo "Produced by \`bash test/bench/bench.sh --notebooks $NOTEBOOKS\` (latency $LATENCY) on $(date -u +%Y-%m-%dT%H:%MZ)," \
		"$(nproc) CPUs, $(uname -sr), $(go version | cut -d' ' -f3), $RCLONE_VERSION."
	echo "Corpus: $NFILES notebooks, $((CORPUS_BYTES / 1024)) KiB in one folder / namespace."
	echo
	cat "$WORK/table.md"
	echo
	echo "Seconds are wall-clock per step; \`!\` marks a step that exited non-zero or printed errors (listed below)."
	echo "Requests: answered by \`notebookfs serve\` during the step (its /metrics; background work after a step counts for the next)."
	echo "Peak RSS is VmHWM of the mount daemon; besides it, rclone serve webdav peaked at ${RSS_WEBDAV:-?} MiB and notebookfs serve at ${RSS_SERVE:-?} MiB."
	echo "Latency: notebookfs serve sleeps $LATENCY before each API request; for rclone, latproxy holds the first chunk of each HTTP request for $LATENCY."
	echo
	echo "## Errors"
	echo
	if [ ${#ERRLOG[@]} -eq 0 ]; then
		echo "none"
	else
		for l in "${ERRLOG[@]}"; do echo "- $l"; done
	fi
	echo
	echo "## notebookfs requests by route"
	echo
	for idx in "${!STEPS[@]}"; do
		[ "$idx" = 0 ] && continue
		echo "- ${STEPS[$idx]}: \`${ROUTES[$idx]:-none}\`"
	done
} >"$WORK/results.md"

cp "$WORK/results.md" "$OUT"
echo
column -t -s '|' -o '|' "$WORK/table.md" 2>/dev/null | sed '2d' || cat "$WORK/table.md"
echo
if [ ${#ERRLOG[@]} -gt 0 ]; then
	echo "errors:"
	printf '  %s\n' "${ERRLOG[@]}"
fi
echo "written to $OUT"
