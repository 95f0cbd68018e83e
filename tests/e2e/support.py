"""The e2e suite's one helper module: processes (`rolecall serve`, `rolecall agent`), clients,
policy documents, builders, and the "must fail" / "eventually" checks. Fixtures are in
conftest.py; tests import helpers from here."""

import datetime
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections import namedtuple
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
BINARY = Path(os.environ.get("ROLECALL_BIN", TARGET_DIR / "debug" / "rolecall"))

# ----- policy documents -----

TRUST_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
TRUST_LAMBDA = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
ALLOW_S3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
AGENT_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["rolecall:GetChangeGeneration", "rolecall:DescribeInstanceIdentities"], "Resource": "*"}]})
AMI = "ami-11aa22bb"
# The AWS user guide's files, byte for byte (the walkthrough writes them and passes file://).
WALKTHROUGH_TRUST = '{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole" } ] }'
WALKTHROUGH_ACCESS = '{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"] } ] }'


def doc(*statements) -> str:
    """A policy document (JSON text) with these statements."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


# ----- processes -----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc, port: int, log: Path, what: str, timeout: float = 60):
    """Waits until `proc` accepts connections on 127.0.0.1:`port` (fails if it exits)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited ({proc.returncode}): {log.read_text()}")
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening within {timeout}s: {log.read_text()}")


def log_text(path: Path) -> str:
    """A process's log without terminal colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", path.read_text())


def clean_env(**extra) -> dict:
    """This process's environment without any AWS_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


class Server:
    """A `rolecall serve` process with its own data directory (and PostgreSQL database, if given)."""

    def __init__(self, data_dir: Path, extra_args=(), imds=False, database_url=None):
        self.data_dir = data_dir
        self.database_url = database_url
        # With a PostgreSQL URL the state is there; the data dir keeps the key ring.
        self.global_args = ["--database-url", database_url] if database_url else []
        self.port = free_port()
        self.imds_port = free_port() if imds else None
        self.extra_args = list(extra_args)
        if imds:
            self.extra_args += ["--imds-listen", f"127.0.0.1:{self.imds_port}"]
        self.proc = None
        self.log = data_dir.parent / f"{data_dir.name}.log"

    def command(self):
        return [str(BINARY), *self.global_args, "serve", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}", *self.extra_args]

    def start(self):
        assert BINARY.exists(), f"{BINARY} not built: run `cargo build` first"
        self.proc = subprocess.Popen(self.command(), stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_listening(self.proc, self.port, self.log, "rolecall serve")
        return self

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=10)

    def env(self) -> dict:
        """The environment `eval "$(rolecall env)"` produces, on top of a clean one."""
        out = subprocess.run(
            [str(BINARY), *self.global_args, "env", "--data-dir", str(self.data_dir)], check=True, capture_output=True, text=True
        ).stdout
        env = clean_env()
        for line in out.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                env[k] = v
        # `rolecall env` names the last node started on this data dir; this one is meant.
        env["AWS_ENDPOINT_URL"] = self.endpoint
        env["AWS_CONFIG_FILE"] = "/dev/null"
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
        env["AWS_PAGER"] = ""
        return env

    def exec_command(self, instance_id: str, imds_endpoint=None) -> list:
        """`rolecall exec [--imds-endpoint local|path] INSTANCE --` (the command to run follows)."""
        mode = ["--imds-endpoint", imds_endpoint] if imds_endpoint else []
        return [str(BINARY), *self.global_args, "exec", "--data-dir", str(self.data_dir), *mode, instance_id, "--"]

    def exec_env(self, instance_id: str, env=None, imds_endpoint="path") -> dict:
        """The environment `rolecall exec INSTANCE` gives its command (read back with env), run
        from a parent with the environment `env` (default: this process's). By default the
        path form, whose IMDS URL stays usable after exec has ended (the local endpoint lives
        only as long as exec)."""
        out = subprocess.run([*self.exec_command(instance_id, imds_endpoint), "env"], check=True, capture_output=True, text=True, env=env).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def exec(self, instance_id: str, *command, check=True):
        p = subprocess.run([*self.exec_command(instance_id), *command], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"exec {command} failed ({p.returncode}): {p.stderr}")
        return p

    def log_text(self) -> str:
        return log_text(self.log)

    def account(self) -> str:
        """The account id the server announced in its start-up log line (independent of any API)."""
        found = re.findall(r"account=(\d{12})", self.log_text())
        assert found, f"no account in {self.log}"
        return found[-1]

    @property
    def imds(self) -> str:
        return f"http://127.0.0.1:{self.imds_port}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Agent:
    """A `rolecall agent` process authenticating with an IAM user's access key."""

    def __init__(self, server: str, key: dict, log: Path, extra_args=()):
        self.port = free_port()
        self.status_port = free_port()
        self.server = server
        self.key = key
        self.log = log
        self.extra_args = list(extra_args)
        self.proc = None

    def start(self):
        env = clean_env(AWS_ACCESS_KEY_ID=self.key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=self.key["SecretAccessKey"])
        self.proc = subprocess.Popen(
            [str(BINARY), "agent", "--server", self.server, "--imds-listen", f"127.0.0.1:{self.port}", "--status-listen", f"127.0.0.1:{self.status_port}", *self.extra_args],
            env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
        )
        wait_listening(self.proc, self.port, self.log, "rolecall agent")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def get(self, ip, path, headers=None, method="GET"):
        return bound_get(ip, f"http://127.0.0.1:{self.port}{path}", headers, method)


# ----- PostgreSQL databases (the suite runs under scripts/with-postgres.sh) -----


