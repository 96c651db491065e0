#!/usr/bin/env bash
# memory.sh: the daemon's memory targets, measured as its peak RSS
# (VmHWM). Run by hand from the repo root, as root (or a user who may
# mount FUSE); not part of CI:
#
#   bash test/bench/memory.sh [--big-mb 1000] [--many 20] [--many-mb 100] [--cache-size 256M]
#
# Over notebookfs serve on 127.0.0.1, each phase with a fresh daemon:
#   save 1 GB     cp of a 1 GB notebook into the mount, then sync(1) on it
#                 (fsync waits for the upload)
#   read 1 GB     a new mount (cold caches): cat of it, compared with the
#                 original
#   edit 1 GB     the same mount: the notebook saved again with one byte
#                 changed (cp over it), synced
#   read 2 GB     a new mount: cat of --many notebooks of --many-mb each
# and prints the peak RSS of each daemon against the targets: under 300 MB
# for the 1 GB notebook read and saved, and at most the cache size + 64 MiB
# while 2 GB of notebooks are read.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
BIG_MB=1000 # notebookfs serve takes notebooks up to 1 GiB
MANY=20
MANY_MB=100
CACHE=256M
while [ $# -gt 0 ]; do
	case $1 in
	--big-mb) BIG_MB=$2; shift 2 ;;
	--many) MANY=$2; shift 2 ;;
	--many-mb) MANY_MB=$2; shift 2 ;;
	--cache-size) CACHE=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "memory.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

log() { printf '%s memory: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

WORK=$(mktemp -d /tmp/nbmem.XXXXXX) || exit 1
MNT=$WORK/mnt
SERVE_PID=
DAEMON_PID=
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u -z "$MNT" 2>/dev/null
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NBFS=$WORK/notebookfs
go build -o "$NBFS" ./cmd/notebookfs || die "go build"
mkdir -p "$MNT" "$WORK/src" "$WORK/home"

# notebook FILE MB: a valid notebook of about MB megabytes (one markdown
# cell of base64 text).
notebook() {
	{
		printf '{"cells":[{"cell_type":"markdown","metadata":{},"source":["'
		head -c $(($2 * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w0
		printf '"]}],"metadata":{},"nbformat":4,"nbformat_minor":5}\n'
	} >"$1"
}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$NBFS" user add --data "$WORK/data" alice >"$WORK/token" 2>/dev/null || die "user add"
"$NBFS" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" --log-level warn &
SERVE_PID=$!
export TILEDB_REST_TOKEN
TILEDB_REST_TOKEN=$(cat "$WORK/token")
export HOME=$WORK/home XDG_CACHE_HOME=$WORK/home/cache XDG_DATA_HOME=$WORK/home/data
DIR=$MNT/owned/alice

start() {
	"$NBFS" mount --remote "http://127.0.0.1:$PORT" --cache-size "$CACHE" --call-timeout 10m --log-level warn "$MNT" &
	DAEMON_PID=$!
	for _ in $(seq 200); do
		mountpoint -q "$MNT" && return 0
		sleep 0.05
	done
	die "the mount did not appear"
}
peak() { awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$DAEMON_PID/status"; }
stop() {
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

log "generating a ${BIG_MB} MB notebook and ${MANY} of ${MANY_MB} MB"
notebook "$WORK/src/big.ipynb" "$BIG_MB"
for i in $(seq "$MANY"); do notebook "$WORK/src/m$i.ipynb" "$MANY_MB"; done

log "save 1 GB"
start
t0=$(date +%s.%N)
cp "$WORK/src/big.ipynb" "$DIR/big.ipynb" || die "cp in"
sync "$DIR/big.ipynb" || die "sync"
t1=$(date +%s.%N)
SAVE=$(peak)
SAVE_S=$(echo "$t1 - $t0" | bc)
for i in $(seq "$MANY"); do cp "$WORK/src/m$i.ipynb" "$DIR/" || die "cp m$i"; done
sync "$DIR"/m*.ipynb
stop

log "read 1 GB (cold)"
start
t0=$(date +%s.%N)
cmp "$WORK/src/big.ipynb" "$DIR/big.ipynb" || die "read back differs"
t1=$(date +%s.%N)
READ=$(peak)
READ_S=$(echo "$t1 - $t0" | bc)
log "edit 1 GB"
python3 - "$WORK/src/big.ipynb" <<'EOF' || die "edit"
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100)
    f.write(b"E")
EOF
t0=$(date +%s.%N)
cp "$WORK/src/big.ipynb" "$DIR/big.ipynb" && sync "$DIR/big.ipynb" || die "save again"
t1=$(date +%s.%N)
EDIT=$(peak)
EDIT_S=$(echo "$t1 - $t0" | bc)
stop

log "read $((MANY * MANY_MB)) MB of notebooks (cold)"
start
t0=$(date +%s.%N)
for i in $(seq "$MANY"); do cmp "$WORK/src/m$i.ipynb" "$DIR/m$i.ipynb" || die "m$i differs"; done
t1=$(date +%s.%N)
MANYR=$(peak)
MANY_S=$(echo "$t1 - $t0" | bc)
stop

CACHE_MB=$(( $(echo "$CACHE" | sed 's/[Mm]$//') ))
printf '\n| phase | seconds | daemon peak RSS (MiB) | target |\n| --- | ---: | ---: | --- |\n'
printf '| save %d MB (cp + sync) | %.1f | %d | < 300 MB |\n' "$BIG_MB" "$SAVE_S" "$SAVE"
printf '| read %d MB cold (cmp) | %.1f | %d | < 300 MB |\n' "$BIG_MB" "$READ_S" "$READ"
printf '| read + save %d MB again | %.1f | %d | < 300 MB |\n' "$BIG_MB" "$EDIT_S" "$EDIT"
printf '| read %d x %d MB cold | %.1f | %d | <= cache %s + 64 MiB = %d MiB |\n' "$MANY" "$MANY_MB" "$MANY_S" "$MANYR" "$CACHE" "$((CACHE_MB + 64))"
