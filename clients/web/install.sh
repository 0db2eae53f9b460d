#!/bin/sh
# Install the pinned npm packages under ~/.cache/aesel/web, once per package.json content.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache="${CLIENTS_CACHE:-$HOME/.cache/aesel}/web"
mkdir -p "$cache"
if ! cmp -s "$here/package.json" "$cache/package.json" || [ ! -d "$cache/node_modules" ]; then
  cp "$here/package.json" "$cache/package.json"
  [ -f "$here/package-lock.json" ] && cp "$here/package-lock.json" "$cache/package-lock.json"
  (cd "$cache" && npm install --no-audit --no-fund --loglevel=error)
  cp "$cache/package-lock.json" "$here/package-lock.json"
fi
