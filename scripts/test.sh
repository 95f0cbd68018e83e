#!/usr/bin/env bash
# The whole test suite, on a fresh machine: Rust unit/integration tests, then the end-to-end
# tests that drive a real `rolecall serve` with the real aws CLI and boto3.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
if [ -x scripts/setup-oracle.sh ]; then
  scripts/setup-oracle.sh
fi

cargo build --workspace --all-targets
# The storage suite also runs on a throwaway PostgreSQL (ROLECALL_TEST_DATABASE_URL).
scripts/with-postgres.sh cargo test --workspace
# The agent's end-to-end test runs two API nodes on one PostgreSQL database.
scripts/with-postgres.sh python3 -m pytest -q tests/e2e
