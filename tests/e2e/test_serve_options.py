"""The README's claims about `rolecall serve` itself: the first start (data directory, master.key,
account, root key; reused later), `--imds-identify source-ip` and `path` on their own,
`--credential-lifetime` / `--credential-refresh` (and the 1800 s rule), and `--auth off`'s
warning."""

import datetime
import json
import re
import stat
import subprocess
import urllib.error
import urllib.request

import pytest

from support import eventually, BINARY, Server, bound_get, clean_env, client_for, free_port, launch, log_text, role_with_profile, wait_listening


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def env_of(data_dir) -> dict:
    out = subprocess.run([str(BINARY), "env", "--data-dir", str(data_dir)], check=True, capture_output=True, text=True).stdout
    return dict(line[len("export "):].split("=", 1) for line in out.splitlines() if line.startswith("export "))


def test_first_start_creates_the_deployment_and_later_starts_reuse_it(tmp_path):
    # No --data-dir: $XDG_DATA_HOME/rolecall.
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    data = xdg / "rolecall"
    port = free_port()
    log = tmp_path / "first.log"
    env = clean_env(XDG_DATA_HOME=str(xdg), HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([str(BINARY), "serve", "--listen", f"127.0.0.1:{port}"], env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    try:
        wait_listening(proc, port, log, "rolecall serve")
        # The start-up line follows the bind: wait for it before stopping the server.
        eventually(lambda: "account=" in log_text(log), "the start-up log line")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert data.is_dir()
    assert mode(data) == 0o700, oct(mode(data))
    key = data / "master.key"
    assert mode(key) == 0o600, oct(mode(key))
    keys = [line for line in key.read_text().splitlines() if line and not line.startswith("#")]
    assert len(keys) == 1 and re.fullmatch(r"\d+ [0-9a-f]{64}", keys[0]), "one `<id> <hex key>` line"
    assert (data / "rolecall.db").is_file()
    account = re.findall(r"account=(\d{12})", log_text(log))
    assert len(account) == 1, log_text(log)
    first = env_of(data)
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", first["AWS_ACCESS_KEY_ID"]) and len(first["AWS_SECRET_ACCESS_KEY"]) == 40

    # A later start reuses all of it: same key ring, account and root key, which works.
    key_before = key.read_text()
    s = Server(data).start()
    try:
        assert key.read_text() == key_before and mode(key) == 0o600
        assert env_of(data) == {**first, "AWS_ENDPOINT_URL": s.endpoint}
        assert s.account() == account[0]
        assert client_for(s, "sts").get_caller_identity()["Account"] == account[0]
    finally:
        s.stop()

    # A key ring others can read is refused.
    key.chmod(0o644)
    p = subprocess.run([str(BINARY), "env", "--data-dir", str(data)], capture_output=True, text=True)
    assert p.returncode != 0 and "chmod 600" in p.stderr, p.stderr


def credentials_path_url(server, instance_id, role):
    """The dev-path (`rolecall exec`) URL of an instance's credentials."""
    return server.exec_env(instance_id)["AWS_EC2_METADATA_SERVICE_ENDPOINT"] + f"latest/meta-data/iam/security-credentials/{role}"


def get_status(url) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture
def identify_servers(tmp_path):
    started = []

    def start(identify, cidr):
        s = Server(tmp_path / identify, imds=True, extra_args=["--imds-identify", identify, "--instance-cidr", cidr]).start()
        started.append(s)
        iam, ec2 = client_for(s, "iam"), client_for(s, "ec2")
        role, profile, *_ = role_with_profile(iam)
        inst = launch(ec2, profile)
        return s, role, inst

    yield start
    for s in started:
        s.stop()


def test_imds_identify_source_ip_only(identify_servers):
    s, role, inst = identify_servers("source-ip", "127.86.0.0/16")
    path = f"/latest/meta-data/iam/security-credentials/{role}"
    status, body = bound_get(inst["PrivateIpAddress"], s.imds + path)
    assert status == 200 and json.loads(body)["Code"] == "Success", body
    # The dev path prefix identifies nobody (from an address that is no instance's).
    assert get_status(credentials_path_url(s, inst["InstanceId"], role)) == 404
    # ...not even from the instance's own address: the prefix is not a path AWS has.
    dev = credentials_path_url(s, inst["InstanceId"], role)
    assert bound_get(inst["PrivateIpAddress"], dev)[0] == 404


def test_imds_identify_path_only(identify_servers):
    s, role, inst = identify_servers("path", "127.85.0.0/16")
    url = credentials_path_url(s, inst["InstanceId"], role)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert json.loads(r.read())["Code"] == "Success"
    # The source address identifies nobody, even the instance's own.
    status, _ = bound_get(inst["PrivateIpAddress"], s.imds + f"/latest/meta-data/iam/security-credentials/{role}")
    assert status == 404
    assert bound_get(inst["PrivateIpAddress"], s.imds + "/latest/meta-data/instance-id")[0] == 404


def test_credential_lifetime_option(tmp_path):
    s = Server(tmp_path / "data", imds=True, extra_args=["--credential-lifetime", "3600", "--credential-refresh", "1800"]).start()
    try:
        iam, ec2 = client_for(s, "iam"), client_for(s, "ec2")
        role, profile, *_ = role_with_profile(iam)
        inst = launch(ec2, profile)
        before = datetime.datetime.now(datetime.timezone.utc)
        with urllib.request.urlopen(credentials_path_url(s, inst["InstanceId"], role), timeout=10) as r:
            doc = json.loads(r.read())
        expires = datetime.datetime.fromisoformat(doc["Expiration"].replace("Z", "+00:00"))
        left = (expires - before).total_seconds()
        # One hour (whole seconds), not the default six.
        assert 3600 - 120 < left <= 3600 + 1, left
    finally:
        s.stop()


@pytest.mark.parametrize("args,message", [
    (["--credential-refresh", "1799"], "at least 30 minutes"),
    (["--credential-lifetime", "1800", "--credential-refresh", "1800"], "longer than the refresh"),
    (["--credential-lifetime", "3600", "--credential-refresh", "3600"], "longer than the refresh"),
])
def test_credential_options_are_checked_at_start(tmp_path, args, message):
    p = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{free_port()}", *args],
        capture_output=True, text=True, timeout=60,
    )
    assert p.returncode != 0
    assert message in p.stdout + p.stderr, p.stdout + p.stderr


def test_auth_off_warns_at_start(tmp_path):
    s = Server(tmp_path / "data", extra_args=["--auth", "off"]).start()
    try:
        s.stop()
        log = s.log_text()
        assert "AUTHENTICATION IS OFF" in log and "WARN" in log, log
    finally:
        s.stop()
    # ...and only then.
    s = Server(tmp_path / "data").start()
    s.stop()
    assert s.log_text().count("AUTHENTICATION IS OFF") == 1
