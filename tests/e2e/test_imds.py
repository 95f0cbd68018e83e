"""IMDS end to end: real botocore/aws CLI under `rolecall exec`, and curl in source-IP mode."""

import http.server
import json
import re
import socket
import subprocess
import threading
import urllib.request

import pytest

from support import TRUST_EC2, TRUST_LAMBDA as TRUST_OTHER, bound_get, client_for, launch, role_with_profile

def caller(server, instance_id, *extra_env):
    p = server.exec(instance_id, "env", *extra_env, "aws", "sts", "get-caller-identity", "--output", "json")
    return json.loads(p.stdout)


def test_exec_cli_gets_role_identity_v2(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role, profile, *_ = role_with_profile(iam)
    inst = launch(ec2, profile)
    ident = caller(imds_server, inst["InstanceId"])
    account = iam.get_role(RoleName=role)["Role"]["Arn"].split(":")[4]
    role_id = iam.get_role(RoleName=role)["Role"]["RoleId"]
    assert ident["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role}/{inst['InstanceId']}"
    assert ident["UserId"] == f"{role_id}:{inst['InstanceId']}"
    assert ident["Account"] == account
    # The instance's credentials are not the root's: they may not list roles (yet).
    p = imds_server.exec(inst["InstanceId"], "aws", "iam", "list-roles", check=False)
    assert p.returncode != 0 and "AccessDenied" in p.stderr


def test_exec_environment_is_clean(imds_server, tmp_path):
    """`rolecall exec` hands its command no AWS credentials, profile or config of its parent's:
    the parent here has all of them, pointing at a working identity (the root's)."""
    ec2 = client_for(imds_server, "ec2")
    inst = launch(ec2)
    root = imds_server.env()
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[default]\nregion = eu-west-1\n[profile parent]\nregion = eu-west-1\n")
    credentials.write_text(f"[default]\naws_access_key_id = {root['AWS_ACCESS_KEY_ID']}\naws_secret_access_key = {root['AWS_SECRET_ACCESS_KEY']}\n"
                           f"[parent]\naws_access_key_id = {root['AWS_ACCESS_KEY_ID']}\naws_secret_access_key = {root['AWS_SECRET_ACCESS_KEY']}\n")
    parent = dict(
        root,
        AWS_SESSION_TOKEN="parent-session-token",
        AWS_PROFILE="parent",
        AWS_DEFAULT_PROFILE="parent",
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_ROLE_ARN="arn:aws:iam::123456789012:role/parent",
        AWS_WEB_IDENTITY_TOKEN_FILE=str(tmp_path / "token"),
        AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:1/creds",
        AWS_REGION="eu-west-1",
    )
    # The parent's keys work (so a leak would show as a successful call below).
    usable = {k: v for k, v in parent.items() if k != "AWS_SESSION_TOKEN"}
    p = subprocess.run(["aws", "sts", "get-caller-identity", "--output", "json"], env=usable, capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["Arn"].endswith(":root"), p.stderr
    env = imds_server.exec_env(inst["InstanceId"], env=parent)
    # Exactly what exec sets, nothing of the parent's.
    aws_vars = {k: v for k, v in env.items() if k.startswith("AWS_")}
    assert set(aws_vars) == {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_ENDPOINT_URL",
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    }, aws_vars
    assert (aws_vars["AWS_CONFIG_FILE"], aws_vars["AWS_SHARED_CREDENTIALS_FILE"]) == ("/dev/null", "/dev/null")
    assert aws_vars["AWS_REGION"] == aws_vars["AWS_DEFAULT_REGION"] == root["AWS_DEFAULT_REGION"] != parent["AWS_REGION"]
    assert env["AWS_EC2_METADATA_SERVICE_ENDPOINT"].startswith(imds_server.imds + "/rolecall/" + inst["InstanceId"] + "/")
    # By default (a loopback endpoint of exec's own, no path) the variables are the same and the
    # endpoint carries no prefix.
    local = imds_server.exec_env(inst["InstanceId"], env=parent, imds_endpoint=None)
    assert {k for k in local if k.startswith("AWS_")} == set(aws_vars)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", local["AWS_EC2_METADATA_SERVICE_ENDPOINT"]), local
    assert local["AWS_EC2_METADATA_SERVICE_ENDPOINT"] != imds_server.imds
    assert env["AWS_ENDPOINT_URL"] == imds_server.endpoint
    # An instance without a profile has no credentials, although its parent had several.
    p = subprocess.run(
        [*imds_server.exec_command(inst["InstanceId"]), "aws", "sts", "get-caller-identity"], env=parent, capture_output=True, text=True
    )
    assert p.returncode != 0
    assert "Unable to locate credentials" in p.stderr, p.stderr


class _RejectTokenProxy(http.server.BaseHTTPRequestHandler):
    """Forwards GETs to IMDS but refuses the IMDSv2 token PUT, so botocore falls back to IMDSv1."""

    upstream = ""
    seen = []

    def do_PUT(self):
        self.seen.append(("PUT", self.path))
        self.send_response(403)
        self.end_headers()

    def do_GET(self):
        self.seen.append(("GET", self.path, self.headers.get("x-aws-ec2-metadata-token")))
        with urllib.request.urlopen(self.upstream + self.path) as r:
            body = r.read()
            self.send_response(r.status)
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_exec_cli_imdsv1_fallback(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role, profile, *_ = role_with_profile(iam)
    inst = launch(ec2, profile)
    endpoint = imds_server.exec_env(inst["InstanceId"])["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
    path_prefix = endpoint[len(imds_server.imds):]
    _RejectTokenProxy.upstream = imds_server.imds
    _RejectTokenProxy.seen = []
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RejectTokenProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        via_proxy = f"http://127.0.0.1:{proxy.server_address[1]}{path_prefix}"
        ident = caller(imds_server, inst["InstanceId"], f"AWS_EC2_METADATA_SERVICE_ENDPOINT={via_proxy}")
        assert ident["Arn"].endswith(f":assumed-role/{role}/{inst['InstanceId']}")
        gets = [s for s in _RejectTokenProxy.seen if s[0] == "GET"]
        assert gets and all(token is None for _, _, token in gets), "botocore should have used IMDSv1"
        # With HttpTokens=required, IMDSv1 gets 401 and the CLI finds no credentials.
        ec2.modify_instance_metadata_options(InstanceId=inst["InstanceId"], HttpTokens="required")
        p = imds_server.exec(inst["InstanceId"], "env", f"AWS_EC2_METADATA_SERVICE_ENDPOINT={via_proxy}", "aws", "sts", "get-caller-identity", check=False)
        assert p.returncode != 0 and "Unable to locate credentials" in p.stderr
        # ...while the real IMDSv2 flow still works.
        assert caller(imds_server, inst["InstanceId"])["Arn"].endswith(inst["InstanceId"])
    finally:
        proxy.shutdown()


def test_replace_and_disassociate_seen_on_next_request(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role_a, profile_a, *_ = role_with_profile(iam)
    role_b, profile_b, *_ = role_with_profile(iam)
    inst = launch(ec2, profile_a)["InstanceId"]
    assert caller(imds_server, inst)["Arn"].endswith(f"/{role_a}/{inst}")
    assoc = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [inst]}])["IamInstanceProfileAssociations"][0]
    new = ec2.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"], IamInstanceProfile={"Name": profile_b})
    assert caller(imds_server, inst)["Arn"].endswith(f"/{role_b}/{inst}")
    ec2.disassociate_iam_instance_profile(AssociationId=new["IamInstanceProfileAssociation"]["AssociationId"])
    p = imds_server.exec(inst, "aws", "sts", "get-caller-identity", check=False)
    assert p.returncode != 0 and "Unable to locate credentials" in p.stderr


def test_untrusted_role_gets_assume_role_unauthorized(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role, profile, *_ = role_with_profile(iam, trust=TRUST_OTHER)
    inst = launch(ec2, profile)["InstanceId"]
    endpoint = imds_server.exec_env(inst)["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
    with urllib.request.urlopen(f"{endpoint}latest/meta-data/iam/security-credentials/{role}") as r:
        doc = json.loads(r.read())
    assert doc["Code"] == "AssumeRoleUnauthorizedAccess"
    assert "AccessKeyId" not in doc
    # Fixing the trust policy fixes the instance on its next request.
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=TRUST_EC2)
    with urllib.request.urlopen(f"{endpoint}latest/meta-data/iam/security-credentials/{role}") as r:
        doc = json.loads(r.read())
    assert doc["Code"] == "Success" and doc["AccessKeyId"].startswith("ASIA")


def test_source_ip_mode_with_curl(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role, profile, p, _ = role_with_profile(iam)
    inst = launch(ec2, profile)
    ip = inst["PrivateIpAddress"]
    assert ip.startswith("127.88.")
    base = imds_server.imds
    # The walkthrough's curl, from the instance's own address.
    out = subprocess.run(
        ["curl", "-s", "--interface", ip, f"{base}/latest/meta-data/iam/security-credentials/{role}"],
        capture_output=True, text=True, check=True,
    ).stdout
    doc = json.loads(out)
    assert doc["Code"] == "Success" and doc["Type"] == "AWS-HMAC"
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", doc["AccessKeyId"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["Expiration"])
    # IMDSv2 by hand: token, then GETs.
    status, token = bound_get(ip, f"{base}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, method="PUT")
    assert status == 200 and token
    status, body = bound_get(ip, f"{base}/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token})
    assert (status, body) == (200, inst["InstanceId"])
    status, body = bound_get(ip, f"{base}/latest/meta-data/iam/info", {"X-aws-ec2-metadata-token": token})
    info = json.loads(body)
    assert info["InstanceProfileArn"] == p["Arn"] and info["InstanceProfileId"] == p["InstanceProfileId"]
    # Another instance's address gets that instance's view, never this one's.
    other = launch(ec2)
    status, body = bound_get(other["PrivateIpAddress"], f"{base}/latest/meta-data/instance-id")
    assert (status, body) == (200, other["InstanceId"])
    status, _ = bound_get(other["PrivateIpAddress"], f"{base}/latest/meta-data/iam/security-credentials/{role}")
    assert status == 404
    # The token is bound to its instance.
    status, _ = bound_get(other["PrivateIpAddress"], f"{base}/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token})
    assert status == 401
    # An address that is no instance gets nothing.
    status, _ = bound_get("127.88.255.250", f"{base}/latest/meta-data/instance-id")
    assert status == 404


def test_imds_status_codes(imds_server):
    ec2 = client_for(imds_server, "ec2")
    inst = launch(ec2, MetadataOptions={"InstanceMetadataTags": "enabled"}, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}])
    ip, base = inst["PrivateIpAddress"], imds_server.imds
    put = lambda h: bound_get(ip, f"{base}/latest/api/token", h, method="PUT")[0]
    assert put({}) == 400
    assert put({"X-aws-ec2-metadata-token-ttl-seconds": "0"}) == 400
    assert put({"X-aws-ec2-metadata-token-ttl-seconds": "21601"}) == 400
    assert put({"X-aws-ec2-metadata-token-ttl-seconds": "abc"}) == 400
    assert put({"X-aws-ec2-metadata-token-ttl-seconds": "21600"}) == 200
    assert put({"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4"}) == 403
    assert bound_get(ip, f"{base}/latest/api/token")[0] == 405
    assert bound_get(ip, f"{base}/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": "bogus"})[0] == 401
    assert bound_get(ip, f"{base}/latest/meta-data/instance-id")[0] == 200
    assert bound_get(ip, f"{base}/latest/meta-data/tags/instance/Name") == (200, "web")
    assert bound_get(ip, f"{base}/latest/meta-data/no-such-thing")[0] == 404
    assert bound_get(ip, f"{base}/latest/meta-data/iam/info")[0] == 404
    ec2.modify_instance_metadata_options(InstanceId=inst["InstanceId"], HttpTokens="required")
    assert bound_get(ip, f"{base}/latest/meta-data/instance-id")[0] == 401
    status, token = bound_get(ip, f"{base}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, method="PUT")
    assert bound_get(ip, f"{base}/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token}) == (200, inst["InstanceId"])
    ec2.modify_instance_metadata_options(InstanceId=inst["InstanceId"], HttpEndpoint="disabled")
    assert bound_get(ip, f"{base}/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token})[0] == 403
    # A stopped instance runs nothing, so it has no metadata service either.
    ec2.modify_instance_metadata_options(InstanceId=inst["InstanceId"], HttpEndpoint="enabled")
    ec2.stop_instances(InstanceIds=[inst["InstanceId"]])
    assert bound_get(ip, f"{base}/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token})[0] == 404


def test_boto3_instance_metadata_provider(imds_server, monkeypatch):
    """boto3's own credential chain (InstanceMetadataProvider), in this process."""
    import boto3

    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role, profile, *_ = role_with_profile(iam)
    inst = launch(ec2, profile)["InstanceId"]
    env = imds_server.exec_env(inst)
    for k in list(__import__("os").environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    for k, v in env.items():
        if k.startswith("AWS_"):
            monkeypatch.setenv(k, v)
    session = boto3.Session()
    creds = session.get_credentials()
    assert creds.method == "iam-role"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA") and frozen.token
    ident = session.client("sts", endpoint_url=imds_server.endpoint).get_caller_identity()
    assert ident["Arn"].endswith(f":assumed-role/{role}/{inst}")
