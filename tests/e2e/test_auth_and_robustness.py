"""SigV4 authentication, `--auth off`, persistence across restarts and `kill -9`, and malformed
input (never a 5xx, always an AWS-style XML error)."""

import http.client
import json
import os
import sqlite3
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError
from support import ALLOW_S3 as ACCESS, HANG, Server, TRUST_EC2 as TRUST, aws_error, client_for, own_server, unique
VERSIONS = {"iam": "2010-05-08", "sts": "2011-06-15", "ec2": "2016-11-15"}
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=10)


def raw_client(server, service, config=NO_RETRY, **kw):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", config=config, **kw)


# ---------------------------------------------------------------- SigV4


def test_wrong_secret(server):
    env = server.env()
    bad = env["AWS_SECRET_ACCESS_KEY"][:-1] + ("A" if env["AWS_SECRET_ACCESS_KEY"][-1] != "A" else "B")
    for svc, call in (("iam", lambda c: c.list_roles()), ("sts", lambda c: c.get_caller_identity())):
        c = client_for(server, svc, secret=bad, config=NO_RETRY)
        code, status, msg = aws_error(call, c)
        assert (code, status) == ("SignatureDoesNotMatch", 403), svc
        assert "signature" in msg.lower()
    ec2 = client_for(server, "ec2", secret=bad, config=NO_RETRY)
    assert aws_error(ec2.describe_instances)[:2] == ("AuthFailure", 401)


def test_unknown_access_key(server):
    env = server.env()
    for svc, call in (("iam", lambda c: c.get_role(RoleName="x")), ("sts", lambda c: c.get_caller_identity())):
        c = client_for(server, svc, key="AKIAIOSFODNN7EXAMPLE", secret=env["AWS_SECRET_ACCESS_KEY"], config=NO_RETRY)
        assert aws_error(call, c)[:2] == ("InvalidClientTokenId", 403), svc
    ec2 = client_for(server, "ec2", key="AKIAIOSFODNN7EXAMPLE", secret=env["AWS_SECRET_ACCESS_KEY"], config=NO_RETRY)
    assert aws_error(ec2.describe_instances)[:2] == ("AuthFailure", 401)
    # A session token means temporary credentials, none of which exist.
    sts = client_for(server, "sts", aws_session_token="FwoGZXIvYXdzEXAMPLE", config=NO_RETRY)
    assert aws_error(sts.get_caller_identity)[:2] == ("InvalidClientTokenId", 403)


def test_unsigned_requests(server):
    unsigned = Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1})
    iam = raw_client(server, "iam", config=unsigned)
    assert aws_error(iam.list_roles)[:2] == ("MissingAuthenticationToken", 403)
    sts = raw_client(server, "sts", config=unsigned)
    assert aws_error(sts.get_caller_identity)[:2] == ("MissingAuthenticationToken", 403)
    ec2 = raw_client(server, "ec2", config=unsigned)
    raw = {}
    ec2.meta.events.register("before-parse", lambda response_dict, **_: raw.setdefault("body", response_dict["body"]))
    assert aws_error(ec2.describe_instances)[:2] == ("MissingAuthenticationToken", 401)
    # EC2's envelope, not the Query protocol's.
    root = ET.fromstring(raw["body"])
    assert root.tag == "Response" and root.find("./Errors/Error/Code").text == "MissingAuthenticationToken"


def test_auth_failure_uses_each_services_envelope(server):
    """The error body for a bad key is EC2's <Response><Errors> for EC2 and <ErrorResponse> for IAM."""
    env = server.env()
    bodies = {}
    for svc in ("iam", "ec2"):
        c = client_for(server, svc, key="AKIAIOSFODNN7EXAMPLE", secret=env["AWS_SECRET_ACCESS_KEY"], config=NO_RETRY)
        c.meta.events.register("before-parse", lambda response_dict, svc=svc, **_: bodies.setdefault(svc, response_dict["body"]))
        aws_error(c.list_roles if svc == "iam" else c.describe_instances)
    iam_root = ET.fromstring(bodies["iam"])
    assert iam_root.tag == "{https://iam.amazonaws.com/doc/2010-05-08/}ErrorResponse"
    ns = {"i": "https://iam.amazonaws.com/doc/2010-05-08/"}
    assert iam_root.find("./i:Error/i:Code", ns).text == "InvalidClientTokenId"
    assert iam_root.find("./i:Error/i:Type", ns).text == "Sender"
    ec2_root = ET.fromstring(bodies["ec2"])
    assert ec2_root.tag == "Response"
    assert ec2_root.find("./Errors/Error/Code").text == "AuthFailure"
    assert ec2_root.find("./RequestID") is not None


