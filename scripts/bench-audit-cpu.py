"""The audit trail's cost as server CPU time per request, which (unlike requests/s) does not
depend on what else the machine is running: a release `rolecall serve` with `--audit on` and
`--audit off` in turn, a presigned GetRole signed by an IAM user driven with wrk, and the
server process's utime+stime (/proc/PID/stat) before and after, divided by the requests
served. The "after" reading waits until the audit writer has stored what queued (it flushes
within a second), so deferred writing is counted.

    .venv/bin/python scripts/bench-audit-cpu.py [ROUNDS] [SECONDS]   # run by scripts/bench-audit.sh
    .venv/bin/python scripts/bench-audit-cpu.py [ROUNDS] [SECONDS] --together

With --together, each round runs both servers at once, each driven by its own wrk (one thread,
8 connections): both then meet the same machine, whose speed on this VM drifts by up to 20%
from minute to minute (wrk's own CPU per request moves with it), so the pair's difference is
the audit trail's alone. The two halves of the machine are not the whole machine, so the
requests/s are each server's share; their ratio is the throughput cost.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials

BIN = os.environ.get("ROLECALL_BIN", "target/release/rolecall")
CONNECTIONS = os.environ.get("CONNECTIONS", "16")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def env_of(data):
    out = subprocess.run([BIN, "env", "--data-dir", data], check=True, capture_output=True, text=True).stdout
    return dict(re.findall(r"export (\w+)=['\"]?([^'\"\n]*)", out))


def presigned_get_role(data):
    env = env_of(data)
    kw = dict(endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
              aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    iam = boto3.client("iam", **kw)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_user(UserName="bench")
    iam.put_user_policy(UserName="bench", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="bench")["AccessKey"]
    creds = botocore.credentials.Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    params = {"Action": "GetRole", "Version": "2010-05-08", "RoleName": "bench"}
    req = botocore.awsrequest.AWSRequest(method="GET", url=env["AWS_ENDPOINT_URL"] + "/?" + urllib.parse.urlencode(params))
    botocore.auth.SigV4QueryAuth(creds, "iam", "us-east-1", expires=3600).add_auth(req)
    url = req.prepare().url
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    assert "<RoleName>bench</RoleName>" in body, body[:300]
    return url


class Server:
    """A release `rolecall serve` with `--audit AUDIT` in a data directory of its own, warmed
    up, and the presigned GetRole URL to drive it with."""

    def __init__(self, audit):
        self.work = tempfile.mkdtemp(prefix="rolecall-bench-audit-cpu.")
        data = os.path.join(self.work, "data")
        port = free_port()
        log = open(os.path.join(self.work, "log"), "w")
        self.process = subprocess.Popen(
            [BIN, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--audit", audit],
            stdout=log, stderr=log, env={**os.environ, "RUST_LOG": "warn"})
        try:
            for _ in range(200):
                if os.path.exists(os.path.join(data, "endpoint")) and os.path.getsize(os.path.join(data, "endpoint")):
                    break
                time.sleep(0.05)
            self.url = presigned_get_role(data)
            subprocess.run(["wrk", "-t1", "-c4", "-d1s", self.url], check=True, capture_output=True)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def measure(servers, seconds, threads, connections):
    """Drives each server with a wrk of its own, all at once: (CPU us per request, req/s) each."""
    time.sleep(1.5)
    before = [cpu_seconds(s.process.pid) for s in servers]
    wrks = [subprocess.Popen(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", s.url],
                             stdout=subprocess.PIPE, text=True) for s in servers]
    outs = [w.communicate()[0] for w in wrks]
    assert all(w.returncode == 0 for w in wrks), outs
    time.sleep(1.5)  # the audit writer stores what queued within a second
    after = [cpu_seconds(s.process.pid) for s in servers]
    results = []
    for out, b, a in zip(outs, before, after):
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        assert "Non-2xx" not in out, out
        results.append(((a - b) / requests * 1e6, rps))
    return results


def run(audit, seconds):
    server = Server(audit)
    try:
        return measure([server], seconds, 2, CONNECTIONS)[0]
    finally:
        server.stop()


def run_together(seconds):
    """Both servers at once: {audit: (CPU us per request, req/s)}."""
    servers = {}
    try:
        for audit in ("on", "off"):
            servers[audit] = Server(audit)
        results = measure(list(servers.values()), seconds, 1, int(CONNECTIONS) // 2)
        return dict(zip(servers, results))
    finally:
        for s in servers.values():
            s.stop()


def main():
    args = [a for a in sys.argv[1:] if a != "--together"]
    together = "--together" in sys.argv[1:]
    rounds = int(args[0]) if len(args) > 0 else 3
    seconds = int(args[1]) if len(args) > 1 else 10
    results = {"on": [], "off": []}
    for r in range(rounds):
        if together:
            both = run_together(seconds)
            for audit in ("on", "off"):
                results[audit].append(both[audit])
            (on_us, on_rps), (off_us, off_rps) = both["on"], both["off"]
            print(f"round {r + 1} together: --audit on {on_us:5.1f} us CPU/request ({on_rps:.0f} req/s), "
                  f"off {off_us:5.1f} us ({off_rps:.0f} req/s), load {os.getloadavg()[0]:.1f}", flush=True)
            continue
        # Which server goes first alternates: the machine's own drift falls on both alike.
        for audit in ("on", "off") if r % 2 == 0 else ("off", "on"):
            us, rps = run(audit, seconds)
            results[audit].append((us, rps))
            print(f"round {r + 1} --audit {audit:3}: {us:7.1f} us CPU/request  ({rps:.0f} req/s, load {os.getloadavg()[0]:.1f})", flush=True)

    def median(xs):
        xs = sorted(xs)
        return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2

    on, off = (median(us for us, _ in results[a]) for a in ("on", "off"))
    cpu_pairs = [a[0] / b[0] - 1 for a, b in zip(results["on"], results["off"])]
    print(f"GetRole server CPU per request, median of {rounds}: audit off {off:.1f} us, on {on:.1f} us, "
          f"audit cost {on - off:+.1f} us ({(on - off) / off * 100:+.1f}%); median of the pairwise changes "
          f"{median(cpu_pairs) * 100:+.1f}% (pairs: {' '.join(f'{p * 100:+.0f}' for p in cpu_pairs)})")
    # Throughput: each round's on/off pair (run back to back) compared, then the median; a
    # single pair moves by +-10% with this machine's other load.
    pairs = [a[1] / b[1] - 1 for a, b in zip(results["on"], results["off"])]
    rps_on, rps_off = (median(rps for _, rps in results[a]) for a in ("on", "off"))
    print(f"GetRole requests/s, median of {rounds}: audit off {rps_off:.0f}, on {rps_on:.0f} ({(rps_on / rps_off - 1) * 100:+.1f}%); "
          f"median of the pairwise changes {median(pairs) * 100:+.1f}% "
          f"(pairs: {' '.join(f'{p * 100:+.0f}' for p in pairs)})")


if __name__ == "__main__":
    main()
