"""The audit trail: CloudTrail records of every request and IMDS issuance, looked up with the
real `aws cloudtrail lookup-events`, never holding a secret, durable with the write they describe."""

import json
import secrets
import socket
import subprocess
import sys
import urllib.parse

import pytest

from support import BINARY, Server, aws_error, client_for, creds_kw, eventually, launch, role_with_profile, unique
from support import TRUST_EC2

LOOKUP_AND_CREATE_ROLE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:GetRole"], "Resource": "*"},
]})


def lookup(cli, key, value, *extra):
    """All events lookup-events finds for one attribute (the CLI pages through NextToken)."""
    out = cli.json("cloudtrail", "lookup-events", "--lookup-attributes", f"AttributeKey={key},AttributeValue={value}", *extra)
    return out["Events"]


def record(event) -> dict:
    return json.loads(event["CloudTrailEvent"])


def user_with_key(iam, policy=None):
    name = unique("alice")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def cli_as(cli, key):
    """The aws CLI environment of `cli`, as the IAM user of access key `key`."""
    env = dict(cli.env, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    return env


def run_aws(env, *args):
    return subprocess.run(["aws", *args, "--output", "json"], env=env, capture_output=True, text=True)


def test_users_create_role_found_by_username_and_by_event_name(server, cli, iam):
    name, key = user_with_key(iam, LOOKUP_AND_CREATE_ROLE)
    role = unique("audited")
    p = run_aws(cli_as(cli, key), "iam", "create-role", "--role-name", role, "--assume-role-policy-document", TRUST_EC2)
    assert p.returncode == 0, p.stderr

    by_user = [e for e in lookup(cli, "Username", name) if e["EventName"] == "CreateRole"]
    assert len(by_user) == 1, by_user
    e = by_user[0]
    assert e["Username"] == name and e["AccessKeyId"] == key["AccessKeyId"]
    assert e["EventSource"] == "iam.amazonaws.com" and e["ReadOnly"] == "false"
    assert {"ResourceType": "AWS::IAM::Role", "ResourceName": role} in e["Resources"]
    r = record(e)
    who = r["userIdentity"]
    assert who["type"] == "IAMUser" and who["userName"] == name
    assert who["arn"] == f"arn:aws:iam::{server.account()}:user/{name}"
    assert who["accessKeyId"] == key["AccessKeyId"] and who["principalId"].startswith("AIDA")
    assert r["eventVersion"] == "1.08" and r["eventType"] == "AwsApiCall" and r["eventName"] == "CreateRole"
    assert r["requestParameters"]["roleName"] == role
    # The policy document as CloudTrail records it: the string the caller sent.
    assert json.loads(r["requestParameters"]["assumeRolePolicyDocument"]) == json.loads(TRUST_EC2)
    assert r["responseElements"]["role"]["roleName"] == role
    assert r["sourceIPAddress"] == "127.0.0.1" and r["userAgent"].startswith("aws-cli/")
    assert r["recipientAccountId"] == server.account() and len(r["eventID"]) == 36

    by_name = lookup(cli, "EventName", "CreateRole")
    assert [x["EventId"] for x in by_name if x["EventId"] == e["EventId"]] == [e["EventId"]]
    by_id = lookup(cli, "EventId", e["EventId"])
    assert [x["EventId"] for x in by_id] == [e["EventId"]]
    by_resource = lookup(cli, "ResourceName", role)
    assert e["EventId"] in [x["EventId"] for x in by_resource]

    # A read's event names what it read too (reads keep their draft beside the call, not in
    # the task's pending slot that writes use).
    p = run_aws(cli_as(cli, key), "iam", "get-role", "--role-name", role)
    assert p.returncode == 0, p.stderr

    def read():
        found = [x for x in lookup(cli, "ResourceName", role) if x["EventName"] == "GetRole"]
        return found[0] if found else None

    eventually(read, "the GetRole's event")
    got = read()
    assert got["Username"] == name and got["ReadOnly"] == "true"
    assert {"ResourceType": "AWS::IAM::Role", "ResourceName": role} in got["Resources"]
    assert record(got)["resources"] == [
        {"accountId": server.account(), "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{server.account()}:role/{role}"}
    ]


def test_refused_call_is_recorded_with_access_denied_and_counted(server, cli, iam):
    name, key = user_with_key(iam)
    env = cli_as(cli, key)
    target = unique("nope")
    p = run_aws(env, "iam", "delete-role", "--role-name", target)
    assert p.returncode != 0 and "AccessDenied" in p.stderr

    def refused():
        found = [e for e in lookup(cli, "Username", name) if e["EventName"] == "DeleteRole"]
        return found[0] if found else None

    eventually(refused, "the refused DeleteRole's event")
    r = record(refused())
    assert r["errorCode"] == "AccessDenied"
    assert "is not authorized to perform: iam:DeleteRole" in r["errorMessage"]
    assert r["userIdentity"]["userName"] == name and r["requestParameters"] == {"roleName": target}
    metrics = subprocess.run(["curl", "-s", f"{server.endpoint}/metrics"], capture_output=True, text=True).stdout
    assert 'rolecall_api_refusals_total{service="iam",action="DeleteRole",code="AccessDenied"}' in metrics


def test_failed_authentication_is_recorded(server, cli):
    env = dict(cli.env, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    p = run_aws(env, "iam", "get-role", "--role-name", "x")
    assert p.returncode != 0 and "InvalidClientTokenId" in p.stderr

    def found():
        return [e for e in lookup(cli, "AccessKeyId", "AKIAIOSFODNN7EXAMPLE") if record(e)["errorCode"] == "InvalidClientTokenId"]

    eventually(found, "the failed authentication's event")
    r = record(found()[0])
    assert r["eventName"] == "GetRole" and r["userIdentity"]["accessKeyId"] == "AKIAIOSFODNN7EXAMPLE"


def claimed_signature(key_id: str) -> str:
    """The head of a request claiming to be signed by `key_id` for IAM (never verified: the
    requests below are refused before their signatures are read)."""
    return (f"Authorization: AWS4-HMAC-SHA256 Credential={key_id}/20260101/us-east-1/iam/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}\r\nX-Amz-Date: 20260101T000000Z\r\n")


def raw_request(server, head: str, body: bytes, timeout: float) -> str:
    """Sends a POST with `head`'s extra headers and `body` on a fresh connection, returns the
    status line of the answer (empty if the server closed the connection without one)."""
    url = urllib.parse.urlparse(server.endpoint)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as s:
        s.sendall(f"POST /?Action=GetRole HTTP/1.1\r\nHost: {url.netloc}\r\n{head}\r\n".encode())
        try:
            s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
    return answer.split(b"\r\n", 1)[0].decode()


def rejected_event(cli, key_id: str, code: str):
    def found():
        return [e for e in lookup(cli, "AccessKeyId", key_id) if record(e).get("errorCode") == code]

    eventually(found, f"the {code} rejection's event")
    events = found()
    assert len(events) == 1, events
    return events[0]


def test_request_too_large_is_recorded_without_its_body(server, cli):
    key_id = "AKIA" + secrets.token_hex(8).upper()
    marker = "BODY-MARKER-" + secrets.token_hex(8)
    body = ("Action=GetRole&Version=2010-05-08&RoleName=" + marker * 100_000).encode()
    head = claimed_signature(key_id) + f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
    assert raw_request(server, head, body, timeout=30).startswith("HTTP/1.1 413")

    e = rejected_event(cli, key_id, "RequestEntityTooLarge")
    assert marker not in e["CloudTrailEvent"]
    r = record(e)
    assert r["eventSource"] == "iam.amazonaws.com" and r["eventName"] == "GetRole"
    assert r["userIdentity"] == {"type": "Unknown", "accessKeyId": key_id}
    assert r["requestParameters"] is None and r["sourceIPAddress"] == "127.0.0.1"


def test_request_body_too_slow_is_recorded(server, cli):
    key_id = "AKIA" + secrets.token_hex(8).upper()
    # Promises 100 bytes, sends 10, then waits past the server's 30 s body deadline.
    head = claimed_signature(key_id) + "Content-Length: 100\r\n"
    assert raw_request(server, head, b"Action=Get", timeout=60).startswith("HTTP/1.1 408")

    r = record(rejected_event(cli, key_id, "RequestTimeout"))
    assert r["eventName"] == "GetRole" and r["requestParameters"] is None


def test_lookup_events_pages_newest_first(server, iam):
    ct = client_for(server, "cloudtrail")
    roles = [unique("paged") for _ in range(5)]
    for r in roles:
        iam.create_role(RoleName=r, AssumeRolePolicyDocument=TRUST_EC2)
    attrs = [{"AttributeKey": "EventName", "AttributeValue": "CreateRole"}]
    seen, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        out = ct.lookup_events(LookupAttributes=attrs, MaxResults=2, **kw)
        assert len(out["Events"]) <= 2
        seen += out["Events"]
        pages += 1
        token = out.get("NextToken")
        if not token:
            break
    ids = [e["EventId"] for e in seen]
    assert len(ids) == len(set(ids)) and pages >= 3
    names = [record(e)["requestParameters"]["roleName"] for e in seen]
    mine = [n for n in names if n in roles]
    assert mine == list(reversed(roles)), "newest first"
    times = [e["EventTime"] for e in seen]
    assert times == sorted(times, reverse=True)
    # A page token is opaque: one this server did not issue is refused.
    assert aws_error(ct.lookup_events, NextToken="bm90LWEtdG9rZW4=").code == "InvalidNextTokenException"


def test_lookup_events_input_errors(server):
    ct = client_for(server, "cloudtrail")
    two = [{"AttributeKey": "EventName", "AttributeValue": "A"}, {"AttributeKey": "Username", "AttributeValue": "b"}]
    assert aws_error(ct.lookup_events, LookupAttributes=two).code == "InvalidLookupAttributesException"
    assert aws_error(ct.lookup_events, MaxResults=51).code == "InvalidMaxResultsException"
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    assert aws_error(ct.lookup_events, StartTime=now, EndTime=now - datetime.timedelta(hours=1)).code == "InvalidTimeRangeException"


def test_lookup_events_needs_cloudtrail_permission(server, cli, iam):
    name, key = user_with_key(iam)
    p = run_aws(cli_as(cli, key), "cloudtrail", "lookup-events")
    assert p.returncode != 0
    assert "AccessDenied" in p.stderr and "cloudtrail:LookupEvents" in p.stderr
    iam.put_user_policy(UserName=name, PolicyName="ct", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}))
    p = run_aws(cli_as(cli, key), "cloudtrail", "lookup-events", "--max-results", "1")
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["Events"]) >= 1


