#!/usr/bin/env bash
# The throughput cost of the audit trail: GetRole (signed by an IAM user, presigned GETs with wrk,
# scripts/bench-api.sh over HTTP) and the IMDS credential GET (scripts/bench-imds.sh), each
# against a server with auditing on (the default) and with `--audit off`, alternating ROUNDS
# times so that load from other processes falls on both alike. Then the server's CPU time per
# GetRole with auditing on and off (scripts/bench-audit-cpu.py): servers one after the other
# (the whole machine each), then both at once (--together: the same machine state for both, the
# steadier comparison on a VM whose speed drifts).
#
#   scripts/bench-audit.sh                 # 2 rounds, 10 s per case
#   ROUNDS=3 DURATION=20 scripts/bench-audit.sh
#   CPU_ONLY=1 scripts/bench-audit.sh      # only the CPU time per request
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-2}"
export DURATION="${DURATION:-10}"
PYTHON=python3
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python
if [ -n "${CPU_ONLY:-}" ]; then
  cargo build --release -q -p rolecall
  ROUNDS=0
fi
for round in $(seq "$ROUNDS"); do
  for audit in on off; do
    echo "## round $round, --audit $audit"
    SERVE_ARGS="--audit $audit" NO_TLS=1 scripts/bench-api.sh | grep -E '^(GetRole|case)'
    SERVE_ARGS="--audit $audit" scripts/bench-imds.sh 2>&1 | tail -n 4
  done
done
"$PYTHON" scripts/bench-audit-cpu.py "${CPU_ROUNDS:-3}" "$DURATION"
"$PYTHON" scripts/bench-audit-cpu.py "${CPU_ROUNDS:-3}" "$DURATION" --together
