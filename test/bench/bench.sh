#!/usr/bin/env bash
# bench.sh: notebookfs against a local folder, go-fuse's loopback and
# rclone, over a simulated network. Run by hand from the repo root, as root
# (or a user who may mount FUSE); not part of CI:
#
#   bash test/bench/bench.sh [--notebooks N] [--handbook] [--runs R]
#       [--latency D] [--targets LIST] [--plain] [--mount-bin BIN]
#       [--out FILE] [DIR]
#   bash test/bench/bench.sh --scale N [--latency D] [--plain]
#       [--mount-bin BIN] [--out FILE]
#
# It builds notebookfs and the helpers under test/bench/, installs Debian's
# rclone if missing, makes a corpus and runs one workload, timed step by
# step, R times (default 3; each run on fresh copies, fresh mounts and a
# fresh server store), and prints the median of each figure. The corpus:
#
#   DIR          the notebooks (*.ipynb) of any folder
#   --handbook   136 generated notebooks shaped like a real data-science
#                handbook (test/corpus.Handbook: 34 MB, median 54 KB, 90th
#                percentile 660 KB, 8 over 1 MiB, the largest 2.7 MB,
#                figures as base64 PNGs)
#   --notebooks  N generated notebooks of 2-200 KB (default 1000, or 0
#                with DIR or --handbook)
#
# The workload wants at least 20 notebooks. Targets (--targets, comma-
# separated, default all):
#
#   local        a plain local folder holding the corpus (the floor)
#   loopback     go-fuse's loopback file system over such a folder
#                (test/bench/loopback; the FUSE floor)
#   rclone       rclone mount --vfs-cache-mode full of rclone serve webdav
#                over such a folder (plain HTTP/1.1)
#   notebookfs   notebookfs mount of notebookfs serve (HTTPS with HTTP/2;
#                --plain: plain HTTP/1.1), the corpus loaded into
#                namespace alice (owned/alice/); --mount-bin runs the mount
#                with another build (a baseline), the server with this one
#
# The network: rclone and notebookfs reach their servers through
# test/bench/latproxy, which delays every byte towards the server by
# --latency (default 50ms: one round trip per request, concurrent ones
# overlapping) and charges each new connection 2 round trips more (TCP and
# TLS handshakes; a real TLS handshake pays one of them itself), and counts
# the connections opened.
#
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
#   edit x20        20 saves in place, one at a time: each notebook read,
#                   changed and written back over itself (O_TRUNC), as
#                   editors that do not rename save
#   sed -i x20      20 edit-save cycles: sed -i 's/x/y/' on 20 notebooks,
#                   one at a time (a new file renamed over each)
#   cp 20 in        one cp of 20 local notebooks into the folder (new names)
#   rm 20           rm of those 20
#   total           the steps after mount, grep -r counted once (without
#                   .versions); the median of the runs' totals
# A step whose commands exit non-zero or print anything on stderr is marked
# "!" and its first error lines are listed; the run continues.
# Requests: those notebookfs serve answered during the step (its GET
# /metrics, itself excluded). Connections: those opened through the proxy
# during the step. Anything a daemon does in the background after a step
# ends counts for the next step. Peak RSS is each daemon's VmHWM, read just
# before it is unmounted.
#
# --scale N runs the second table instead: one namespace of N small
# notebooks (2-20 KB) on notebookfs, against the local floor:
#   cp in           one cp of the N notebooks into an empty namespace; local:
#                   test/bench/copyloop (write and fsync each file, one process)
#   uploads done    from the end of cp until the journal is empty
#   ls -l cold      a new mount (fresh caches): ls -l of the namespace
#   ls -l again     at once, within the metadata TTL
#   cat cold        cat of all N (one cat, sorted), at once: the prefetch
#                   the listing started runs beside it
#   peak RSS        of the second mount's daemon
# with requests (all, and listing pages: those a step asks itself, the
# rest being the prefetch's) and connections of each step.
#
# Prints the table and writes it as markdown to test/bench/results.md
# (or --out). Only 127.0.0.1 is used. Everything (mounts, daemons, temp
# dirs) is cleaned up on exit.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
NOTEBOOKS=
HANDBOOK=0
SCALE=0
RUNS=3
LATENCY=50ms
TARGETS=local,loopback,rclone,notebookfs
PLAIN=0
MOUNT_BIN=
OUT=$ROOT/test/bench/results.md
DIR=
ARGS="$*"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--notebooks) NOTEBOOKS=$2; shift 2 ;;
	--notebooks=*) NOTEBOOKS=${1#*=}; shift ;;
	--handbook) HANDBOOK=1; shift ;;
	--scale) SCALE=$2; shift 2 ;;
	--scale=*) SCALE=${1#*=}; shift ;;
	--runs) RUNS=$2; shift 2 ;;
	--runs=*) RUNS=${1#*=}; shift ;;
	--latency) LATENCY=$2; shift 2 ;;
	--latency=*) LATENCY=${1#*=}; shift ;;
	--targets) TARGETS=$2; shift 2 ;;
	--targets=*) TARGETS=${1#*=}; shift ;;
	--plain) PLAIN=1; shift ;;
	--mount-bin) MOUNT_BIN=$(realpath "$2"); shift 2 ;;
	--mount-bin=*) MOUNT_BIN=$(realpath "${1#*=}"); shift ;;
	--out) OUT=$2; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "bench.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	*)
		[ -z "$DIR" ] || { echo "bench.sh: one DIR at most" >&2; exit 2; }
		DIR=$(cd "$1" 2>/dev/null && pwd) || { echo "bench.sh: $1 is not a directory" >&2; exit 2; }
		shift
		;;
	esac
