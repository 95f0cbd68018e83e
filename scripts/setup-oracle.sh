#!/usr/bin/env bash
# Install the IAM policy-evaluation oracle (../shared/tools/iam-oracle, AGPL-3.0) into
# $IAM_ORACLE_DIR (default /tmp/iam-oracle), outside the repository, for the differential
# tests of rolecall-policy. Idempotent: does nothing if the installed copy is up to date.
# The oracle is only ever run as a separate process (node oracle.mjs --jsonl).
set -euo pipefail

repo_root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
src="${IAM_ORACLE_SRC:-$repo_root/../shared/tools/iam-oracle}"
dest="${IAM_ORACLE_DIR:-/tmp/iam-oracle}"

if [[ ! -f "$src/oracle.mjs" || ! -f "$src/package-lock.json" ]]; then
    echo "setup-oracle: oracle sources not found at $src" >&2
    exit 1
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup-oracle: node and npm (node >= 20) are required" >&2
    exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 20 )); then
    echo "setup-oracle: node >= 20 required, found $(node --version)" >&2
    exit 1
fi

case "$(realpath -m "$dest")/" in
    "$(realpath -m "$repo_root")"/*)
        echo "setup-oracle: refusing to install inside the repository ($dest)" >&2
        exit 1 ;;
esac

mkdir -p "$dest"
stamp="$dest/.rolecall-oracle-stamp"
want="$(cd "$src" && cat package-lock.json oracle.mjs package.json | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -d "$dest/node_modules/@cloud-copilot/iam-simulate" ]]; then
    echo "setup-oracle: up to date in $dest"
    exit 0
fi

# Copy the sources (read-only in shared/: make the copies writable).
cp -r "$src/." "$dest/"
chmod -R u+w "$dest"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$dest" && npm test >/dev/null) || {
    echo "setup-oracle: oracle smoke tests failed in $dest" >&2
    exit 1
}
echo "$want" >"$stamp"
echo "setup-oracle: installed in $dest"