def test_instance_call_carries_the_instance(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role, profile, *_ = role_with_profile(iam)
    inst = launch(ec2, profile)["InstanceId"]
    p = imds_server.exec(inst, "aws", "sts", "get-caller-identity", "--output", "json")
    assert json.loads(p.stdout)["Arn"].endswith(f"assumed-role/{role}/{inst}")
    ct = client_for(imds_server, "cloudtrail")
    attrs = [{"AttributeKey": "Username", "AttributeValue": inst}]

    def call():
        return [e for e in ct.lookup_events(LookupAttributes=attrs)["Events"] if e["EventName"] == "GetCallerIdentity"]

    eventually(call, "the instance's GetCallerIdentity event")
    r = record(call()[0])
    who = r["userIdentity"]
    assert who["type"] == "AssumedRole" and who["arn"].endswith(f":assumed-role/{role}/{inst}")
    assert who["accessKeyId"].startswith("ASIA")
    ctx = who["sessionContext"]
    assert ctx["sessionIssuer"]["userName"] == role and ctx["sessionIssuer"]["type"] == "Role"
    assert ctx["sessionIssuer"]["arn"].endswith(f":role/{role}")
    assert ctx["ec2SourceInstanceArn"].endswith(f":instance/{inst}")
    assert ctx["attributes"]["creationDate"].endswith("Z")

    # The issuance itself: EC2 assuming the role for the instance.
    issued = [e for e in ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": inst}])["Events"]
              if e["EventName"] == "AssumeRole"]
    assert issued, "IMDS issuance event"
    i = record(issued[0])
    assert i["userIdentity"] == {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    assert i["requestParameters"]["roleSessionName"] == inst
    assert i["responseElements"]["credentials"]["accessKeyId"] == who["accessKeyId"]
    assert set(i["responseElements"]["credentials"]) == {"accessKeyId", "expiration"}


def test_instance_call_carries_role_delivery(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role, profile, *_ = role_with_profile(iam)
    inst = launch(ec2, profile)["InstanceId"]
    imds_server.exec(inst, "aws", "sts", "get-caller-identity")
    ct = client_for(imds_server, "cloudtrail")
    attrs = [{"AttributeKey": "Username", "AttributeValue": inst}]
    eventually(lambda: ct.lookup_events(LookupAttributes=attrs)["Events"], "the instance's event")
    r = record(ct.lookup_events(LookupAttributes=attrs)["Events"][0])
    assert r["userIdentity"]["sessionContext"]["ec2RoleDelivery"] in ("1.0", "2.0")


def test_no_event_holds_a_secret(imds_server):
    """Every secret, session token and password this test sees is absent from every event."""
    iam, ec2, sts = (client_for(imds_server, s) for s in ("iam", "ec2", "sts"))
    env = imds_server.env()
    secrets = [env["AWS_SECRET_ACCESS_KEY"]]
    name, key = user_with_key(iam, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateRole", "sts:AssumeRole"], "Resource": "*"}]}))
    secrets.append(key["SecretAccessKey"])
    second = iam.create_access_key(UserName=name)["AccessKey"]
    secrets.append(second["SecretAccessKey"])
    client_for(imds_server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"]).create_role(
        RoleName=unique("s"), AssumeRolePolicyDocument=TRUST_EC2)
    role = iam.create_role(RoleName=unique("assumable"), AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{imds_server.account()}:root"}, "Action": "sts:AssumeRole"}]}))["Role"]
    user_sts = client_for(imds_server, "sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assumed = user_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")["Credentials"]
    secrets += [assumed["SecretAccessKey"], assumed["SessionToken"]]
    session = user_sts.get_session_token()["Credentials"]
    secrets += [session["SecretAccessKey"], session["SessionToken"]]
    client_for(imds_server, "sts", **creds_kw(assumed)).get_caller_identity()
    client_for(imds_server, "sts", **creds_kw(session)).get_caller_identity()
    # Instance credentials, as the instance reads them from IMDS.
    _, profile, *_ = role_with_profile(iam)
    inst = launch(ec2, profile)["InstanceId"]
    script = ("import boto3, json; c = boto3.Session().get_credentials().get_frozen_credentials(); "
              "boto3.client('sts').get_caller_identity(); "
              "print(json.dumps({'SecretAccessKey': c.secret_key, 'SessionToken': c.token}))")
    creds = json.loads(imds_server.exec(inst, sys.executable, "-c", script).stdout)
    secrets += [creds["SecretAccessKey"], creds["SessionToken"]]

    out = []

    def all_events():
        args = [str(BINARY), *imds_server.global_args, "audit", "--data-dir", str(imds_server.data_dir)]
        out[:] = subprocess.run(args, check=True, capture_output=True, text=True).stdout.splitlines()
        events = [json.loads(line) for line in out]
        # Batched events (the reads above) have arrived.
        return any(e["eventName"] == "GetCallerIdentity" and e["userIdentity"].get("arn", "").endswith(f"/{inst}") for e in events) \
            and any(e["eventName"] == "GetSessionToken" for e in events)

    eventually(all_events, "the test's events")
    assert len(out) > 10
    for line in out:
        for s in secrets:
            assert s not in line, f"a secret in an event: {line[:200]}"
    assumes = [json.loads(line) for line in out if '"AssumeRole"' in line and '"s1"' in line]
    assert assumes and set(assumes[0]["responseElements"]["credentials"]) == {"accessKeyId", "expiration"}
    keys = [json.loads(line) for line in out if '"CreateAccessKey"' in line and second["AccessKeyId"] in line]
    assert keys and "secretAccessKey" not in keys[0]["responseElements"]["accessKey"]


def test_write_and_its_event_survive_kill_9(tmp_path, databases):
    s = Server(tmp_path / "data", database_url=databases())
    s.start()
    try:
        iam = client_for(s, "iam")
        role = unique("durable")
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
        s.stop(kill=True)
        s.start()
        assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role
        events = client_for(s, "cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": role}])["Events"]
        assert [e["EventName"] for e in events if e["EventName"] == "CreateRole"] == ["CreateRole"]
    finally:
        s.stop()


def test_rolecall_audit_follow_prints_new_events(server, iam, tmp_path):
    out = tmp_path / "follow.jsonl"
    args = [str(BINARY), *server.global_args, "audit", "--data-dir", str(server.data_dir), "--since", "1m", "--follow"]
    with open(out, "w") as f:
        follower = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)
    try:
        role = unique("followed")
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)

        def printed():
            lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
            return [e for e in lines if e["eventName"] == "CreateRole" and e["requestParameters"]["roleName"] == role]

        eventually(printed, "the new CreateRole printed by rolecall audit --follow", retry_on=(ValueError,))
        assert len(printed()) == 1
    finally:
        follower.kill()
        follower.wait()
