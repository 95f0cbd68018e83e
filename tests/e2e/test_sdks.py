"""Every SDK, unmodified, under `rolecall exec` (its default loopback endpoint, no path): the aws
CLI, boto3, the AWS SDK for JavaScript v3 (default chain and fromInstanceMetadata) and
aws-sdk-rust's IMDS provider each get the instance's role credentials, over IMDSv1-or-v2 and
IMDSv2 only. (aws-sdk-go-v2 is not tested: Go's module proxy is not reachable here.)"""

import json
import subprocess
import sys

import pytest

from support import REPO, TARGET_DIR, client_for, creds_kw, role_with_profile

JS = REPO / "tests" / "js"
RUST_EXAMPLE = TARGET_DIR / "debug" / "examples" / "imds_credentials"

BOTO3 = "import boto3, json; print(json.dumps(boto3.client('sts').get_caller_identity()))"


@pytest.fixture(scope="module")
def instances(imds_server):
    """One instance per metadata mode (HttpTokens optional / required), each with its own role."""
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    out = {}
    for tokens in ("optional", "required"):
        rp = role_with_profile(iam)
        inst = ec2.run_instances(
            ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": rp.profile},
            MetadataOptions={"HttpTokens": tokens},
        )["Instances"][0]["InstanceId"]
        out[tokens] = (inst, rp.role)
    return out


def expected_arn(server, role, inst):
    return f"arn:aws:sts::{server.account()}:assumed-role/{role}/{inst}"


def run(server, inst, *command):
    p = subprocess.run([*server.exec_command(inst), *command], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{command} failed ({p.returncode}): {p.stderr}"
    return p.stdout


@pytest.mark.parametrize("tokens", ["optional", "required"])
@pytest.mark.parametrize("sdk", ["aws-cli", "boto3", "js-default-chain", "js-fromInstanceMetadata"])
def test_sdk_gets_the_instance_role(imds_server, instances, sdk, tokens):
    inst, role = instances[tokens]
    command = {
        "aws-cli": ["aws", "sts", "get-caller-identity", "--output", "json"],
        "boto3": [sys.executable, "-c", BOTO3],
        "js-default-chain": ["node", str(JS / "caller.mjs")],
        "js-fromInstanceMetadata": ["node", str(JS / "caller.mjs"), "--imds"],
    }[sdk]
    ident = json.loads(run(imds_server, inst, *command))
    assert ident["Arn"] == expected_arn(imds_server, role, inst)


@pytest.mark.parametrize("tokens", ["optional", "required"])
def test_rust_sdk_gets_the_instance_role(imds_server, instances, tokens):
    assert RUST_EXAMPLE.exists(), f"{RUST_EXAMPLE} not built: cargo build --workspace --all-targets"
    inst, role = instances[tokens]
    creds = json.loads(run(imds_server, inst, str(RUST_EXAMPLE)))
    assert creds["AccessKeyId"].startswith("ASIA")
    ident = client_for(imds_server, "sts", **creds_kw(creds)).get_caller_identity()
    assert ident["Arn"] == expected_arn(imds_server, role, inst)


def test_js_sdk_needs_the_local_endpoint(imds_server, instances):
    """Why the local endpoint exists: with the path form the JavaScript SDK drops the path and
    finds no credentials (if this ever passes, the SDK changed, and the note in exec.rs with it)."""
    inst, _ = instances["optional"]
    p = subprocess.run(
        [*imds_server.exec_command(inst, "path"), "node", str(JS / "caller.mjs"), "--imds"],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode != 0


def test_local_endpoint_refuses_v1_when_tokens_are_required(imds_server, instances):
    inst, role = instances["required"]
    script = (
        "import os, urllib.request, urllib.error\n"
        "base = os.environ['AWS_EC2_METADATA_SERVICE_ENDPOINT'].rstrip('/')\n"
        "try:\n"
        "    urllib.request.urlopen(base + '/latest/meta-data/iam/security-credentials/', timeout=10)\n"
        "    print('served')\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
        "req = urllib.request.Request(base + '/latest/api/token', method='PUT', headers={'X-aws-ec2-metadata-token-ttl-seconds': '60'})\n"
        "token = urllib.request.urlopen(req, timeout=10).read().decode()\n"
        "req = urllib.request.Request(base + '/latest/meta-data/iam/security-credentials/', headers={'X-aws-ec2-metadata-token': token})\n"
        "print(urllib.request.urlopen(req, timeout=10).read().decode())\n"
    )
    out = run(imds_server, inst, sys.executable, "-c", script).split()
    assert out == ["401", role]


def test_requests_matching_no_instance_are_logged_with_the_reason(tmp_path):
    """A misconfigured client gets 404, and the server log says why (without the path, which may
    carry a development MAC)."""
    import urllib.error
    import urllib.request

    from support import Server

    s = Server(tmp_path / "data", imds=True, extra_args=["--instance-cidr", "127.89.0.0/16"]).start()
    try:
        secret_path = "/rolecall/i-0123456789abcdef0/0badc0ffee0badc0ffee/latest/meta-data/"
        for path in ("/latest/meta-data/", secret_path):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(s.imds + path, timeout=10)
            assert e.value.code == 404
    finally:
        s.stop()
    log = s.log_text()
    assert "IMDS request matches no instance (404)" in log and "no running instance has the source address" in log, log
    assert "0badc0ffee0badc0ffee" not in log
