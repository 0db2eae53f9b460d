#!/bin/sh
# Rebuild the files aesel serves (committed, so users need no build step):
#   aesel/rest/static/viewer/  index.html and viewer.js (src/ bundled with three.js by esbuild)
#   aesel/rest/static/swagger/ Swagger UI for /docs (copied from swagger-ui-dist)
# npm packages are pinned in package.json and installed under ~/.cache/aesel/web.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="${VIEWER_STATIC_OUT:-$here/../../aesel/rest/static}"
"$here/install.sh"
nm="${CLIENTS_CACHE:-$HOME/.cache/aesel}/web/node_modules"
mkdir -p "$out/viewer" "$out/swagger"
NODE_PATH="$nm" "$nm/.bin/esbuild" "$here/src/viewer.js" --bundle --minify --format=esm \
  --target=es2020 --legal-comments=none --log-level=warning \
  --alias:three="$nm/three" --outfile="$out/viewer/viewer.js"
cp "$here/src/index.html" "$out/viewer/index.html"
for f in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE; do
  cp "$nm/swagger-ui-dist/$f" "$out/swagger/$f"
done
