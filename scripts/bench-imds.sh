#!/usr/bin/env bash
# Benchmark of the IMDS credential GET against a real `rolecall serve --imds-listen`.
#
# Builds release, starts a server on a temporary data directory (127.0.0.1, free ports), creates a
# role, instance profile and instance with the aws CLI, then drives
# /latest/meta-data/iam/security-credentials/<role> with the imds_load example over keep-alive
# HTTP/1.1 connections, and stops the server.
#
# Environment:
#   MODE=dev|source-ip|both  how the instance is identified (default both): the `rolecall exec`
#                            path prefix, or the source address (the instance gets 127.77.0.10
#                            and the load generator binds to it)
#   CONNECTIONS=16 DURATION=10 WARMUP=1 LOADGEN_THREADS=1
#   SERVER_CPUS / LOADGEN_CPUS   taskset CPU lists, e.g. SERVER_CPUS=0 LOADGEN_CPUS=1 to keep the
#                                server and the load generator off each other's core
#   REALTIME=1                   run the server and the load generator SCHED_FIFO (chrt -f 1, needs
#                                root) so other work on a shared machine cannot preempt them; the
#                                kernel's RT throttling (5% of each second left to others) then
#                                shows as a ~50 ms maximum latency
#   SKIP_BUILD=1                 use the existing target/release binaries
#   SERVE_ARGS="--audit off"     extra `rolecall serve` flags (scripts/bench-audit.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-both}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
SERVER_CPUS=${SERVER_CPUS:-}
LOADGEN_CPUS=${LOADGEN_CPUS:-}

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -p rolecall -p rolecall-imds --bin rolecall --example imds_load
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
BIN=target/release/rolecall
LOAD=target/release/examples/imds_load

data=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

rt=()
if [ -n "${REALTIME:-}" ]; then rt=(chrt -f 1); fi
pin() { # pin CPUS CMD...: run under taskset when CPUS is set (and chrt with REALTIME)
  local cpus=$1
  shift
  if [ -n "$cpus" ]; then set -- taskset -c "$cpus" "$@"; fi
  "${rt[@]}" "$@"
}

server=("$BIN" serve --data-dir "$data" --listen 127.0.0.1:0 --imds-listen 127.0.0.1:0
  --instance-cidr 127.77.0.0/16 --imds-rate-per-source 0  # the load comes from one address
  ${SERVE_ARGS:-})  # e.g. SERVE_ARGS="--audit off" (scripts/bench-audit.sh)
if [ -n "$SERVER_CPUS" ]; then server=(taskset -c "$SERVER_CPUS" "${server[@]}"); fi
server=("${rt[@]}" "${server[@]}")
# taskset and chrt exec the server, so $! is the server's pid.
RUST_LOG=warn "${server[@]}" >"$data/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  [ -s "$data/endpoint" ] && break
  sleep 0.1
done
[ -s "$data/endpoint" ] || { echo "server did not start:"; cat "$data/server.log"; exit 1; }
imds=$(sed -n 3p "$data/endpoint")
imds_addr=${imds#http://}

eval "$("$BIN" env --data-dir "$data")"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
cat >"$data/trust.json" <<'EOF'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}
EOF
aws iam create-role --role-name bench --assume-role-policy-document "file://$data/trust.json" >/dev/null
aws iam create-instance-profile --instance-profile-name bench-profile >/dev/null
aws iam add-role-to-instance-profile --instance-profile-name bench-profile --role-name bench
instance=$(aws ec2 run-instances --image-id ami-11aa22bb --private-ip-address 127.77.0.10 \
  --iam-instance-profile Name=bench-profile --query 'Instances[0].InstanceId' --output text)
echo "server $imds (pid $server_pid), instance $instance, $(nproc) CPUs, server on ${SERVER_CPUS:-any CPU}, load generator on ${LOADGEN_CPUS:-any CPU}${REALTIME:+, SCHED_FIFO}"

creds=/latest/meta-data/iam/security-credentials/bench
run_load() {
  pin "$LOADGEN_CPUS" "$LOAD" --addr "$imds_addr" --connections "$CONNECTIONS" \
    --duration "$DURATION" --warmup "$WARMUP" --threads "$LOADGEN_THREADS" \
    --expect AccessKeyId --server-pid "$server_pid" "$@"
}
if [ "$MODE" = dev ] || [ "$MODE" = both ]; then
  # The prefix `rolecall exec` gives the instance's programs.
  endpoint=$("$BIN" exec --data-dir "$data" --imds-endpoint path "$instance" -- sh -c 'echo "$AWS_EC2_METADATA_SERVICE_ENDPOINT"')
  prefix=/${endpoint#http://*/}
  echo "== dev path ($CONNECTIONS connections)"
  run_load --path "${prefix%/}$creds"
fi
if [ "$MODE" = source-ip ] || [ "$MODE" = both ]; then
  echo "== source IP 127.77.0.10 ($CONNECTIONS connections)"
  run_load --bind 127.77.0.10 --path "$creds"
fi
