#!/usr/bin/env bash
# Installs the pinned AWS SDK for JavaScript v3 packages of tests/js (package-lock.json) for the
# end-to-end SDK tests. Idempotent: does nothing when node_modules matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../tests/js"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup-js-sdk: node and npm are required" >&2
  exit 1
fi
stamp=node_modules/.rolecall-lock-sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
echo "setup-js-sdk: installed $(node -p 'Object.entries(require("./package.json").dependencies).map(([k,v])=>k+"@"+v).join(" ")')"