done
if [ -z "$NOTEBOOKS" ]; then
	if [ -n "$DIR" ] || [ "$HANDBOOK" = 1 ]; then NOTEBOOKS=0; else NOTEBOOKS=1000; fi
fi
for v in "$NOTEBOOKS" "$SCALE" "$RUNS"; do
	case $v in '' | *[!0-9]*) echo "bench.sh: --notebooks, --scale and --runs want numbers" >&2; exit 2 ;; esac
done
[ "$RUNS" -ge 1 ] || { echo "bench.sh: --runs wants 1 or more" >&2; exit 2; }
want() { case ",$TARGETS," in *",$1,"*) return 0 ;; esac; return 1; }

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
if [ "$SCALE" = 0 ] && want rclone && ! command -v rclone >/dev/null; then
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
go build -o "$BIN/" ./test/bench/loopback ./test/bench/latproxy ./test/bench/gencorpus ./test/bench/copyloop || die "go build helpers"
NBFS=$BIN/notebookfs
MOUNT_BIN=${MOUNT_BIN:-$NBFS}

CORPUS=$WORK/corpus
mkdir -p "$CORPUS"
if [ "$SCALE" -gt 0 ]; then
	"$BIN/gencorpus" -n "$SCALE" -min 2048 -max 20480 "$CORPUS" || die "gencorpus"
