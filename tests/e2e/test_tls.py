"""TLS on every hop that crosses a network (issue #13): the API (self-signed local CA, or the
operator's certificate, replaced while serving), the agent's connection to the API, and the API's
connection to PostgreSQL (sslmode=verify-full). Certificates here come from the server itself or
from CAs this test makes with openssl; every connection is to 127.0.0.1."""

import json
import os
import shutil
import signal
import ssl
import subprocess
import urllib.request

import boto3
import botocore.exceptions
import pytest

from support import AGENT_POLICY, BINARY, TRUST_EC2, Agent, Server, clean_env, eventually, unique


def make_ca(dir_, name):
    dir_.mkdir(parents=True, exist_ok=True)
    key, pem = dir_ / f"{name}.key", dir_ / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(pem),
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        check=True, capture_output=True,
    )
    return pem, key


def make_cert(dir_, ca, name):
    """A server certificate for 127.0.0.1/localhost signed by `ca` (pem, key)."""
    key, csr, pem, ext = (dir_ / f"{name}.key", dir_ / f"{name}.csr", dir_ / f"{name}.pem", dir_ / f"{name}.ext")
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
                    "-days", "2", "-extfile", str(ext), "-out", str(pem)], check=True, capture_output=True)
    return pem, key


class TlsServer(Server):
    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def sts(server, verify):
    env = server.env()
    return boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1", verify=verify,
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def refused_by_tls(fn):
    with pytest.raises(botocore.exceptions.SSLError):
        fn()


def test_self_signed_with_the_printed_ca_bundle(tmp_path):
    s = TlsServer(tmp_path / "data", extra_args=["--tls", "self-signed"]).start()
    try:
        env = s.env()
        ca = env["AWS_CA_BUNDLE"]
        assert ca == str(tmp_path / "data" / "tls" / "ca.pem")
        assert env["AWS_ENDPOINT_URL"].startswith("https://")
        # `rolecall env` itself names the https endpoint.
        printed = subprocess.run([str(BINARY), "env", "--data-dir", str(s.data_dir)], capture_output=True, text=True, check=True).stdout
        assert f"export AWS_ENDPOINT_URL=https://127.0.0.1:{s.port}" in printed and f"export AWS_CA_BUNDLE={ca}" in printed
        # The aws CLI, with exactly what `rolecall env` prints.
        p = subprocess.run(["aws", "sts", "get-caller-identity", "--output", "json"], env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["Arn"].endswith(":root")
        # boto3, verifying with the CA.
        assert sts(s, ca).get_caller_identity()["Arn"].endswith(":root")
        # A client that does not trust the CA fails (the system's roots do not know it).
        refused_by_tls(lambda: sts(s, True).get_caller_identity())
        untrusting = {k: v for k, v in env.items() if k != "AWS_CA_BUNDLE"}
        p = subprocess.run(["aws", "sts", "get-caller-identity"], env=untrusting, capture_output=True, text=True)
        assert p.returncode != 0 and "SSL" in p.stderr, p.stderr
        # Plain HTTP is not served on the TLS port.
        with pytest.raises(Exception):
            urllib.request.urlopen(f"http://127.0.0.1:{s.port}/", timeout=10).read()
    finally:
        s.stop()
    # The CA lives as long as the data directory; the server certificate is reissued by it.
    ca_before = (tmp_path / "data" / "tls" / "ca.pem").read_text()
    s = TlsServer(tmp_path / "data", extra_args=["--tls", "self-signed"]).start()
    try:
        assert (tmp_path / "data" / "tls" / "ca.pem").read_text() == ca_before
        assert sts(s, str(tmp_path / "data" / "tls" / "ca.pem")).get_caller_identity()["Arn"].endswith(":root")
    finally:
        s.stop()
    for f in ("ca.key", "server.key"):
        assert oct(os.stat(tmp_path / "data" / "tls" / f).st_mode & 0o777) == "0o600"


def test_operator_certificate_replaced_while_serving(tmp_path):
    certs = tmp_path / "certs"
    ca1, ca2 = make_ca(certs, "ca1"), make_ca(certs, "ca2")
    first, second = make_cert(certs, ca1, "first"), make_cert(certs, ca2, "second")
    live_cert, live_key = certs / "live.pem", certs / "live.key"
    shutil.copy(first[0], live_cert)
    shutil.copy(first[1], live_key)
    s = TlsServer(tmp_path / "data", extra_args=["--tls-cert", str(live_cert), "--tls-key", str(live_key)]).start()
    try:
        assert sts(s, str(ca1[0])).get_caller_identity()["Arn"].endswith(":root")
        refused_by_tls(lambda: sts(s, str(ca2[0])).get_caller_identity())
        # Rotate: new files in place (as an ACME client or configuration management would).
        shutil.copy(second[1], live_key)
        shutil.copy(second[0], live_cert)
        eventually(lambda: sts(s, str(ca2[0])).get_caller_identity(), "the replaced certificate is served",
                   retry_on=(botocore.exceptions.SSLError,))
        refused_by_tls(lambda: sts(s, str(ca1[0])).get_caller_identity())
        # A broken replacement is refused and the working certificate stays.
        live_key.write_text("not a key\n")
        os.kill(s.proc.pid, signal.SIGHUP)
        eventually(lambda: "TLS certificate not reloaded" in s.log_text(), "the broken pair is reported")
        assert sts(s, str(ca2[0])).get_caller_identity()["Arn"].endswith(":root")
        assert "not a key" not in s.log_text()
        # SIGHUP reloads a good pair at once.
        shutil.copy(first[1], live_key)
        shutil.copy(first[0], live_cert)
        os.kill(s.proc.pid, signal.SIGHUP)
        eventually(lambda: sts(s, str(ca1[0])).get_caller_identity(), "SIGHUP reloads", retry_on=(botocore.exceptions.SSLError,))
    finally:
        s.stop()


def test_mismatched_certificate_and_key_do_not_start(tmp_path):
    certs = tmp_path / "certs"
    ca = make_ca(certs, "ca")
    a, b = make_cert(certs, ca, "a"), make_cert(certs, ca, "b")
    p = subprocess.run([str(BINARY), "serve", "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0",
                        "--tls-cert", str(a[0]), "--tls-key", str(b[1])], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "do not make a usable pair" in p.stderr, p.stderr


def agent_key(server):
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1", verify=server.env()["AWS_CA_BUNDLE"],
                       aws_access_key_id=server.env()["AWS_ACCESS_KEY_ID"], aws_secret_access_key=server.env()["AWS_SECRET_ACCESS_KEY"])
    user = unique("agent")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="agent", PolicyDocument=AGENT_POLICY)
    return iam, iam.create_access_key(UserName=user)["AccessKey"]


