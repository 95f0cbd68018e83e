#!/usr/bin/env bash
# Throughput of signed API requests against a release `rolecall serve`, over plain HTTP and over
# TLS (--tls self-signed), measured with wrk (installed with apt when missing) driving
# SigV4-presigned GET requests (the Query protocol accepts GET) on keep-alive connections.
#
#   scripts/bench-api.sh            # 10 s per case, 16 connections, 2 wrk threads
#   DURATION=30 CONNECTIONS=64 scripts/bench-api.sh
#   SERVE_ARGS="--audit off" NO_TLS=1 scripts/bench-api.sh   # extra serve flags; HTTP only
#
# Cases: STS GetCallerIdentity, IAM GetRole, STS AssumeRole and EC2 DescribeInstances (100 per
# page), all signed by an IAM user (SigV4, the user's policies evaluated), each over HTTP and
# HTTPS; and the same requests against moto's server (installed into .venv-moto; MOTO=0 skips
# it) as the reference peer, with the ratio of requests/s. Every presigned URL is first
# fetched once and its answer checked (an answer of the wrong shape fails the run), so the
# figures are for real answers. Load generator and server share this machine's cores; results
# go to stdout (copy them to docs/benchmarks.md with the machine and date). The `cpu-us/req`
# column is the server's own CPU time (utime+stime from /proc/PID/stat across the run) divided by
# the requests wrk completed: unlike requests/s it hardly moves with other load on the machine.
#   CASES="GetRole AssumeRole"    only these cases; SKIP_BUILD=1 uses the built binary (or BIN=path)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"

command -v wrk >/dev/null 2>&1 || scripts/apt-install.sh bench-api wrk
PYTHON=python3
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python
"$PYTHON" -c 'import botocore' 2>/dev/null || "$PYTHON" -m pip install -q -r tests/requirements.txt

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p rolecall
BIN="${BIN:-target/release/rolecall}"
work="$(mktemp -d /tmp/rolecall-bench-api.XXXXXX)"
pids=()
declare -A server_pid
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
  server_pid[$name]=$!
  for _ in $(seq 200); do
    [ -s "$work/$name/endpoint" ] && break
    sleep 0.05
  done
  [ -s "$work/$name/endpoint" ] || { cat "$work/$name.log" >&2; exit 1; }
}

start plain
[ -n "${NO_TLS:-}" ] || start tls --tls self-signed

# Per server: a role, a role the user may assume, 100 instances, and an IAM user allowed to
# read, assume and describe them; presigned URLs signed by that user. Every URL's answer is
# checked before it is measured.
prepare() { # prepare NAME -> writes $work/NAME.urls (case URL per line)
  local name=$1
  (
    eval "$("$BIN" env --data-dir "$work/$name")"
    export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    "$PYTHON" - "$name" "$work" <<'PY'
import json, sys, urllib.parse, urllib.request, ssl, os
import boto3, botocore.auth, botocore.awsrequest, botocore.credentials
from cases import CASES
name, work = sys.argv[1], sys.argv[2]
endpoint = os.environ["AWS_ENDPOINT_URL"]
ca = os.environ.get("AWS_CA_BUNDLE")
iam = boto3.client("iam", verify=ca or True)
ec2 = boto3.client("ec2", verify=ca or True)
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
iam.create_role(RoleName="bench", AssumeRolePolicyDocument=trust)
user = iam.create_user(UserName="bench")["User"]
iam.put_user_policy(UserName="bench", PolicyName="read", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:GetRole", "sts:AssumeRole", "ec2:DescribeInstances"], "Resource": "*"}]}))
assumable = iam.create_role(RoleName="assumable", AssumeRolePolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}]}))["Role"]
ec2.run_instances(ImageId="ami-11aa22bb", MinCount=100, MaxCount=100)
key = iam.create_access_key(UserName="bench")["AccessKey"]
creds = botocore.credentials.Credentials(key["AccessKeyId"], key["SecretAccessKey"])
ctx = ssl.create_default_context(cafile=ca) if ca else None

def presign(service, params, check):
    url = endpoint + "/?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    req = botocore.awsrequest.AWSRequest(method="GET", url=url)
    botocore.auth.SigV4QueryAuth(creds, service, "us-east-1", expires=3600).add_auth(req)
    signed = req.prepare().url
    body = urllib.request.urlopen(signed, timeout=10, context=ctx).read().decode()
    assert check(body), body[:300]
    return signed

with open(f"{work}/{name}.urls", "w") as f:
    for case, service, params, check in CASES(assumable["Arn"]):
        f.write(f"{case} {presign(service, params, check)}\n")
PY
  )
}

# The measured requests and how each answer is checked (shared with the moto peer).
cat >"$work/cases.py" <<'PY'
def CASES(role_arn):
    return [
        ("GetCallerIdentity", "sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
         lambda b: ":user/bench</Arn>" in b),
        ("GetRole", "iam", {"Action": "GetRole", "Version": "2010-05-08", "RoleName": "bench"},
         lambda b: "<RoleName>bench</RoleName>" in b),
        ("AssumeRole", "sts", {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role_arn,
                               "RoleSessionName": "bench"},
         lambda b: "<AccessKeyId>" in b and ":assumed-role/assumable/bench</Arn>" in b),
        ("DescribeInstances100", "ec2", {"Action": "DescribeInstances", "Version": "2016-11-15",
                                         "MaxResults": "100"},
         lambda b: b.count("<instanceId>") == 100),
    ]