else
	if [ -n "$DIR" ]; then
		compgen -G "$DIR/*.ipynb" >/dev/null || die "no notebooks (*.ipynb) in $DIR"
		cp -- "$DIR"/*.ipynb "$CORPUS"/ || die "copy $DIR"
	fi
	hb=()
	[ "$HANDBOOK" = 1 ] && hb=(-handbook)
	"$BIN/gencorpus" -n "$NOTEBOOKS" "${hb[@]}" "$CORPUS" || die "gencorpus"
fi
mapfile -t ALL < <(cd "$CORPUS" && ls -1 -- *.ipynb | LC_ALL=C sort)
NFILES=${#ALL[@]}
CORPUS_BYTES=$(du -sb "$CORPUS" | cut -f1)
SIZES=$(cd "$CORPUS" && stat -c %s -- *.ipynb | sort -n | awk '{a[NR] = $1} END {
	printf "median %d KB, 90th percentile %d KB, %d over 1 MiB, largest %d KB", a[int((NR + 1) / 2)] / 1000, a[int(NR * 0.9) + 1] / 1000, 0, a[NR] / 1000 }')
OVER=$(cd "$CORPUS" && stat -c %s -- *.ipynb | awk '$1 > 1048576' | wc -l)
SIZES=${SIZES/, 0 over/, $OVER over}
log "corpus: $NFILES notebooks, $((CORPUS_BYTES / 1024)) KiB ($SIZES)"
if [ "$SCALE" = 0 ]; then
	[ "$NFILES" -ge 20 ] || die "corpus has $NFILES notebooks; want at least 20 (add some with --notebooks N)"
	# edited: the first 20 generated notebooks (else the first 20 of all);
	# copied in: the last 20 of the corpus, as bench-copy-NN.ipynb
	mapfile -t EDIT < <(printf '%s\n' "${ALL[@]}" | grep '^gen-' | head -20)
	[ "${#EDIT[@]}" -eq 20 ] || mapfile -t EDIT < <(printf '%s\n' "${ALL[@]}" | head -20)
	COPYSRC=$WORK/copysrc
	mkdir -p "$COPYSRC"
	i=0
	mapfile -t LAST20 < <(printf '%s\n' "${ALL[@]}" | tail -20)
	for f in "${LAST20[@]}"; do
		i=$((i + 1))
		cp -- "$CORPUS/$f" "$COPYSRC/$(printf 'bench-copy-%02d.ipynb' "$i")"
	done
fi

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

# ---------------------------------------------------------------- servers
SCHEME=https
TLSFLAG=(--tls)
if [ "$PLAIN" = 1 ]; then SCHEME=http; TLSFLAG=(); fi

# start_serve DATA: starts notebookfs serve (no latency of its own) on
# DATA; sets SERVE_PID, SERVE_ADDR, SERVE_URL (direct, for loading and
# /metrics) and exports TILEDB_SSL_CA_FILE for HTTPS
start_serve() {
	local errf=$WORK/serve.log
	"$NBFS" serve --listen 127.0.0.1:0 --data "$1" "${TLSFLAG[@]}" --log-level warn 2>"$errf" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	wait_for grep -q '^listening on http' "$errf" || die "notebookfs serve did not start: $(cat "$errf")"
	SERVE_ADDR=$(sed -n 's|^listening on https\{0,1\}://\([^ ]*\).*|\1|p' "$errf" | head -1)
	SERVE_URL=$SCHEME://$SERVE_ADDR
	if [ "$PLAIN" = 0 ]; then export TILEDB_SSL_CA_FILE=$1/tls/cert.pem; fi
}

# start_proxy TARGET_ADDR NAME: latproxy in front of TARGET_ADDR; sets
# PROXY_PID, PROXY_ADDR; connections counted in $WORK/NAME.conns
start_proxy() {
	rm -f "$WORK/$2.conns"
	"$BIN/latproxy" -listen 127.0.0.1:0 -target "$1" -latency "$LATENCY" -count "$WORK/$2.conns" >"$WORK/$2.proxy.addr" 2>"$WORK/$2.proxy.log" &
	PROXY_PID=$!
	PIDS+=("$PROXY_PID")
	wait_for grep -q '^127\.0\.0\.1:' "$WORK/$2.proxy.addr" || die "latproxy did not start: $(cat "$WORK/$2.proxy.log")"
	PROXY_ADDR=$(head -1 "$WORK/$2.proxy.addr")
}
conns_of() { cat "$WORK/$1.conns" 2>/dev/null || echo 0; }

CURL_CA=()
metrics() { curl -sf "${CURL_CA[@]}" "$SERVE_URL/metrics"; }
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

# load_pristine: the corpus uploaded into a store kept as $WORK/pristine
# (serve without latency, not through the proxy; not measured)
load_pristine() {
	mkdir -p "$WORK/pristine"
	TOKEN=$("$NBFS" user add --data "$WORK/pristine" alice) || die "user add"
	export TILEDB_REST_TOKEN=$TOKEN
	[ "$1" = empty ] && return
	log "loading the corpus into tiledb://alice (not measured)"
	start_serve "$WORK/pristine"
	(cd "$CORPUS" && printf '%s\0' "${ALL[@]}") |
		(cd "$CORPUS" && xargs -0 -P 16 -n 1 sh -c '"$0" upload --remote "$1" "$2" "tiledb://alice/${2%.ipynb}" >/dev/null || echo "upload $2 failed" >&2' "$NBFS" "$SERVE_URL") ||
		die "loading the corpus failed"
	stop_pid "$SERVE_PID"
}

# fresh_serve NAME: a copy of the pristine store served behind a proxy
# (connections counted as NAME); sets NBFS_URL, the mount's remote
fresh_serve() {
	rm -rf "$WORK/serve-data"
	cp -a "$WORK/pristine" "$WORK/serve-data"
	start_serve "$WORK/serve-data"
	[ "$PLAIN" = 0 ] && CURL_CA=(--cacert "$TILEDB_SSL_CA_FILE")
	start_proxy "$SERVE_ADDR" "$1"
	NBFS_URL=$SCHEME://$PROXY_ADDR
	SERVE_PROXY_PID=$PROXY_PID
}
stop_serve() {
	stop_pid "$SERVE_PROXY_PID"
	RSS_SERVE=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$SERVE_PID/status" 2>/dev/null)
	stop_pid "$SERVE_PID"
}

# ---------------------------------------------------------------- steps
declare -A T E REQ CONN RSS ROUTES
ERRLOG=()
RUN=1

# record KEY T0 T1 RC ERRFILE LABEL
record() {
	local key=$1 rc=$4 errf=$5
	T[$key]=$(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.3f", b - a}')
	if [ "$rc" -ne 0 ] || [ -s "$errf" ]; then
		E[$key]=1
		local n
		n=$(wc -l <"$errf")
		ERRLOG+=("$6 (run $RUN): exit $rc, $n stderr line(s): $(head -3 "$errf" | tr '\n' '|' | cut -c1-400)")
	fi
}

# measure COL IDX LABEL PROXYNAME CMD...: runs CMD timed; for notebookfs
# counts requests, for proxied targets connections
measure() {
	local col=$1 idx=$2 label=$3 pname=$4 t0 t1 rc errf=$WORK/step.err m0=$WORK/m0 m1=$WORK/m1 c0=0
	shift 4
	[ "$col" = notebookfs ] && metrics >"$m0"
	[ -n "$pname" ] && c0=$(conns_of "$pname")
	t0=$(date +%s.%N)
	"$@" 2>"$errf"
	rc=$?
	t1=$(date +%s.%N)
	record "$col,$idx,$RUN" "$t0" "$t1" "$rc" "$errf" "$col / $label"
	if [ "$col" = notebookfs ]; then
		metrics >"$m1"
		REQ[$col,$idx,$RUN]=$(($(reqs_of "$m1") - $(reqs_of "$m0")))
		ROUTES[$idx]=$(routes_delta "$m0" "$m1")
	fi
	[ -n "$pname" ] && CONN[$col,$idx,$RUN]=$(($(conns_of "$pname") - c0))
	log "$col: $label: ${T[$col,$idx,$RUN]} s${E[$col,$idx,$RUN]:+ (errors)}${REQ[$col,$idx,$RUN]:+, ${REQ[$col,$idx,$RUN]} requests}${CONN[$col,$idx,$RUN]:+, ${CONN[$col,$idx,$RUN]} connections}"
}

# mount_cmd MOUNTPOINT CMD...: starts CMD in the background and waits until
# MOUNTPOINT is mounted; sets DPID
mount_cmd() {
	local mnt=$1 errf=$WORK/daemon.$RUN.log
	shift
	mkdir -p "$mnt"
	MOUNTS+=("$mnt")
	"$@" >"$errf" 2>&1 &
	DPID=$!
	PIDS+=("$DPID")
	wait_for mountpoint -q "$mnt" || { echo "not mounted after 60 s: $(tail -3 "$errf" | tr '\n' '|')" >&2; return 1; }
}

# unmount COL MOUNTPOINT PID: records peak RSS, unmounts, waits for PID
unmount() {
	local col=$1 mnt=$2 pid=$3 hwm
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	[ -n "$hwm" ] && RSS[$col,$RUN]=$((hwm / 1024))
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
	stop_pid "$pid"
}

copy_corpus() { # DEST: a fresh copy of the corpus
	rm -rf "$1"
	cp -a "$CORPUS" "$1"
}

nbfs_mount() { # MOUNTPOINT CACHEDIR [EXTRA...]
	local mnt=$1 cache=$2
	shift 2
	rm -rf "$cache"
	mount_cmd "$mnt" "$MOUNT_BIN" mount --remote "$NBFS_URL" --cache-dir "$cache" "$@" "$mnt"
}

# ---------------------------------------------------------------- report helpers
# median of the numbers given (empty if none)
median() {
	printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk '{a[NR] = $1} END {
		if (NR == 0) exit
		if (NR % 2) v = a[(NR + 1) / 2]; else v = (a[NR / 2] + a[NR / 2 + 1]) / 2
		if (v == int(v) && index(a[1], ".") == 0) printf "%d", v; else printf "%.3f", v }'
}
# med ARRAY KEYPREFIX: median over runs of ARRAY[KEYPREFIX,run]
med() {
	local -n arr=$1
	local r vals=()
	for ((r = 1; r <= RUNS; r++)); do vals+=("${arr[$2,$r]:-}"); done
	median "${vals[@]}"
}
anyerr() {
	local r
	for ((r = 1; r <= RUNS; r++)); do [ -n "${E[$1,$r]:-}" ] && { printf ' !'; return; }; done
}
ratio() { # A B: A/B with 2 decimals, or -
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
dash() { printf '%s' "${1:--}"; }

# ================================================================ scale mode
if [ "$SCALE" -gt 0 ]; then
	RUNS=1
	load_pristine empty
	log "(a) local: copyloop (write + fsync each), ls -l, cat"
	mkdir -p "$WORK/local"
	measure local 0 "cp in" "" "$BIN/copyloop" "$CORPUS" "$WORK/local"
	measure local 2 "ls -l cold" "" ls -l "$WORK/local" >/dev/null
	measure local 3 "ls -l again" "" ls -l "$WORK/local" >/dev/null
	measure local 4 "cat cold" "" sh -c 'cd "$0" && cat -- * >/dev/null' "$WORK/local"
	log "(b) notebookfs"
	fresh_serve nbfs
	MNT=$WORK/mnt-nbfs
	nbfs_mount "$MNT" "$WORK/nbfs-cache-1" || die "mount"
	D=$MNT/owned/alice
	ls "$D" >/dev/null
	measure notebookfs 0 "cp in" nbfs sh -c 'cp -- "$0"/*.ipynb "$1"/' "$CORPUS" "$D"
	# (status fails with E2BIG while thousands are pending: keep asking)
	pending() { "$MOUNT_BIN" status --json "$MNT" 2>/dev/null | jq -e '.uploads.pending == 0' >/dev/null; }
	drain() { local i; for i in $(seq 1 60000); do pending && return 0; sleep 0.01; done; return 1; }
	measure notebookfs 1 "uploads done" nbfs drain
	unmount notebookfs "$MNT" "$DPID"
	RUN=1
	nbfs_mount "$MNT" "$WORK/nbfs-cache-2" || die "mount"
	ls "$MNT/owned" >/dev/null
	measure notebookfs 2 "ls -l cold" nbfs sh -c 'ls -l "$0" >/dev/null' "$D"
	measure notebookfs 3 "ls -l again" nbfs sh -c 'ls -l "$0" >/dev/null' "$D"
	measure notebookfs 4 "cat cold" nbfs sh -c 'cd "$0" && cat -- * >/dev/null' "$D"
	NLISTED=$(ls "$D" | grep -c '\.ipynb$')
	unmount notebookfs "$MNT" "$DPID"
	stop_serve

	SSTEPS=("cp $SCALE in" "uploads done" "ls -l cold" "ls -l again" "cat cold")
	{
		echo "| step | local (s) | notebookfs (s) | notebookfs / local | requests | listing requests | connections |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		for idx in "${!SSTEPS[@]}"; do
			printf '| %s | %s | %s%s | %s | %s | %s | %s |\n' "${SSTEPS[$idx]}" "$(dash "${T[local,$idx,1]:-}")" \
				"$(dash "${T[notebookfs,$idx,1]:-}")" "${E[notebookfs,$idx,1]:+ !}" \
				"$(ratio "${T[notebookfs,$idx,1]:-}" "${T[local,$idx,1]:-}")" "$(dash "${REQ[notebookfs,$idx,1]:-}")" \
				"$(printf '%s' "${ROUTES[$idx]:-}" | grep -o 'browser/owned",code="200"} [0-9]*' | awk '{print $NF}' | grep . || echo 0)" \
				"$(dash "${CONN[notebookfs,$idx,1]:-}")"
		done
		printf '| peak RSS (MiB) | - | %s | | | | |\n' "$(dash "${RSS[notebookfs,1]:-}")"
		printf '| connections, both mounts | | | | | | %s |\n' "$(conns_of nbfs)"
	} >"$WORK/table.md"
	{
		echo "# notebookfs benchmark: one namespace of $SCALE notebooks"
		echo
		echo "Produced by \`bash test/bench/bench.sh $ARGS\` (latency $LATENCY, $SCHEME) on $(date -u +%Y-%m-%dT%H:%MZ)," \
			"$(nproc) CPUs, $(uname -sr), $(go version | cut -d' ' -f3)."
		echo "Corpus: $NFILES notebooks, $((CORPUS_BYTES / 1024)) KiB ($SIZES); the second mount listed $NLISTED."
		echo
		cat "$WORK/table.md"
		echo
		echo "One run. Errors: ${#ERRLOG[@]}"
		for l in "${ERRLOG[@]}"; do echo "- $l"; done
		echo
		echo "## notebookfs requests by route"
		echo
		for idx in "${!SSTEPS[@]}"; do echo "- ${SSTEPS[$idx]}: \`${ROUTES[$idx]:-none}\`"; done
	} >"$WORK/results.md"
	cp "$WORK/results.md" "$OUT"
	echo
	column -t -s '|' -o '|' "$WORK/table.md" 2>/dev/null | sed '2d' || cat "$WORK/table.md"
	[ ${#ERRLOG[@]} -gt 0 ] && printf 'errors:\n' && printf '  %s\n' "${ERRLOG[@]}"
	echo "written to $OUT"
	exit 0
fi

# ================================================================ workload mode
STEPS=("mount" "ls -l cold" "ls -l warm" "cat cold" "cat warm" "grep -r warm" "grep -r warm, no .versions" "edit x20" "sed -i x20" "cp 20 in" "rm 20")
TOTAL_IDX=(1 2 3 4 6 7 8 9 10)
COLS=(local loopback rclone notebookfs)

D= # the folder the steps work on
step_ls() { ls -l "$D" >/dev/null; }
step_cat() { (cd "$D" && cat -- "${ALL[@]}" >/dev/null); }
step_grep() { grep -r import "$D" >/dev/null; }
step_grep_nov() { grep -r --exclude-dir=.versions import "$D" >/dev/null; }
step_edit() {
	local f rc=0 tmp=$WORK/edit.tmp
	for f in "${EDIT[@]}"; do
		{ sed 's/import/import  /' "$D/$f" >"$tmp" && cat "$tmp" >"$D/$f"; } || rc=1
	done
	return $rc
}
step_sed() {
	local f rc=0
	for f in "${EDIT[@]}"; do
		sed -i 's/x/y/' "$D/$f" || rc=1
	done
	return $rc
}
step_cp() { cp "$COPYSRC"/bench-copy-*.ipynb "$D"/; }
step_rm() { rm "$D"/bench-copy-*.ipynb; }
FNS=("" step_ls step_ls step_cat step_cat step_grep step_grep_nov step_edit step_sed step_cp step_rm)

# run_steps COL PROXYNAME: the steps after mount, on $D
run_steps() {
	local idx
	for ((idx = 1; idx < ${#FNS[@]}; idx++)); do
		measure "$1" "$idx" "${STEPS[$idx]}" "$2" "${FNS[$idx]}"
		sleep 0.3 # settle; not measured
	done
}

# mount_step COL MOUNTPOINT PROXYNAME CMD...: the mount step, timed
mount_step() {
	local col=$1 mnt=$2 pname=$3
	shift 3
	measure "$col" 0 mount "$pname" mount_cmd "$mnt" "$@"
	[ -z "${E[$col,0,$RUN]:-}" ]
}

if want notebookfs; then load_pristine full; else load_pristine empty; fi
for ((RUN = 1; RUN <= RUNS; RUN++)); do
	log "======== run $RUN of $RUNS"
	if want local; then
		log "(a) local folder"
		copy_corpus "$WORK/local"
		D=$WORK/local
		run_steps local ""
	fi

	if want loopback; then
		log "(b) go-fuse loopback"
		copy_corpus "$WORK/loopback-orig"
		if mount_step loopback "$WORK/mnt-loopback" "" "$BIN/loopback" "$WORK/loopback-orig" "$WORK/mnt-loopback"; then
			D=$WORK/mnt-loopback
			run_steps loopback ""
			unmount loopback "$WORK/mnt-loopback" "$DPID"
		fi
	fi

	if want rclone; then
		log "(c) rclone ($RCLONE_VERSION)"
		copy_corpus "$WORK/rclone-orig"
		rm -rf "$WORK/rclone-cache"
		: >"$WORK/rclone.conf"
		rclone serve webdav "$WORK/rclone-orig" --addr 127.0.0.1:0 --config "$WORK/rclone.conf" >"$WORK/webdav.log" 2>&1 &
		WEBDAV_PID=$!
		PIDS+=("$WEBDAV_PID")
		wait_for grep -qo 'http://127\.0\.0\.1:[0-9]*' "$WORK/webdav.log" || die "rclone serve webdav did not start: $(cat "$WORK/webdav.log")"
		WEBDAV_ADDR=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/webdav.log" | head -1 | sed 's|http://||')
		start_proxy "$WEBDAV_ADDR" rclone
		if mount_step rclone "$WORK/mnt-rclone" rclone rclone mount :webdav: "$WORK/mnt-rclone" \
			--config "$WORK/rclone.conf" --webdav-url "http://$PROXY_ADDR" \
			--vfs-cache-mode full --dir-cache-time 10s --cache-dir "$WORK/rclone-cache"; then
			D=$WORK/mnt-rclone
			run_steps rclone rclone
			unmount rclone "$WORK/mnt-rclone" "$DPID"
		fi
		RSS_WEBDAV=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$WEBDAV_PID/status" 2>/dev/null)
		stop_pid "$PROXY_PID"
		stop_pid "$WEBDAV_PID"
	fi

	if want notebookfs; then
		log "(d) notebookfs"
		fresh_serve nbfs
		if mount_step notebookfs "$WORK/mnt-nbfs" nbfs "$MOUNT_BIN" mount --remote "$NBFS_URL" --cache-dir "$WORK/nbfs-cache-$RUN" "$WORK/mnt-nbfs"; then
			D=$WORK/mnt-nbfs/owned/alice
			run_steps notebookfs nbfs
			unmount notebookfs "$WORK/mnt-nbfs" "$DPID"
		fi
		stop_serve
	fi
	# the run's totals
	for col in "${COLS[@]}"; do
		sum=0 have=0
		for idx in "${TOTAL_IDX[@]}"; do
			v=${T[$col,$idx,$RUN]:-}
			[ -n "$v" ] && { sum=$(awk -v a="$sum" -v b="$v" 'BEGIN {printf "%.3f", a + b}'); have=1; }
			[ -n "${E[$col,$idx,$RUN]:-}" ] && E[$col,total,$RUN]=1
			[ -n "${REQ[$col,$idx,$RUN]:-}" ] && REQ[$col,total,$RUN]=$((${REQ[$col,total,$RUN]:-0} + REQ[$col,$idx,$RUN]))
			[ -n "${CONN[$col,$idx,$RUN]:-}" ] && CONN[$col,total,$RUN]=$((${CONN[$col,total,$RUN]:-0} + CONN[$col,$idx,$RUN]))
		done
		[ "$have" = 1 ] && T[$col,total,$RUN]=$sum
		# connections of the whole run, mount included
		[ -n "${CONN[$col,0,$RUN]:-}" ] && CONN[$col,run,$RUN]=$((${CONN[$col,total,$RUN]:-0} + CONN[$col,0,$RUN]))
	done
done

# ---------------------------------------------------------------- report
cell() { # COL IDX
	local v
	v=$(med T "$1,$2")
	[ "$1" = local ] && [ "$2" = 0 ] && v=
	printf '%s%s' "${v:--}" "$(anyerr "$1,$2")"
}
row() { # LABEL IDX
	local l=$1 idx=$2
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$l" \
		"$(cell local "$idx")" "$(cell loopback "$idx")" "$(cell rclone "$idx")" "$(cell notebookfs "$idx")" \
		"$(ratio "$(med T "notebookfs,$idx")" "$(med T "local,$idx")")" "$(ratio "$(med T "notebookfs,$idx")" "$(med T "rclone,$idx")")" \
		"$(dash "$(med REQ "notebookfs,$idx")")" "$(dash "$(med CONN "rclone,$idx")")" "$(dash "$(med CONN "notebookfs,$idx")")"
}
{
	echo "| step | local (s) | loopback (s) | rclone (s) | notebookfs (s) | nbfs / local | nbfs / rclone | nbfs requests | rclone conns | nbfs conns |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for idx in "${!STEPS[@]}"; do row "${STEPS[$idx]}" "$idx"; done
	row "**total**" total
	printf '| connections per run | | | | | | | | %s | %s |\n' "$(dash "$(med CONN rclone,run)")" "$(dash "$(med CONN notebookfs,run)")"
	printf '| peak RSS (MiB) | - | %s | %s | %s | | | | | |\n' "$(dash "$(med RSS loopback)")" "$(dash "$(med RSS rclone)")" "$(dash "$(med RSS notebookfs)")"
} >"$WORK/table.md"

{
	echo "# notebookfs benchmark"
	echo
	echo "Produced by \`bash test/bench/bench.sh $ARGS\` (latency $LATENCY, notebookfs over $SCHEME) on $(date -u +%Y-%m-%dT%H:%MZ)," \
		"$(nproc) CPUs, $(uname -sr), $(go version | cut -d' ' -f3)${RCLONE_VERSION:+, $RCLONE_VERSION}."
	echo "Corpus: $NFILES notebooks, $((CORPUS_BYTES / 1024)) KiB in one folder / namespace ($SIZES)."
	echo
	cat "$WORK/table.md"
	echo
	echo "Medians of $RUNS run(s). Seconds are wall-clock per step; \`!\` marks a step that exited non-zero or printed errors in some run (listed below)."
	echo "Requests: answered by \`notebookfs serve\` during the step (its /metrics; background work after a step counts for the next)."
	echo "Connections: opened through the latency proxy during the step; per run: the mount included."
	echo "Peak RSS is VmHWM of the mount daemon; besides it, rclone serve webdav peaked at ${RSS_WEBDAV:-?} MiB and notebookfs serve at ${RSS_SERVE:-?} MiB."
	echo "Network: latproxy delays every byte towards the server by $LATENCY and charges each new connection 2 round trips more (TCP + TLS)."
	echo
	echo "## Errors"
	echo
	if [ ${#ERRLOG[@]} -eq 0 ]; then
		echo "none"
	else
		for l in "${ERRLOG[@]}"; do echo "- $l"; done
	fi
	echo
	echo "## notebookfs requests by route (last run)"
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