def test_presigned_get_caller_identity(server):
    sts = client_for(server, "sts")
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        body = resp.read().decode()
    assert "<GetCallerIdentityResponse" in body and ":root</Arn>" in body
    # Tampering with the signed query fails.
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
    assert tampered != url
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=10)
    assert e.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in e.value.read()


def test_malformed_signatures_are_client_errors(server):
    """Broken Authorization headers and presigned queries get 4xx AWS errors, never a 5xx."""
    key = server.env()["AWS_ACCESS_KEY_ID"]
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    scope = f"{key}/{now[:8]}/us-east-1/iam/aws4_request"
    body = form(Action="ListRoles", Version=VERSIONS["iam"])
    headers = [
        {"Authorization": "garbage"},
        {"Authorization": "AWS4-HMAC-SHA256"},
        {"Authorization": "AWS AKIAIOSFODNN7EXAMPLE:c2lnbmF0dXJl"},  # SigV2
        {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host"},
        {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature=00", "X-Amz-Date": "yesterday"},
        {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature=00", "X-Amz-Date": "20000101T000000Z"},
        {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=x-amz-date, Signature=00", "X-Amz-Date": now},
        {"Authorization": "AWS4-HMAC-SHA256 Credential=" + "A" * 50_000 + ", SignedHeaders=host, Signature=00", "X-Amz-Date": now},
    ]
    for h in headers:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/x-www-form-urlencoded", **h})
        resp = conn.getresponse()
        status, data = resp.status, resp.read()
        conn.close()
        assert 400 <= status < 500, (h, status, data[:300])
        assert error_code(data) in ("IncompleteSignature", "SignatureDoesNotMatch", "MissingAuthenticationToken", "InvalidClientTokenId"), (h, data[:300])
    for q in (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Date=1&X-Amz-Expires=-5&X-Amz-SignedHeaders=host&X-Amz-Signature=zz",
        f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={urllib.parse.quote(scope, safe='')}&X-Amz-Date={now}&X-Amz-Expires=99999999999999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
        f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={urllib.parse.quote(scope, safe='')}&X-Amz-Date={now}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
    ):
        status, data = post(server, None, query="Action=ListRoles&Version=2010-05-08&" + q, method="GET", content_type=None)
        assert 400 <= status < 500, (q, status, data[:300])
        error_code(data)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    yield from own_server(tmp_path_factory, "authoff", extra_args=["--auth", "off"])


def test_auth_off_accepts_anything(open_server):
    account = client_for(open_server, "sts").get_caller_identity()["Account"]
    anyone = dict(aws_access_key_id="AKIAANYTHINGATALL123", aws_secret_access_key="whatever", config=NO_RETRY)
    ident = raw_client(open_server, "sts", **anyone).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{account}:root" and ident["Account"] == account
    iam = raw_client(open_server, "iam", **anyone)
    name = unique("open")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    unsigned = Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1})
    assert raw_client(open_server, "iam", config=unsigned).get_role(RoleName=name)["Role"]["RoleName"] == name
    assert raw_client(open_server, "sts", config=unsigned).get_caller_identity()["Account"] == account
    ec2 = raw_client(open_server, "ec2", config=unsigned)
    iid = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert raw_client(open_server, "ec2", **anyone).describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["InstanceId"] == iid
    # Errors are still the service's own.
    assert aws_error(iam.get_role, RoleName=unique("missing"))[:2] == ("NoSuchEntity", 404)
    assert aws_error(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0"])[:2] == ("InvalidInstanceID.NotFound", 400)


# ---------------------------------------------------------------- persistence


def snapshot(server):
    iam, ec2 = client_for(server, "iam"), client_for(server, "ec2")
    strip = lambda d: {k: v for k, v in d.items() if k != "ResponseMetadata"}  # noqa: E731
    roles = strip(iam.list_roles())
    out = {"roles": roles, "profiles": strip(iam.list_instance_profiles()), "policies": strip(iam.list_policies(Scope="Local"))}
    for r in roles["Roles"]:
        n = r["RoleName"]
        out[f"role:{n}"] = strip(iam.get_role(RoleName=n))
        out[f"inline:{n}"] = [strip(iam.get_role_policy(RoleName=n, PolicyName=p)) for p in iam.list_role_policies(RoleName=n)["PolicyNames"]]
        out[f"attached:{n}"] = strip(iam.list_attached_role_policies(RoleName=n))
    for p in out["policies"]["Policies"]:
        out[f"versions:{p['Arn']}"] = [
            strip(iam.get_policy_version(PolicyArn=p["Arn"], VersionId=v["VersionId"]))
            for v in iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"]
        ]
    out["instances"] = strip(ec2.describe_instances())
    out["associations"] = strip(ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "state", "Values": ["*"]}]))
    out["identity"] = strip(client_for(server, "sts").get_caller_identity())
    return out