PY
export PYTHONPATH="$work"

cpu_ticks() { # cpu_ticks PID -> utime+stime in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

run_case() { # run_case URL [HEADER] [SERVER_PID] -> "rps p50 p99 errors cpu-us/req"
  local url=$1 header=${2:-} spid=${3:-}
  local out before=0
  [ -n "$spid" ] && before="$(cpu_ticks "$spid")"
  if [ -n "$header" ]; then
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "$header" "$url")"
  else
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")"
  fi
  local rps p50 p99 errors
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx or 3xx responses/ {print $5} /Socket errors/ {print "socket"}' <<<"$out" | tr '\n' ',')"
  local cpu=-
  if [ -n "$spid" ]; then
    local ticks requests
    ticks=$(($(cpu_ticks "$spid") - before))
    requests="$(awk '/requests in/ {print $1}' <<<"$out")"
    cpu="$(echo "scale=1; $ticks * 1000000 / $(getconf CLK_TCK) / $requests" | bc)"
  fi
  echo "$rps $p50 $p99 ${errors:-0} $cpu"
}

prepare plain
[ -n "${NO_TLS:-}" ] || prepare tls

# moto's server as the reference peer (MOTO=0 skips it). moto verifies no signatures and picks
# the service from the Authorization header's credential scope, so its requests carry a
# (static) Authorization header naming the service; their answers are checked the same way.
declare -A moto_rps
if [ "${MOTO:-1}" != 0 ]; then
  MOTO_VENV="${MOTO_VENV:-.venv-moto}"
  [ -x "$MOTO_VENV/bin/moto_server" ] || {
    python3 -m venv "$MOTO_VENV" && "$MOTO_VENV/bin/pip" install -q 'moto[server]' boto3
  }
  mport="$(free_port)"
  "$MOTO_VENV/bin/moto_server" -p "$mport" >"$work/moto.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$mport/" && break; sleep 0.05; done
  "$MOTO_VENV/bin/python" - "http://127.0.0.1:$mport" "$work" <<'PY'
import json, sys, urllib.parse, urllib.request
import boto3
from cases import CASES
endpoint, work = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
          aws_secret_access_key="x" * 40)
iam, ec2 = boto3.client("iam", **kw), boto3.client("ec2", **kw)
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
iam.create_role(RoleName="bench", AssumeRolePolicyDocument=trust)
iam.create_user(UserName="bench")
role = iam.create_role(RoleName="assumable", AssumeRolePolicyDocument=trust)["Role"]
ec2.run_instances(ImageId="ami-11aa22bb", MinCount=100, MaxCount=100)
with open(f"{work}/moto.urls", "w") as f:
    for case, service, params, check in CASES(role["Arn"]):
        url = endpoint + "/?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        header = (f"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/"
                  f"{service}/aws4_request, SignedHeaders=host, Signature=" + "0" * 64)
        req = urllib.request.Request(url, headers=dict([header.split(": ", 1)]))
        body = urllib.request.urlopen(req, timeout=10).read().decode()
        if case == "GetCallerIdentity":  # moto's caller is its own default user
            check = lambda b: "<GetCallerIdentityResult>" in b and "<Arn>arn:aws:" in b
        if not check(body):
            print(f"moto {case}: unexpected answer: {body[:300]}", file=sys.stderr)
            continue
        f.write(f"{case}\t{url}\t{header}\n")
PY
fi

echo "# rolecall API throughput ($(date -u +%Y-%m-%d), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, presigned GET, release build, load average $(cut -d' ' -f1-3 /proc/loadavg))"
if [ -s "$work/moto.urls" ]; then
  while IFS=$'\t' read -r case url header; do
    if [ -n "${CASES:-}" ] && [[ " $CASES " != *" $case "* ]]; then continue; fi
    read -r rps p50 p99 errors _ < <(run_case "$url" "$header")
    moto_rps[$case]=$rps
    printf '%-22s %-8s %12s %10s %10s %10s\n' "$case" moto "$rps" "$p50" "$p99" "$errors"
  done <"$work/moto.urls"
fi
printf '%-22s %-8s %12s %10s %10s %10s %11s %s\n' case peer requests/s p50 p99 errors cpu-us/req "ratio to moto"
for name in plain tls; do
  [ -s "$work/$name.urls" ] || continue
  while read -r case url; do
    if [ -n "${CASES:-}" ] && [[ " $CASES " != *" $case "* ]]; then continue; fi
    read -r rps p50 p99 errors cpu < <(run_case "$url" "" "${server_pid[$name]}")
    scheme=http
    [ "$name" = tls ] && scheme=https
    ratio=""
    if [ -n "${moto_rps[$case]:-}" ]; then
      ratio="$(echo "scale=1; $rps / ${moto_rps[$case]}" | bc)x"
    fi
    printf '%-22s %-8s %12s %10s %10s %10s %11s %s\n' "$case" "$scheme" "$rps" "$p50" "$p99" "$errors" "$cpu" "$ratio"
  done <"$work/$name.urls"
done
