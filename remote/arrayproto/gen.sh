#!/usr/bin/env bash
# gen.sh: generate remote/arrayproto/rest from schema/notebook.capnp.
#
#   bash remote/arrayproto/gen.sh          regenerate rest/ in place
#   bash remote/arrayproto/gen.sh --check  regenerate into a temporary
#                                          directory and fail (exit 1) if
#                                          rest/ differs from it
#
# Needs Debian's `capnproto` (the capnp compiler) and Go. capnpc-go must be
# the version of capnproto.org/go/capnp/v3 in go.mod; it is installed with
# `go install` into a temporary GOBIN if the one on PATH or in
# $(go env GOPATH)/bin is missing or another version.
set -euo pipefail

VERSION=v3.0.1-alpha.2
MODULE=capnproto.org/go/capnp/v3

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

command -v capnp >/dev/null || { echo "gen.sh: capnp not found (apt-get install capnproto)" >&2; exit 2; }

modversion=$(go list -m -f '{{.Version}}' "$MODULE")
if [[ "$modversion" != "$VERSION" ]]; then
  echo "gen.sh: go.mod has $MODULE $modversion, this script pins $VERSION" >&2
  exit 2
fi
std="$(go list -m -f '{{.Dir}}' "$MODULE")/std"
[[ -f "$std/go.capnp" ]] || { echo "gen.sh: $std/go.capnp missing (go mod download $MODULE)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# plugin_ok BIN: BIN is capnpc-go built from $MODULE at $VERSION.
plugin_ok() {
  [[ -x "$1" ]] && go version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$MODULE[[:space:]]+$VERSION([[:space:]]|$)"
}
plugin=""
for cand in "$(command -v capnpc-go || true)" "$(go env GOPATH)/bin/capnpc-go"; do
  if [[ -n "$cand" ]] && plugin_ok "$cand"; then plugin=$cand; break; fi
done
if [[ -z "$plugin" ]]; then
  echo "gen.sh: installing $MODULE/capnpc-go@$VERSION" >&2
  GOBIN="$tmp/bin" GOFLAGS=-mod=mod go install "$MODULE/capnpc-go@$VERSION"
  plugin="$tmp/bin/capnpc-go"
fi
mkdir -p "$tmp/plugin"
ln -s "$plugin" "$tmp/plugin/capnpc-go"

out="$tmp/rest"
mkdir -p "$out"
PATH="$tmp/plugin:$PATH" capnp compile -I"$std" -ogo:"$out" --src-prefix=schema schema/notebook.capnp

if (( check )); then
  if ! diff -ru rest "$out"; then
    echo "gen.sh: remote/arrayproto/rest is stale: run 'bash remote/arrayproto/gen.sh'" >&2
    exit 1
  fi
  echo "gen.sh: rest/ is up to date"
else
  mkdir -p rest
  rm -f rest/*.capnp.go
  cp "$out"/*.go rest/
  echo "gen.sh: regenerated rest/"
fi
