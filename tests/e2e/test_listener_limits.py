"""One caller cannot take the API or IMDS down for the others: idle and half-sent connections,
floods from one source, request rates (issue #9, item 2). Every flood here is bounded in count
and goes to 127.0.0.0/8 only."""

import json
import resource
import socket
import subprocess
import time
import urllib.request

import boto3
import pytest

from support import BINARY, free_port, unique

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

# The server runs with a descriptor limit far below what the flood would need, so only the
# connection caps stand between the flood and "accept failed: Too many open files".
SERVER_FD_LIMIT = 1024
FLOOD_SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
FLOOD_PER_SOURCE = 700  # 2,100 connections per listener: more than the descriptor limit


class LimitedServer:
    def __init__(self, tmp_path, *args):
        self.data = tmp_path / "data"
        self.port, self.imds_port = free_port(), free_port()
        self.log = open(tmp_path / "server.log", "wb")

        def low_fd_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FD_LIMIT, SERVER_FD_LIMIT))

        self.proc = subprocess.Popen(
            [str(BINARY), "serve", "--data-dir", str(self.data), "--listen", f"127.0.0.1:{self.port}",
             "--imds-listen", f"127.0.0.1:{self.imds_port}", *args],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=low_fd_limit,
        )
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None, (tmp_path / "server.log").read_text()
                assert time.time() < deadline, "server did not start"
                time.sleep(0.05)
        env = dict(line[len("export "):].split("=", 1) for line in subprocess.run(
            [str(BINARY), "env", "--data-dir", str(self.data)], check=True, capture_output=True, text=True,
        ).stdout.splitlines() if line.startswith("export "))
        self.creds = dict(aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

    def client(self, service):
        return boto3.client(service, endpoint_url=f"http://127.0.0.1:{self.port}", **self.creds)

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


def instance_with_role(server):
    """A running instance with a role, and the dev-path IMDS URL of its credentials."""
    iam, ec2 = server.client("iam"), server.client("ec2")
    role, profile = unique("role"), unique("profile")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    inst = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile})["Instances"][0]["InstanceId"]
    env = dict(line.split("=", 1) for line in subprocess.run(
        [str(BINARY), "exec", "--data-dir", str(server.data), "--imds-endpoint", "path", inst, "--", "env"], check=True, capture_output=True, text=True,
    ).stdout.splitlines() if "=" in line)
    return role, env["AWS_EC2_METADATA_SERVICE_ENDPOINT"].rstrip("/") + "/latest/meta-data/iam/security-credentials/" + role


def flood(port, sources, per_source, payload=b""):
    """Opens idle connections (optionally sending a partial request) from each source address."""
    conns = []
    for src in sources:
        for _ in range(per_source):
            s = socket.socket()
            s.bind((src, 0))
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", port))
                if payload:
                    s.sendall(payload)
            except OSError:
                # The listen backlog is full: the server has stopped accepting.
                s.close()
                break
            conns.append(s)
    return conns


def wait_for_open_at_most(conns, bound, deadline_s=60):
    """Waits until at most `bound` of `conns` remain open (the server closes the rest as it
    accepts them); the deadline only catches a server that never does."""
    deadline = time.time() + deadline_s
    while True:
        still_open = len(conns) - closed_by_server(conns)
        if still_open <= bound:
            return still_open
        assert time.time() < deadline, f"{still_open} connections still open, expected at most {bound}"
        time.sleep(0.1)


def closed_by_server(conns):
    """How many of these connections the server has closed (EOF or reset)."""
    n = 0
    for s in conns:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                n += 1
        except BlockingIOError:
            pass
        except OSError:
            n += 1
    return n


@pytest.fixture
def limited(tmp_path):
    s = LimitedServer(
        tmp_path,
        "--api-max-connections", "400", "--api-max-connections-per-source", "100",
        "--imds-max-connections", "400", "--imds-max-connections-per-source", "50",
    )
    yield s
    s.stop()


def test_idle_floods_do_not_starve_legitimate_clients(limited):
    role, creds_url = instance_with_role(limited)
    conns = []
    try:
        # Idle connections and half-sent requests (a request line and part of a header, never
        # finished) from several sources, to both listeners at once.
        partial = b"GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\nX-Slow: "
        conns += flood(limited.port, FLOOD_SOURCES, FLOOD_PER_SOURCE)
        conns += flood(limited.imds_port, FLOOD_SOURCES, FLOOD_PER_SOURCE, payload=partial)
        assert len(conns) > SERVER_FD_LIMIT  # the kernel accepted them all into the backlog or the server
        # Each source keeps at most its cap open; the rest were closed at once.
        wait_for_open_at_most(conns, len(FLOOD_SOURCES) * (100 + 50))
        # Legitimate clients, from another address, are still answered: the API...
        roles = limited.client("iam").list_roles()["Roles"]
        assert role in [r["RoleName"] for r in roles]
        # ...and IMDS.
        with urllib.request.urlopen(creds_url, timeout=10) as r:
            assert json.loads(r.read())["Code"] == "Success"
        # The server never ran out of descriptors.
        log = limited.log.name
    finally:
        for s in conns:
            s.close()
    text = open(log, "rb").read().decode(errors="replace")
    assert "Too many open files" not in text
    assert "connection refused: too many open connections" in text


def test_one_source_cannot_take_every_connection(limited):
    _, creds_url = instance_with_role(limited)
    conns = flood(limited.imds_port, ["127.0.0.5"], 1500) + flood(limited.port, ["127.0.0.5"], 1500)
    try:
        wait_for_open_at_most(conns, 50 + 100)
        with urllib.request.urlopen(creds_url, timeout=10) as r:
            assert r.status == 200
        limited.client("sts").get_caller_identity()
    finally:
        for s in conns:
            s.close()


def test_half_sent_requests_are_closed(tmp_path):
    s = LimitedServer(tmp_path, "--header-read-timeout", "2")
    try:
        partial = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
        for port in (s.port, s.imds_port):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(partial)
            idle = socket.create_connection(("127.0.0.1", port))
            # The server closes both (a generous bound only catches a server that never does).
            for conn in (c, idle):
                conn.settimeout(30)
                try:
                    data = conn.recv(4096)
                except ConnectionResetError:
                    data = b""
                assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
                conn.close()
    finally:
        s.stop()


def test_imds_rate_per_source(tmp_path):
    s = LimitedServer(tmp_path, "--imds-rate-per-source", "10")
    try:
        _, creds_url = instance_with_role(s)
        path = creds_url.split(f":{s.imds_port}", 1)[1]
        statuses = []
        c = socket.create_connection(("127.0.0.1", s.imds_port))
        f = c.makefile("rb")
        for _ in range(60):
            c.sendall(f"GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n".encode())
            status = int(f.readline().split()[1])
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)
            statuses.append(status)
        c.close()
        # A burst of twice the rate is served, then the source is throttled with 429...
        assert statuses[:20] == [200] * 20, statuses
        assert 429 in statuses[20:], statuses
        # ...while another source is not.
        other = socket.socket()
        other.bind(("127.0.0.6", 0))
        other.connect(("127.0.0.1", s.imds_port))
        other.sendall(f"GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n".encode())
        assert other.makefile("rb").readline().split()[1] == b"200"
        other.close()
    finally:
        s.stop()