def own_server(tmp_path_factory, name, extra_args=(), **kw):
    """A server of a module's own (data in a fresh `name` directory), for a fixture to
    `yield from`: started before, stopped after."""
    s = Server(tmp_path_factory.mktemp(name) / "data", extra_args=extra_args, **kw).start()
    yield s
    s.stop()


def postgres_base_url():
    return os.environ.get("ROLECALL_TEST_DATABASE_URL") or None


def create_database(base: str) -> str:
    """A new empty database on the server of `base`; returns its URL."""
    name = "e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return base.rsplit("/", 1)[0] + "/" + name


def drop_database(base: str, url: str):
    name = url.rsplit("/", 1)[1]
    subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


# ----- clients -----


class Cli:
    """Runs the real `aws` CLI with the environment of `rolecall env`."""

    def __init__(self, server: Server, cwd: Path):
        self.env = server.env()
        self.cwd = cwd

    def run(self, *args, check=True):
        p = subprocess.run(["aws", *args, "--output", "json"], env=self.env, cwd=self.cwd, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def json(self, *args):
        out = self.run(*args).stdout
        return json.loads(out) if out.strip() else None

    def error(self, *args) -> str:
        """Runs a command that must fail and returns its stderr."""
        p = self.run(*args, check=False)
        assert p.returncode != 0, f"aws {' '.join(args)} unexpectedly succeeded: {p.stdout}"
        return p.stderr


def client_for(server: Server, service: str, **kw):
    """A boto3 client for `server`, as the account root unless key/secret are given, in the
    server's region unless `region` is."""
    env = server.env()
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name=kw.pop("region", env["AWS_DEFAULT_REGION"]),
        aws_access_key_id=kw.pop("key", env["AWS_ACCESS_KEY_ID"]),
        aws_secret_access_key=kw.pop("secret", env["AWS_SECRET_ACCESS_KEY"]),
        **kw,
    )


def creds_kw(creds: dict) -> dict:
    """client_for arguments for temporary credentials (IMDS's or AssumeRole's)."""
    return dict(
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken") or creds.get("Token"),
    )


Refused = namedtuple("Refused", "code status message")


def aws_error(fn, *args, **kwargs) -> Refused:
    """Calls a boto3 operation that must fail with an AWS error; returns (code, status, message).
    Succeeding, or failing any other way (connection, parsing), fails the test."""
    try:
        out = fn(*args, **kwargs)
    except ClientError as e:
        return Refused(e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Message", ""))
    raise AssertionError(f"{getattr(fn, '__name__', fn)} unexpectedly succeeded: {str(out)[:300]}")


class RawBodies:
    """Records the raw HTTP response bodies a boto3 client receives, by operation name."""

    def __init__(self, client):
        self.bodies = {}
        client.meta.events.register("before-parse", self._record)

    def _record(self, operation_model, response_dict, **_):
        self.bodies[operation_model.name] = response_dict["body"]

    def last(self, operation: str) -> str:
        return self.bodies[operation].decode()


# ----- builders -----

RoleProfile = namedtuple("RoleProfile", "role profile instance_profile role_arn")


def role_with_profile(iam, trust=TRUST_EC2, path=None) -> RoleProfile:
    """A role (trusting EC2 by default) in an instance profile of its own."""
    role = unique("role")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    profile = unique("profile")
    p = iam.create_instance_profile(InstanceProfileName=profile, **({"Path": path} if path else {}))["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    return RoleProfile(role, profile, p, arn)


def make_role(iam, name=None, path=None, trust=TRUST_EC2, **kw):
    """A role (trusting EC2 by default); returns CreateRole's Role."""
    args = {"RoleName": name or unique("role"), "AssumeRolePolicyDocument": trust, **kw}
    if path:
        args["Path"] = path
    return iam.create_role(**args)["Role"]


def iam_pages(call, max_pages=100, **params):
    """Every page of an IAM list `call`, following its Marker: a truncated page carries one, the
    last page none."""
    marker = None
    for _ in range(max_pages):
        page = call(**params, **({"Marker": marker} if marker else {}))
        yield page
        if not page["IsTruncated"]:
            assert "Marker" not in page
            return
        marker = page["Marker"]
        assert marker
    raise AssertionError(f"more than {max_pages} pages")


def other_account(account: str) -> str:
    """A 12-digit account id that is certainly not `account`."""
    return "999999999999" if account != "999999999999" else "888888888888"


def launch(ec2, profile=None, **kw):
    """One instance (with the instance profile `profile`, if given)."""
    args = dict(ImageId=AMI, MinCount=1, MaxCount=1, **kw)
    if profile:
        args["IamInstanceProfile"] = {"Name": profile}
    return ec2.run_instances(**args)["Instances"][0]


def assert_recent(ts, within=600):
    """`ts` (a datetime, or ISO 8601 text as the CLI prints it) is timezone-aware and close to now."""
    if isinstance(ts, str):
        ts = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    assert isinstance(ts, datetime.datetime) and ts.tzinfo is not None, ts
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - ts).total_seconds()) < within, ts


# ----- IMDS and waiting -----


def bound_get(src_ip, url, headers=None, method="GET", body=b""):
    """An HTTP request from a chosen loopback source address (like an instance's private IP)."""
    host, port = url.split("/")[2].split(":")
    path = "/" + url.split("/", 3)[3]
    with socket.create_connection((host, int(port)), source_address=(src_ip, 0), timeout=10) as s:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, body.decode()


# Only catches a hang: how fast changes propagate is measured by benchmarks
# (docs/benchmarks.md), never asserted by tests on a shared, loaded machine.
HANG = 60.0


def eventually(check, what: str, timeout: float = HANG, retry_on=(ClientError,)):
    """Polls `check` until it returns truthy (exceptions in `retry_on` count as not yet);
    fails after `timeout` seconds. Returns the seconds it took."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except retry_on:
            pass
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.02)
