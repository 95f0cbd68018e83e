#!/usr/bin/env bash
# The whole test suite, on a fresh machine: Rust unit/integration tests, then the end-to-end
# tests that drive a real `rolecall serve` with the real aws CLI and boto3.
#
# Nothing is skipped: the PostgreSQL tests (a throwaway server from scripts/with-postgres.sh) and
# the oracle's differential tests (scripts/setup-oracle.sh) run, and fail when their dependency is
# missing. Every step has a timeout, so a hang fails the run instead of eating CI's time.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests use: curl (the walkthrough's IMDS call), Python's venv module, and for
# the netns instance runtime iproute2 (`ip`) and util-linux (`nsenter`, `unshare`, `setpriv`),
# and the console's browser tests Debian's chromium + chromium-driver and a Korean font (fonts-nanum,
# for the Korean pages' screenshots).
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v nft >/dev/null 2>&1 || missing+=(nftables)  # the hop-limit test's "container" NAT
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -d /usr/share/fonts/truetype/nanum ] || missing+=(fonts-nanum)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
# The netns instances' user runs the aws CLI from a virtualenv of the system's Python.
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  scripts/apt-install.sh test.sh "${missing[@]}"
fi

# The pinned Python clients, in a virtual environment of the repository's own (.venv, ignored by
# git): a stock Debian refuses `pip install` into the system interpreter (PEP 668).
VENV="$PWD/.venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements-ansible.txt
export PATH="$VENV/bin:$PATH"   # the tests run `aws` by name

scripts/setup-oracle.sh
scripts/setup-js-sdk.sh

# Per-test and whole-step limits: generous (a loaded 2-core machine), only there to catch hangs.
# pytest exits 5 when it collected no test, which fails this script like any other failure.
PYTEST=(timeout --kill-after=30 2400 python -m pytest -q -p no:cacheprovider --timeout=300)
# The e2e modules that exercise the API (and IMDS) through the shared server fixtures: they run on
# both stores.
API_MODULES=()
for m in iam users sts federation_token ec2 ec2_network ec2_images passrole passrole_matrix input_hardening sdks fidelity account_summary simulate authz_hardening instance_permissions imds walkthrough revocation console iam_tools root_access_keys access_key_info service_linked_roles audit login_profiles; do
  API_MODULES+=("tests/e2e/test_$m.py")
done

# Habits: formatted, and no clippy warning anywhere (tests and benches included).
cargo fmt --all --check
# The generated operations are what the pinned models say (regenerating changes nothing).
timeout --kill-after=30 3000 cargo run -q -p rolecall-codegen -- --check
timeout --kill-after=30 3000 cargo clippy --workspace --all-targets -- -D warnings
timeout --kill-after=30 3000 cargo build --workspace --all-targets
# --include-ignored: the PostgreSQL store tests and the oracle's differential tests are ignored by
# a plain `cargo test`; here they run, and fail if PostgreSQL or the oracle is missing.
export ROLECALL_TEST_REQUIRE_POSTGRES=1
scripts/with-postgres.sh timeout --kill-after=30 2400 cargo test --workspace -- --include-ignored

# The end-to-end suite on SQLite (its PostgreSQL tests, e.g. the agent's, on the throwaway
# server), then the API modules again with every shared server on PostgreSQL.
scripts/with-postgres.sh "${PYTEST[@]}" tests/e2e
scripts/with-postgres.sh "${PYTEST[@]}" --store=postgres "${API_MODULES[@]}"
