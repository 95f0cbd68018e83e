"""Fixtures that run a real `rolecall serve` on 127.0.0.1 and point real AWS clients at it."""

import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
BINARY = Path(os.environ.get("ROLECALL_BIN", TARGET_DIR / "debug" / "rolecall"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A rolecall process with its own data directory."""

    def __init__(self, data_dir: Path, extra_args=(), imds=False, database_url=None):
        self.data_dir = data_dir
        # With a PostgreSQL URL the state is there; the data dir keeps the key ring.
        self.global_args = ["--database-url", database_url] if database_url else []
        self.port = free_port()
        self.imds_port = free_port() if imds else None
        self.extra_args = list(extra_args)
        if imds:
            self.extra_args += ["--imds-listen", f"127.0.0.1:{self.imds_port}"]
        self.proc = None
        self.log = data_dir.parent / f"{data_dir.name}.log"

    def start(self):
        assert BINARY.exists(), f"{BINARY} not built: run `cargo build` first"
        self.proc = subprocess.Popen(
            [str(BINARY), *self.global_args, "serve", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}", *self.extra_args],
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"rolecall exited: {self.log.read_text()}")
                time.sleep(0.05)
        raise RuntimeError("rolecall did not start listening")

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
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        for line in out.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                env[k] = v
        env["AWS_CONFIG_FILE"] = "/dev/null"
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
        env["AWS_PAGER"] = ""
        return env

    def exec_env(self, instance_id: str) -> dict:
        """The environment `rolecall exec INSTANCE` gives its command (read back with env)."""
        out = subprocess.run(
            [str(BINARY), *self.global_args, "exec", "--data-dir", str(self.data_dir), instance_id, "--", "env"],
            check=True, capture_output=True, text=True,
        ).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def exec(self, instance_id: str, *command, check=True):
        p = subprocess.run(
            [str(BINARY), *self.global_args, "exec", "--data-dir", str(self.data_dir), instance_id, "--", *command],
            capture_output=True, text=True,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"exec {command} failed ({p.returncode}): {p.stderr}")
        return p

    @property
    def imds(self) -> str:
        return f"http://127.0.0.1:{self.imds_port}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("rolecall") / "data").start()
    yield s
    s.stop()


@pytest.fixture
def database_url():
    """A fresh PostgreSQL database (the suite runs under scripts/with-postgres.sh)."""
    base = os.environ.get("ROLECALL_TEST_DATABASE_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("ROLECALL_TEST_DATABASE_URL is not set: CI must run the e2e suite under scripts/with-postgres.sh")
        pytest.skip("ROLECALL_TEST_DATABASE_URL is not set (run under scripts/with-postgres.sh for the PostgreSQL tests)")
    name = "e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    yield base.rsplit("/", 1)[0] + "/" + name
    subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


@pytest.fixture(scope="session")
def imds_server(tmp_path_factory):
    """A server with IMDS; instances get 127.88.x.y addresses so tests can act as them."""
    s = Server(tmp_path_factory.mktemp("imds") / "data", imds=True, extra_args=["--instance-cidr", "127.88.0.0/16"]).start()
    yield s
    s.stop()


@pytest.fixture
def fresh_server(tmp_path):
    s = Server(tmp_path / "data").start()
    yield s
    s.stop()


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


@pytest.fixture
def cli(server, tmp_path):
    return Cli(server, tmp_path)


def client_for(server: Server, service: str, **kw):
    env = server.env()
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=kw.pop("key", env["AWS_ACCESS_KEY_ID"]),
        aws_secret_access_key=kw.pop("secret", env["AWS_SECRET_ACCESS_KEY"]),
        **kw,
    )


@pytest.fixture
def iam(server):
    return client_for(server, "iam")


@pytest.fixture
def ec2(server):
    return client_for(server, "ec2")


@pytest.fixture
def sts(server):
    return client_for(server, "sts")


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


# ----- helpers shared by the boto3 tests -----

def aws_error(fn, *args, **kwargs):
    """Calls a boto3 operation that must fail; returns (error code, HTTP status, message)."""
    from botocore.exceptions import ClientError

    try:
        out = fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Message", "")
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