def test_agent_over_https(tmp_path):
    s = TlsServer(tmp_path / "data", extra_args=["--tls", "self-signed", "--instance-cidr", "127.90.0.0/16"]).start()
    agents = []
    try:
        ca = s.env()["AWS_CA_BUNDLE"]
        iam, key = agent_key(s)
        ec2 = boto3.client("ec2", endpoint_url=s.endpoint, region_name="us-east-1", verify=ca,
                           aws_access_key_id=s.env()["AWS_ACCESS_KEY_ID"], aws_secret_access_key=s.env()["AWS_SECRET_ACCESS_KEY"])
        role, profile = unique("role"), unique("profile")
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
        iam.create_instance_profile(InstanceProfileName=profile)
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
        ip = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile})["Instances"][0]["PrivateIpAddress"]

        good = Agent(s.endpoint, key, tmp_path / "good.log", extra_args=["--ca-file", ca]).start()
        agents.append(good)
        eventually(lambda: good.get(ip, "/latest/meta-data/iam/security-credentials/") == (200, role), "the agent serves over https")
        status, body = good.get(ip, f"/latest/meta-data/iam/security-credentials/{role}")
        assert status == 200 and json.loads(body)["AccessKeyId"].startswith("ASIA")

        # An agent that cannot verify the server's certificate gets nothing from it.
        other_ca = make_ca(tmp_path / "other", "other")[0]
        bad = Agent(s.endpoint, key, tmp_path / "bad.log", extra_args=["--ca-file", str(other_ca)]).start()
        agents.append(bad)
        eventually(lambda: "certificate" in (tmp_path / "bad.log").read_text().lower(), "the agent reports the certificate")
        assert bad.get(ip, "/latest/meta-data/iam/security-credentials/")[0] == 404
    finally:
        for a in agents:
            a.stop()
        s.stop()


def test_agent_refuses_plain_http_off_loopback(tmp_path):
    env = clean_env(AWS_ACCESS_KEY_ID="AKIAEXAMPLEEXAMPLE00", AWS_SECRET_ACCESS_KEY="x" * 40)
    # 0.0.0.0 is not loopback; the agent refuses before connecting anywhere.
    p = subprocess.run([str(BINARY), "agent", "--server", "http://0.0.0.0:1", "--imds-listen", "127.0.0.1:0"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--insecure-http" in p.stderr, p.stderr


def test_two_nodes_on_postgresql_verify_full(tmp_path, database_url):
    ca = os.environ["ROLECALL_TEST_PG_CA"]
    url = f"{database_url}?sslmode=verify-full&sslrootcert={ca}"
    data = tmp_path / "data"
    a = Server(data, database_url=url).start()
    b = Server(data, database_url=url).start()
    try:
        env_a = a.env()
        iam_a = boto3.client("iam", endpoint_url=a.endpoint, region_name="us-east-1",
                             aws_access_key_id=env_a["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env_a["AWS_SECRET_ACCESS_KEY"])
        iam_b = boto3.client("iam", endpoint_url=b.endpoint, region_name="us-east-1",
                             aws_access_key_id=env_a["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env_a["AWS_SECRET_ACCESS_KEY"])
        role = unique("tls")
        iam_a.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
        assert iam_b.get_role(RoleName=role)["Role"]["RoleName"] == role
        # The connections really are TLS.
        out = subprocess.run(["psql", url, "-Atc", "select count(*) from pg_stat_ssl s join pg_stat_activity a using (pid) "
                              "where s.ssl and a.datname = current_database() and a.pid <> pg_backend_pid()"],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert int(out) >= 2, out
    finally:
        a.stop()
        b.stop()
    # A CA that did not sign the server's certificate: the node does not start.
    wrong = make_ca(tmp_path / "wrong", "wrong")[0]
    p = subprocess.run([str(BINARY), "--database-url", f"{database_url}?sslmode=verify-full&sslrootcert={wrong}", "serve",
                        "--data-dir", str(tmp_path / "other"), "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "PostgreSQL" in p.stderr, p.stderr
