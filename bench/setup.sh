#!/usr/bin/env bash
# Installs the peers the benchmark compares against, cached outside the clone under
# ~/.cache/aesel/bench (or $BENCH_CACHE), where bench/run.py looks for them.
# Centrifugo from the Go module proxy; Node `ws` and Socket.IO from npm; the Go load generator.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${BENCH_CACHE:-$HOME/.cache/aesel/bench}"
mkdir -p "$CACHE/bin" "$CACHE/node" "$CACHE/go"
export GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-mod=mod
if [ ! -x "$CACHE/bin/centrifugo" ]; then
  GOBIN="$CACHE/bin" go install github.com/centrifugal/centrifugo/v6@v6.9.1
fi
if [ ! -d "$CACHE/node/node_modules/ws" ] || [ ! -d "$CACHE/node/node_modules/socket.io" ]; then
  (cd "$CACHE/node" && [ -f package.json ] || echo '{"private":true}' > package.json
   npm install --no-audit --no-fund --silent ws@8.23.0 socket.io@4.8.4 >/dev/null)
fi
if [ -f bench/loadgen/go.mod ]; then
  (cd bench/loadgen && go build -o "$CACHE/bin/aesel-loadgen" .)
fi
echo "bench peers ready in $CACHE"
