#!/usr/bin/env bash
# Throughput of signed API requests against a release `rolecall serve`, over plain HTTP and over
# TLS (--tls self-signed), measured with wrk (installed with apt when missing) driving
# SigV4-presigned GET requests (the Query protocol accepts GET) on keep-alive connections.
#
#   scripts/bench-api.sh            # 10 s per case, 16 connections, 2 wrk threads
#   DURATION=30 CONNECTIONS=64 scripts/bench-api.sh
#   SERVE_ARGS="--audit off" NO_TLS=1 scripts/bench-api.sh   # extra serve flags; HTTP only
#
# Cases: STS GetCallerIdentity and IAM GetRole, both signed by an IAM user (SigV4, the user's
# policies evaluated, GetRole's read), each over HTTP and HTTPS. Every presigned URL is first
# fetched once and its answer checked (an answer of the wrong shape fails the run), so the
# figures are for real answers. Load generator and server share this machine's cores; results
# go to stdout (copy them to docs/benchmarks.md with the machine and date).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench-api: installing wrk" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 || {
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
  }
fi
PYTHON=python3
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python
"$PYTHON" -c 'import botocore' 2>/dev/null || "$PYTHON" -m pip install -q -r tests/requirements.txt

cargo build --release -q -p rolecall
BIN=target/release/rolecall
work="$(mktemp -d /tmp/rolecall-bench-api.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # start NAME ARGS...: a server on a fresh data dir; prints its endpoint file's first line
  local name=$1
  shift
  local port
  port="$(free_port)"
  # shellcheck disable=SC2086 # SERVE_ARGS is a list of words, e.g. "--audit off"
  RUST_LOG=warn "$BIN" serve --data-dir "$work/$name" --listen "127.0.0.1:$port" "$@" ${SERVE_ARGS:-} >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    [ -s "$work/$name/endpoint" ] && break
    sleep 0.05
  done
  [ -s "$work/$name/endpoint" ] || { cat "$work/$name.log" >&2; exit 1; }
}

start plain
[ -n "${NO_TLS:-}" ] || start tls --tls self-signed

# Per server: a role, and an IAM user allowed to read it; presigned URLs signed by that user.
prepare() { # prepare NAME -> writes $work/NAME.urls (case URL per line)
  local name=$1
  (
    eval "$("$BIN" env --data-dir "$work/$name")"
    export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    "$PYTHON" - "$name" "$work" <<'PY'
import json, sys, urllib.parse, urllib.request, ssl, os
import boto3, botocore.auth, botocore.awsrequest, botocore.credentials
name, work = sys.argv[1], sys.argv[2]
endpoint = os.environ["AWS_ENDPOINT_URL"]
ca = os.environ.get("AWS_CA_BUNDLE")
iam = boto3.client("iam", verify=ca or True)
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
iam.create_role(RoleName="bench", AssumeRolePolicyDocument=trust)
iam.create_user(UserName="bench")
iam.put_user_policy(UserName="bench", PolicyName="read", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]}))
key = iam.create_access_key(UserName="bench")["AccessKey"]
creds = botocore.credentials.Credentials(key["AccessKeyId"], key["SecretAccessKey"])
ctx = ssl.create_default_context(cafile=ca) if ca else None

def presign(service, params, expect):
    url = endpoint + "/?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    req = botocore.awsrequest.AWSRequest(method="GET", url=url)
    botocore.auth.SigV4QueryAuth(creds, service, "us-east-1", expires=3600).add_auth(req)
    signed = req.prepare().url
    body = urllib.request.urlopen(signed, timeout=10, context=ctx).read().decode()
    assert expect in body, body[:300]
    return signed

with open(f"{work}/{name}.urls", "w") as f:
    f.write("GetCallerIdentity " + presign("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, ":user/bench</Arn>") + "\n")
    f.write("GetRole " + presign("iam", {"Action": "GetRole", "Version": "2010-05-08", "RoleName": "bench"}, "<RoleName>bench</RoleName>") + "\n")
PY
  )
}
prepare plain
[ -n "${NO_TLS:-}" ] || prepare tls

echo "# rolecall API throughput ($(date -u +%Y-%m-%d), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, presigned GET, release build)"
printf '%-20s %-6s %12s %10s %10s %10s\n' case scheme requests/s p50 p99 errors
for name in plain tls; do
  [ -s "$work/$name.urls" ] || continue
  while read -r case url; do
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx or 3xx responses/ {print $5} /Socket errors/ {print $0}' <<<"$out" | tr '\n' ' ')"
    scheme=http
    [ "$name" = tls ] && scheme=https
    printf '%-20s %-6s %12s %10s %10s %10s\n' "$case" "$scheme" "$rps" "$p50" "$p99" "${errors:-0}"
  done <"$work/$name.urls"
done