def test_restart_keeps_everything(tmp_path):
    data = tmp_path / "data"
    s = Server(data).start()
    try:
        iam, ec2 = client_for(s, "iam"), client_for(s, "ec2")
        iam.create_role(RoleName="app", Path="/app/team/", AssumeRolePolicyDocument=TRUST, Description="d", Tags=[{"Key": "k", "Value": "v"}])
        iam.put_role_policy(RoleName="app", PolicyName="inline", PolicyDocument=ACCESS)
        arn = iam.create_policy(PolicyName="managed", PolicyDocument=ACCESS)["Policy"]["Arn"]
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=ACCESS.replace("s3:*", "ec2:*"), SetAsDefault=True)
        iam.attach_role_policy(RoleName="app", PolicyArn=arn)
        for p in ("prof-a", "prof-b"):
            iam.create_instance_profile(InstanceProfileName=p, Tags=[{"Key": "p", "Value": p}])
        iam.add_role_to_instance_profile(InstanceProfileName="prof-a", RoleName="app")
        iam.create_role(RoleName="other", AssumeRolePolicyDocument=TRUST)
        iam.add_role_to_instance_profile(InstanceProfileName="prof-b", RoleName="other")
        insts = ec2.run_instances(
            ImageId="ami-11aa22bb", MinCount=2, MaxCount=2, IamInstanceProfile={"Name": "prof-a"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}],
            MetadataOptions={"HttpTokens": "required"},
        )["Instances"]
        ec2.stop_instances(InstanceIds=[insts[0]["InstanceId"]])
        [assoc] = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [insts[1]["InstanceId"]]}])["IamInstanceProfileAssociations"]
        ec2.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"], IamInstanceProfile={"Name": "prof-b"})
        third = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        ec2.terminate_instances(InstanceIds=[third])
        before, env_before = snapshot(s), s.env()
    finally:
        s.stop()
    s2 = Server(data).start()
    try:
        env_after = s2.env()
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            assert env_after[k] == env_before[k], k
        after = snapshot(s2)
        assert after == before
        # The restarted server keeps enforcing the same invariants and continues numbering.
        iam = client_for(s2, "iam")
        assert aws_error(iam.create_role, RoleName="APP", AssumeRolePolicyDocument=TRUST)[:2] == ("EntityAlreadyExists", 409)
        assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=ACCESS)["PolicyVersion"]["VersionId"] == "v3"
        ec2 = client_for(s2, "ec2")
        new_ip = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["PrivateIpAddress"]
        live_ips = {i["PrivateIpAddress"] for r in before["instances"]["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"}
        assert new_ip not in live_ips
    finally:
        s2.stop()


def test_kill_9_during_writes(tmp_path):
    data = tmp_path / "data"
    s = Server(data).start()
    created, stop, killing = [], threading.Event(), threading.Event()
    # How each writer ended: only by losing its connection, and only once the kill began.
    lost_after_kill, unexpected = [], []

    def writer(tag):
        iam = client_for(s, "iam", config=NO_RETRY)
        i = 0
        while not stop.is_set():
            name = f"{tag}-{i}"
            i += 1
            try:
                resp = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "n", "Value": str(i)}])
            except (BotoConnectionError, HTTPClientError) as e:  # the server died under us
                (lost_after_kill if killing.is_set() else unexpected).append(repr(e))
                return
            except Exception as e:  # an AWS error or anything else is not the kill
                unexpected.append(repr(e))
                return
            assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
            created.append(name)

    threads = [threading.Thread(target=writer, args=(f"w{t}",), daemon=True) for t in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.time() + HANG
        while len(created) < 40 and time.time() < deadline and not unexpected:
            time.sleep(0.01)
        assert unexpected == [], f"writers failed before the kill: {unexpected}"
        assert len(created) >= 40, "writers made no progress"
        killing.set()
        s.stop(kill=True)  # SIGKILL mid-burst
    finally:
        stop.set()
        s.stop(kill=True)
    for t in threads:
        t.join(timeout=HANG)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert unexpected == [], f"writers failed other than by the kill: {unexpected}"
    assert lost_after_kill, "the kill should have interrupted the writers"
    # The database opens fine and is intact.
    with sqlite3.connect(data / "rolecall.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    s2 = Server(data).start()
    try:
        iam = client_for(s2, "iam")
        names = {r["RoleName"] for p in iam.get_paginator("list_roles").paginate() for r in p["Roles"]}
        missing = [n for n in created if n not in names]
        assert missing == [], f"acknowledged but lost: {missing}"
        for n in created[-3:]:
            assert iam.get_role(RoleName=n)["Role"]["Tags"][0]["Key"] == "n"
        iam.create_role(RoleName=unique("after"), AssumeRolePolicyDocument=TRUST)
    finally:
        s2.stop()


# ---------------------------------------------------------------- malformed input


def post(server, body, *, query="", content_type="application/x-www-form-urlencoded; charset=utf-8", method="POST", path="/"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        conn.request(method, path + (("?" + query) if query else ""), body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def error_code(body: bytes) -> str:
    """The Code of a well-formed AWS XML error (Query or EC2 envelope)."""
    root = ET.fromstring(body)
    tag = root.tag.split("}")[-1]
    assert tag in ("ErrorResponse", "Response"), body[:300]
    code = next((e.text for e in root.iter() if e.tag.split("}")[-1] == "Code"), None)
    assert code, body[:300]
    return code


def form(**kw) -> bytes:
    return urllib.parse.urlencode(kw).encode()


def expect_error(server, body, **kw):
    status, resp = post(server, body, **kw)
    assert 400 <= status < 500, (status, body[:200], resp[:300])
    return status, error_code(resp)


IAM_ACTIONS = [
    "CreateRole", "GetRole", "ListRoles", "UpdateRole", "UpdateAssumeRolePolicy", "DeleteRole", "TagRole", "UntagRole", "ListRoleTags",
    "PutRolePolicy", "GetRolePolicy", "ListRolePolicies", "DeleteRolePolicy", "CreatePolicy", "GetPolicy", "ListPolicies", "DeletePolicy",
    "CreatePolicyVersion", "GetPolicyVersion", "ListPolicyVersions", "DeletePolicyVersion", "SetDefaultPolicyVersion", "AttachRolePolicy",
    "DetachRolePolicy", "ListAttachedRolePolicies", "CreateInstanceProfile", "GetInstanceProfile", "ListInstanceProfiles",
    "ListInstanceProfilesForRole", "DeleteInstanceProfile", "AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile",
    "TagInstanceProfile", "UntagInstanceProfile", "ListInstanceProfileTags",
]
IAM_LISTS = {"ListRoles", "ListPolicies", "ListInstanceProfiles"}
EC2_ACTIONS = [
    "RunInstances", "DescribeInstances", "StartInstances", "StopInstances", "TerminateInstances", "ModifyInstanceMetadataOptions",
    "AssociateIamInstanceProfile", "DescribeIamInstanceProfileAssociations", "ReplaceIamInstanceProfileAssociation",
    "DisassociateIamInstanceProfile",
]
EC2_LISTS = {"DescribeInstances", "DescribeIamInstanceProfileAssociations"}


def test_missing_required_parameters(open_server):
    # Each service's actions, those that need no parameter (lists), and its error code.
    cases = (("iam", IAM_ACTIONS, IAM_LISTS, "ValidationError"), ("ec2", EC2_ACTIONS, EC2_LISTS, "MissingParameter"))
    for service, actions, lists, code in cases:
        for action in actions:
            status, resp = post(open_server, form(Action=action, Version=VERSIONS[service]))
            if action in lists:
                assert status == 200, (action, resp[:300])
                continue
            assert status == 400, (action, status, resp[:300])
            assert error_code(resp) == code, action


def test_routing_errors(open_server):
    assert expect_error(open_server, form(Action="Frobnicate", Version=VERSIONS["iam"])) == (400, "InvalidAction")
    assert expect_error(open_server, form(Action="Frobnicate", Version=VERSIONS["ec2"])) == (400, "InvalidAction")
    assert expect_error(open_server, form(Action="AssumeRoleWithSAML2", Version=VERSIONS["sts"])) == (400, "InvalidAction")
    assert expect_error(open_server, form(Version=VERSIONS["iam"]))[1] == "MissingAction"
    assert expect_error(open_server, form(Version=VERSIONS["ec2"]))[1] == "MissingAction"
    assert expect_error(open_server, form(Action="ListRoles"))[0] == 400  # no Version: no service
    assert expect_error(open_server, form(Action="ListRoles", Version="1999-01-01"))[0] == 400
    assert expect_error(open_server, b"")[0] == 400
    # GET with the query string is the same protocol.
    status, resp = post(open_server, None, query=form(Action="ListRoles", Version=VERSIONS["iam"]).decode(), method="GET", content_type=None)
    assert status == 200 and b"<ListRolesResponse" in resp
    for method in ("PUT", "DELETE", "PATCH"):
        status, resp = post(open_server, form(Action="Nope", Version=VERSIONS["iam"]), method=method)
        assert 400 <= status < 500, (method, status, resp[:300])
        error_code(resp)


GARBAGE = [
    # (name, body or dict, extra kwargs)
    ("non-numeric MaxItems", {"Action": "ListRoles", "Version": VERSIONS["iam"], "MaxItems": "ten"}, {}),
    ("negative MaxItems", {"Action": "ListRoles", "Version": VERSIONS["iam"], "MaxItems": "-1"}, {}),
    ("huge MaxItems", {"Action": "ListRoles", "Version": VERSIONS["iam"], "MaxItems": "9" * 40}, {}),
    ("float MaxItems", {"Action": "ListPolicies", "Version": VERSIONS["iam"], "MaxItems": "1.5"}, {}),
    ("bad OnlyAttached", {"Action": "ListPolicies", "Version": VERSIONS["iam"], "OnlyAttached": "maybe"}, {}),
    ("bad MaxSessionDuration", {"Action": "CreateRole", "Version": VERSIONS["iam"], "RoleName": "x", "AssumeRolePolicyDocument": TRUST, "MaxSessionDuration": "1e9"}, {}),
    ("huge MaxSessionDuration", {"Action": "CreateRole", "Version": VERSIONS["iam"], "RoleName": "x", "AssumeRolePolicyDocument": TRUST, "MaxSessionDuration": "9" * 30}, {}),
    ("empty RoleName", {"Action": "GetRole", "Version": VERSIONS["iam"], "RoleName": ""}, {}),
    ("NUL RoleName", {"Action": "CreateRole", "Version": VERSIONS["iam"], "RoleName": "a\x00b", "AssumeRolePolicyDocument": TRUST}, {}),
    ("huge RoleName", {"Action": "CreateRole", "Version": VERSIONS["iam"], "RoleName": "r" * 100_000, "AssumeRolePolicyDocument": TRUST}, {}),
    ("huge Path", {"Action": "ListRoles", "Version": VERSIONS["iam"], "PathPrefix": "/" + "p" * 100_000}, {}),
    ("huge Marker", {"Action": "ListRoles", "Version": VERSIONS["iam"], "Marker": "m" * 100_000}, {}),
    ("policy with control chars", {"Action": "CreatePolicy", "Version": VERSIONS["iam"], "PolicyName": "p", "PolicyDocument": "{\x01}"}, {}),
    ("policy over the shape limit", {"Action": "CreatePolicy", "Version": VERSIONS["iam"], "PolicyName": "p", "PolicyDocument": "{" + " " * 140_000 + "}"}, {}),
    ("deeply nested policy", {"Action": "CreatePolicy", "Version": VERSIONS["iam"], "PolicyName": unique("deep"), "PolicyDocument": "[" * 50_000 + "]" * 50_000}, {}),
    ("deeply nested inline policy", {"Action": "PutRolePolicy", "Version": VERSIONS["iam"], "RoleName": "x", "PolicyName": "p", "PolicyDocument": '{"a":' * 2000 + "1" + "}" * 2000}, {}),
    ("bad policy ARN", {"Action": "GetPolicy", "Version": VERSIONS["iam"], "PolicyArn": "arn:::::::::::::"}, {}),
    ("bad version id", {"Action": "GetPolicyVersion", "Version": VERSIONS["iam"], "PolicyArn": "arn:aws:iam::123456789012:policy/p", "VersionId": "v" + "9" * 40}, {}),
    ("tag without key", {"Action": "TagRole", "Version": VERSIONS["iam"], "RoleName": "x", "Tags.member.1.Value": "v"}, {}),
    ("zero tag index", {"Action": "CreateInstanceProfile", "Version": VERSIONS["iam"], "InstanceProfileName": unique("zi"), "Tags.member.0.Key": "k", "Tags.member.99999999999999999999.Key": "k"}, {"may_succeed": True}),
    ("bad MinCount", {"Action": "RunInstances", "Version": VERSIONS["ec2"], "ImageId": "ami-11aa22bb", "MinCount": "one", "MaxCount": "1"}, {}),
    ("huge MaxCount", {"Action": "RunInstances", "Version": VERSIONS["ec2"], "ImageId": "ami-11aa22bb", "MinCount": "1", "MaxCount": "9" * 30}, {}),
    ("i64 MaxCount", {"Action": "RunInstances", "Version": VERSIONS["ec2"], "ImageId": "ami-11aa22bb", "MinCount": "1", "MaxCount": str(2**63 - 1)}, {}),
    ("negative counts", {"Action": "RunInstances", "Version": VERSIONS["ec2"], "ImageId": "ami-11aa22bb", "MinCount": "-5", "MaxCount": "-1"}, {}),
    ("bad hop limit", {"Action": "RunInstances", "Version": VERSIONS["ec2"], "ImageId": "ami-11aa22bb", "MinCount": "1", "MaxCount": "1", "MetadataOptions.HttpPutResponseHopLimit": "99999999999"}, {}),
    ("bad DryRun", {"Action": "DescribeInstances", "Version": VERSIONS["ec2"], "DryRun": "perhaps"}, {}),
    ("bad MaxResults", {"Action": "DescribeInstances", "Version": VERSIONS["ec2"], "MaxResults": "lots"}, {}),
    ("huge MaxResults", {"Action": "DescribeIamInstanceProfileAssociations", "Version": VERSIONS["ec2"], "MaxResults": "9" * 25}, {}),
    ("filter without name", {"Action": "DescribeInstances", "Version": VERSIONS["ec2"], "Filter.1.Value.1": "x"}, {}),
    ("bad instance id", {"Action": "StopInstances", "Version": VERSIONS["ec2"], "InstanceId.1": "i-" + "f" * 5000}, {}),
    ("bad association id", {"Action": "DisassociateIamInstanceProfile", "Version": VERSIONS["ec2"], "AssociationId": "iip-assoc-zz"}, {}),
    ("bad IP", {"Action": "RunInstances", "Version": VERSIONS["ec2"], "ImageId": "ami-11aa22bb", "MinCount": "1", "MaxCount": "1", "PrivateIpAddress": "10.0.0.999"}, {}),
    ("IPv6 IP", {"Action": "RunInstances", "Version": VERSIONS["ec2"], "ImageId": "ami-11aa22bb", "MinCount": "1", "MaxCount": "1", "PrivateIpAddress": "::1"}, {}),
    ("profile with neither", {"Action": "AssociateIamInstanceProfile", "Version": VERSIONS["ec2"], "InstanceId": "i-0123456789abcdef0", "IamInstanceProfile.Bogus": "x"}, {}),
    ("bad tag spec", {"Action": "RunInstances", "Version": VERSIONS["ec2"], "ImageId": "ami-11aa22bb", "MinCount": "1", "MaxCount": "1", "TagSpecification.1.Tag.1.Key": "k"}, {}),
]


@pytest.mark.parametrize("name,params,kw", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_malformed_parameters(open_server, name, params, kw):
    if kw.get("may_succeed"):
        status, resp = post(open_server, form(**params))
        assert status < 500, (status, resp[:300])
        ET.fromstring(resp)
        return
    status, code = expect_error(open_server, form(**params), **kw)
    assert code not in ("InternalFailure", "ServiceFailure"), name


def test_malformed_bodies(open_server):
    iam_v = f"Version={VERSIONS['iam']}".encode()
    cases = [
        b"Action=GetRole&" + iam_v + b"&RoleName=%FF%FE%FD",  # invalid UTF-8 escapes
        b"Action=GetRole&" + iam_v + b"&RoleName=%",  # truncated escape
        b"Action=GetRole&" + iam_v + b"&RoleName=%zz",  # non-hex escape
        b"Action=Get%C3Role&" + iam_v,  # invalid UTF-8 in the action
        b"Action=GetRole&" + iam_v + b"&RoleName=a&RoleName=b%20c",  # duplicated, the second invalid
        b"&&&===&&&" + iam_v,
        b"Action=GetRole&" + iam_v + b"&" + b"X=" * 20000,
        b"Action=ListRoles&" + iam_v + b"&MaxItems=1&MaxItems=zzz&Marker=\xff\xfe",  # raw non-UTF-8 bytes
        os.urandom(4096),
        b"\x00" * 1024,
        b"Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-%FF%FF",
        b"Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3A&Filter.1.Value.1=x",
    ]
    for body in cases:
        status, resp = post(open_server, body)
        assert status < 500, (body[:80], status, resp[:300])
        if status != 200:
            error_code(resp)
    # A body that is not a form is ignored, so the request has no Action.
    status, resp = post(open_server, json.dumps({"Action": "ListRoles"}).encode(), content_type="application/json", query=f"Version={VERSIONS['iam']}")
    assert 400 <= status < 500 and error_code(resp) == "MissingAction"
    # Random bytes labelled as anything.
    for ct in ("application/octet-stream", "text/plain", "application/x-www-form-urlencoded", ""):
        status, resp = post(open_server, os.urandom(2048), content_type=ct or None)
        assert 400 <= status < 500, (ct, status)
        error_code(resp)


def test_duplicated_parameters_use_the_first(open_server):
    iam = raw_client(open_server, "iam", aws_access_key_id="x", aws_secret_access_key="y")
    name = unique("dupe")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    status, resp = post(open_server, f"Action=GetRole&Version={VERSIONS['iam']}&RoleName={name}&RoleName=other".encode())
    assert status == 200 and f"<RoleName>{name}</RoleName>".encode() in resp
    ET.fromstring(resp)


def test_oversized_body(open_server):
    body = form(Action="CreateRole", Version=VERSIONS["iam"], RoleName="big", AssumeRolePolicyDocument="x" * (2 << 20))
    status, resp = post(open_server, body)
    assert 400 <= status < 500, status
    assert error_code(resp)


def test_server_survives_the_garbage(tmp_path):
    """On a server of its own (whatever ran before): all of the garbage above in a row, then the
    server still runs and answers normally."""
    s = Server(tmp_path / "data", extra_args=["--auth", "off"]).start()
    try:
        for name, params, _ in GARBAGE:
            status, resp = post(s, form(**params))
            assert status < 500, (name, status, resp[:300])
        for body in (os.urandom(4096), b"\x00" * 1024, b"Action=GetRole&Version=2010-05-08&RoleName=%FF%FE%FD"):
            assert post(s, body)[0] < 500
        body = form(Action="CreateRole", Version=VERSIONS["iam"], RoleName="big", AssumeRolePolicyDocument="x" * (2 << 20))
        assert 400 <= post(s, body)[0] < 500
        assert s.proc.poll() is None, "the server died"
        sts = raw_client(s, "sts", aws_access_key_id="x", aws_secret_access_key="y")
        assert sts.get_caller_identity()["Arn"].endswith(":root")
        iam = raw_client(s, "iam", aws_access_key_id="x", aws_secret_access_key="y")
        name = unique("after")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
        assert iam.get_role(RoleName=name)["Role"]["RoleName"] == name
    finally:
        s.stop()


# ---------------------------------------------------------------- concurrency


def hammer(server, n_threads, fn):
    """Runs fn(thread_index) in n threads; returns the AWS errors (code, status) they saw. Any
    other exception, a thread still running after HANG seconds, or a dead server fails."""
    seen, crashed, lock = [], [], threading.Lock()

    def run(k):
        try:
            fn(k)
        except ClientError as e:
            with lock:
                seen.append((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))
        except BaseException as e:
            with lock:
                crashed.append((k, repr(e)))

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(n_threads)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + HANG
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not [t for t in threads if t.is_alive()], f"threads still running after {HANG}s"
    assert crashed == [], f"threads failed other than with an AWS error: {crashed}"
    assert server.proc.poll() is None, "the server died"
    return seen


def test_concurrent_writes_never_fail_with_5xx(server):
    """Interleaved creates, attaches, version writes and deletes from many clients: only the
    expected client errors, never a 500 from the database."""
    cfg = Config(retries={"max_attempts": 1}, max_pool_connections=4)
    admin = client_for(server, "iam")
    arn = admin.create_policy(PolicyName=unique("conc"), PolicyDocument=ACCESS)["Policy"]["Arn"]
    prefix = unique("conc")

    def work(k):
        iam = client_for(server, "iam", config=cfg)
        for i in range(12):
            name = f"{prefix}-{k}-{i}"
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=ACCESS)
            iam.delete_role_policy(RoleName=name, PolicyName="inline")
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
            iam.delete_role(RoleName=name)

    errors = []
    for _ in range(2):
        errors += hammer(server, 6, work)
    assert errors == []


def test_concurrent_launches_get_distinct_addresses(server):
    cfg = Config(retries={"max_attempts": 1}, max_pool_connections=4)
    mark = unique("launch")
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "Launch", "Value": mark}]}]

    def work(k):
        ec2 = client_for(server, "ec2", config=cfg)
        for _ in range(6):
            ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=3, TagSpecifications=tags)

    assert hammer(server, 6, work) == []
    ec2 = client_for(server, "ec2")
    insts = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:Launch", "Values": [mark]}])["Reservations"] for i in r["Instances"]]
    assert len(insts) == 6 * 6 * 3
    live = [i["PrivateIpAddress"] for r in ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running", "stopped"]}])["Reservations"] for i in r["Instances"]]
    assert len(live) == len(set(live))


def test_concurrent_tagging_loses_no_tags(server):
    """TagRole from several clients at once: every tag that was acknowledged is kept."""
    cfg = Config(retries={"max_attempts": 1}, max_pool_connections=4)
    name = unique("tags")
    client_for(server, "iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)

    def work(k):
        iam = client_for(server, "iam", config=cfg)
        for i in range(8):
            iam.tag_role(RoleName=name, Tags=[{"Key": f"k{k}-{i}", "Value": "v"}])

    assert hammer(server, 6, work) == []
    tags = client_for(server, "iam").list_role_tags(RoleName=name)["Tags"]
    assert len(tags) == 48


def test_credential_scope_region_is_checked(server):
    """This server is us-east-1: EC2 signed for another region is refused as AWS does; IAM is
    global and accepts us-east-1 (and the server's region)."""
    code, _, message = aws_error(client_for(server, "ec2", region="eu-west-3").describe_instances)
    assert code == "AuthFailure"
    assert "Credential should be scoped to a valid region, not 'eu-west-3'." in message
    client_for(server, "ec2").describe_instances()
    assert aws_error(client_for(server, "iam", region="eu-west-3").list_roles).code == "SignatureDoesNotMatch"
