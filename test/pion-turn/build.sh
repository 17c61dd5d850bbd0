#!/usr/bin/env bash
# Build the pion/turn test server offline from Debian's Go sources
# (golang-github-pion-turn.v2-dev). Output: test/pion-turn/bin/pion-turn.
# GOPATH mode: Go resolves ".../transport/v2" imports to the v2 module in
# /usr/share/gocode/src/github.com/pion/transport (minimal module compatibility).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/bin/pion-turn"
gocode=/usr/share/gocode
if ! command -v go >/dev/null 2>&1 || [ ! -d "$gocode/src/github.com/pion/turn/v2" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go golang-github-pion-turn.v2-dev >&2
  else
    echo "pion-turn: needs golang-go and golang-github-pion-turn.v2-dev (run as root to install)" >&2
    exit 1
  fi
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/rtcprobe-pion-turn" "$here/bin"
cp "$here/main.go" "$work/src/rtcprobe-pion-turn/"
cd "$work/src/rtcprobe-pion-turn"
GO111MODULE=off GOPATH="$work:$gocode" GOPROXY=off GOFLAGS= GOCACHE="$work/cache" \
  go build -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "built $out" >&2
