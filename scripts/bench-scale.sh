#!/usr/bin/env bash
# Fleet scale: how writes, reads, IMDS and change propagation behave with N instances.
#
#   scripts/bench-scale.sh                     # N = 0 and 10000 on SQLite
#   SIZES="0 10000 100000 1000000" scripts/bench-scale.sh
#   STORE=postgres SIZES=100000 scripts/bench-scale.sh   # under scripts/with-postgres.sh
#
# For each N: `rolecall bench-seed` bulk-inserts N running instances (through the store) spread
# over PROFILES roles/instance profiles, plus 300 spares without a profile; a release
# `rolecall serve` (with IMDS) is started and timed until its API answers; `rolecall bench-load`
# then measures through the real HTTP API with SigV4-signed requests (CreateRole, PutRolePolicy,
# AssociateIamInstanceProfile, ReplaceIamInstanceProfileAssociation, DescribeInstances by id and
# 100 per page), the IMDS credential GET (first and warm), and the delay from a replace's answer
# to IMDS serving the new role: on the same node, through a `rolecall agent` polling the API
# (fronting the spares, whose addresses are on loopback; AGENT=0 skips it), and with
# STORE=postgres on a second node sharing the database. Server-side times come from the server's
# per-request timing log lines (per action, so the agent's polls are not counted). RSS is read
# from /proc after the run; the server's start-up steps (time since start) from its log.
# Output: markdown, for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${SIZES:-0 10000}"
PROFILES="${PROFILES:-100}"
REQUESTS="${REQUESTS:-200}"
STORE="${STORE:-sqlite}"
WORK_ROOT="${WORK_ROOT:-/tmp}"
AGENT="${AGENT:-1}"

# BUILD=0: measure target/release/rolecall as it is.
if [ "${BUILD:-1}" = 1 ]; then cargo build --release -q -p rolecall; fi
BIN=target/release/rolecall
pids=()
work=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

db_args=()
if [ "$STORE" = postgres ]; then
  ROLECALL_DATABASE_URL="${ROLECALL_DATABASE_URL:-${ROLECALL_TEST_DATABASE_URL:-}}"
  : "${ROLECALL_DATABASE_URL:?STORE=postgres needs ROLECALL_DATABASE_URL (or run under scripts/with-postgres.sh)}"
  db_args=(--database-url "$ROLECALL_DATABASE_URL")
fi

reset_postgres() { # a fresh schema for each N
  psql "$ROLECALL_DATABASE_URL" -q -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null
}

start_server() { # start_server DIR LOG -> sets $server_pid; waits until the API answers
  local dir=$1 log=$2 port imds
  port="$(free_port)"
  imds="$(free_port)"
  rm -f "$dir/endpoint"
  local t0
  t0=$(date +%s.%N)
  RUST_LOG="info,rolecall_api::timing=debug" "$BIN" "${db_args[@]}" serve --data-dir "$dir" \
    --listen "127.0.0.1:$port" --imds-listen "127.0.0.1:$imds" --imds-identify path --imds-rate-per-source 0 >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 6000); do
    if [ -s "$dir/endpoint" ] && curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  startup=$(echo "$(date +%s.%N) - $t0" | bc)
  # IMDS answers 503 while the fleet loads in the background; measure once it serves.
  local imds_url
  imds_url="$(sed -n 3p "$dir/endpoint")"
  while [ "$(curl -s -o /dev/null -w '%{http_code}' "$imds_url/latest/meta-data/")" = 503 ]; do sleep 0.05; done
  imds_ready=$(echo "$(date +%s.%N) - $t0" | bc)
}

echo "# rolecall fleet scale ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $STORE, release build, load average $(cut -d' ' -f1-3 /proc/loadavg))"
for n in $SIZES; do
  work="$(mktemp -d "$WORK_ROOT/rolecall-bench-scale.XXXXXX")"
  if [ "$STORE" = postgres ]; then reset_postgres; fi
  echo
  echo "## N = $n instances, $PROFILES profiles ($STORE)"
  t0=$(date +%s.%N)
  "$BIN" "${db_args[@]}" bench-seed --data-dir "$work/a" --instances "$n" --profiles "$PROFILES"
  echo "seed: $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-6) s"
  start_server "$work/a" "$work/a.log"
  echo "startup (process start to API answering): ${startup:0:6} s; to IMDS serving: ${imds_ready:0:6} s; RSS then: $(rss_mb "$server_pid") MB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "server start-up steps (ms since start):"
  sed 's/\x1b\[[0-9;]*m//g' "$work/a.log" | grep -E 'start-up:|API listening|IMDS directory loaded' |
    sed -E 's/^[^ ]+ +INFO [^ ]+ //; s/^/    /'
  remote=()
  if [ "$AGENT" = 1 ]; then remote+=(--agent); fi
  if [ "$STORE" = postgres ]; then
    mkdir -p "$work/b"
    cp -a "$work/a/." "$work/b/"
    rm -f "$work/b/endpoint"
    first_pid=$server_pid
    start_server "$work/b" "$work/b.log"
    remote=(--remote-imds "$(sed -n 3p "$work/b/endpoint")")
    server_pid=$first_pid
  fi
  "$BIN" "${db_args[@]}" bench-load --data-dir "$work/a" --instances "$n" --profiles "$PROFILES" \
    --requests "$REQUESTS" --server-log "$work/a.log" "${remote[@]}"
  echo
  echo "RSS after the run: $(rss_mb "$server_pid") MB"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  du -sh "$work" | awk '{print "data on disk: " $1}'
  rm -rf "$work"
  work=""
done
