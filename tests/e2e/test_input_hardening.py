"""Input hardening (issue #9, items 3 and 4): what is executed is what was signed, tag lists are
bounded before they cost anything, EC2 text fields refuse control characters, foreign pagination
tokens are refused, data files are private, and `--auth off` stays on loopback."""

import json
import os
import stat
import subprocess
import urllib.parse
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from support import BINARY, Server, aws_error, client_for, free_port, unique

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def presigned_url(server, params):
    """A SigV4-presigned GET for the IAM Query API, as botocore signs it (values %-encoded)."""
    env = server.env()
    creds = botocore.credentials.Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    url = server.endpoint + "/?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    req = botocore.awsrequest.AWSRequest(method="GET", url=url)
    botocore.auth.SigV4QueryAuth(creds, "iam", "us-east-1", expires=300).add_auth(req)
    return req.prepare().url


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_signature_covers_exactly_the_value_executed(server, iam):
    """`Description=a%2Bb` signed, sent as `a+b`: the server may accept it (clients that sign a
    literal plus exist) but must then store `a+b`, the signed value, never `a b`."""
    role = unique("plus")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    url = presigned_url(server, {"Action": "UpdateRole", "Version": "2010-05-08", "RoleName": role, "Description": "a+b"})
    assert "Description=a%2Bb" in url
    status, body = get(url.replace("Description=a%2Bb", "Description=a+b"))
    assert status == 200, body
    assert iam.get_role(RoleName=role)["Role"]["Description"] == "a+b"
    # A space signed as %20 and sent as `+` (botocore's own wire form) is a space.
    url = presigned_url(server, {"Action": "UpdateRole", "Version": "2010-05-08", "RoleName": role, "Description": "c d"})
    assert "Description=c%20d" in url
    status, body = get(url.replace("Description=c%20d", "Description=c+d"))
    assert status == 200, body
    assert iam.get_role(RoleName=role)["Role"]["Description"] == "c d"
    # Anything else is not what was signed.
    status, body = get(url.replace("Description=c%20d", "Description=c%2Bd"))
    assert status == 403 and "SignatureDoesNotMatch" in body, body


def test_tag_lists_are_bounded_first(server, iam):
    role = unique("tags")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(10_000)]
    code, status, message = aws_error(iam.tag_role, RoleName=role, Tags=many)
    assert (code, status) == ("ValidationError", 400)
    assert message.endswith("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"), message
    assert len(message) < 400
    code, status, _ = aws_error(iam.create_role, RoleName=unique("tags"), AssumeRolePolicyDocument=TRUST, Tags=many[:51])
    assert (code, status) == ("ValidationError", 400)
    # Duplicate keys (any case) among a valid count are still refused.
    code, _, message = aws_error(iam.tag_role, RoleName=role, Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert code == "InvalidInput" and "Duplicate tag keys" in message
    iam.tag_role(RoleName=role, Tags=many[:50])
    assert len(iam.list_role_tags(RoleName=role)["Tags"]) == 50


@pytest.mark.parametrize("field,value", [
    ("InstanceType", "t3.micro\x00"),
    ("InstanceType", "not a type"),
    ("KeyName", "key\x00name"),
    ("KeyName", "key\x1b[31mname"),
    ("ClientToken", "tok\nen"),
    ("ClientToken", "x" * 65),
    ("SecurityGroups", ["grp\x07"]),
    ("TagValue", "bell\x07"),
    ("TagKey", "k\x00"),
])
def test_ec2_text_fields_refuse_control_characters(server, ec2, field, value):
    args = dict(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)
    if field == "TagValue":
        args["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [{"Key": "k", "Value": value}]}]
    elif field == "TagKey":
        args["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [{"Key": value, "Value": "v"}]}]
    else:
        args[field] = value
    before = len(ec2.describe_instances()["Reservations"])
    code, status, message = aws_error(ec2.run_instances, **args)
    assert (code, status) == ("InvalidParameterValue", 400), message
    assert "\x00" not in message and "\x07" not in message and "\x1b" not in message
    assert len(ec2.describe_instances()["Reservations"]) == before


def test_foreign_pagination_tokens_are_refused(server, iam, ec2):
    for _ in range(3):
        iam.create_role(RoleName=unique("page"), AssumeRolePolicyDocument=TRUST)
    first = iam.list_roles(MaxItems=1)
    assert first["IsTruncated"]
    assert iam.list_roles(MaxItems=1, Marker=first["Marker"])["Roles"][0]["RoleName"] != first["Roles"][0]["RoleName"]
    for bad in ["garbage", first["Roles"][0]["RoleName"].lower(), first["Marker"][:-2]]:
        assert aws_error(iam.list_roles, Marker=bad) == ("ValidationError", 400, "Invalid Marker."), bad
    role = first["Roles"][0]["RoleName"]
    assert aws_error(iam.list_role_tags, RoleName=role, Marker="garbage")[:2] == ("ValidationError", 400)

    for _ in range(6):
        ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)
    page = ec2.describe_instances(MaxResults=5)
    assert page["NextToken"]
    ec2.describe_instances(MaxResults=5, NextToken=page["NextToken"])
    iid = page["Reservations"][0]["Instances"][0]["InstanceId"]
    for bad in ["garbage", iid]:
        code, status, message = aws_error(ec2.describe_instances, MaxResults=5, NextToken=bad)
        assert (code, status) == ("InvalidParameterValue", 400)
        assert message == f"Value ( {bad} ) for parameter NextToken is invalid. The token is invalid."
    assert aws_error(ec2.describe_iam_instance_profile_associations, MaxResults=5, NextToken="garbage")[:2] == ("InvalidParameterValue", 400)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_data_files_are_private(tmp_path):
    s = Server(tmp_path / "data").start()
    try:
        client_for(s, "iam").create_role(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST)  # writes the WAL
        files = sorted(p.name for p in (tmp_path / "data").iterdir())
        assert {"rolecall.db", "rolecall.db-wal", "rolecall.db-shm", "endpoint", "master.key"} <= set(files), files
        assert mode(tmp_path / "data") == 0o700
        for name in files:
            assert mode(tmp_path / "data" / name) == 0o600, (name, oct(mode(tmp_path / "data" / name)))
    finally:
        s.stop()
    # A directory loosened by hand (or by an older version) is tightened on start, with a log line.
    os.chmod(tmp_path / "data", 0o755)
    for name in ("rolecall.db", "endpoint"):
        os.chmod(tmp_path / "data" / name, 0o644)
    s = Server(tmp_path / "data").start()
    try:
        assert mode(tmp_path / "data") == 0o700
        assert mode(tmp_path / "data" / "rolecall.db") == 0o600
        assert mode(tmp_path / "data" / "endpoint") == 0o600
    finally:
        s.stop()
    assert "data was accessible to other users: restricted to its owner" in s.log.read_text()


def test_exec_keeps_the_callers_umask(imds_server):
    """rolecall's private umask is its own: commands run by `rolecall exec` create files as the
    caller would."""
    inst = client_for(imds_server, "ec2").run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    old = os.umask(0o022)
    try:
        out = imds_server.exec(inst, "sh", "-c", "umask").stdout.strip()
    finally:
        os.umask(old)
    assert out == "0022", out


def test_auth_off_refuses_non_loopback_addresses(tmp_path):
    # 0.0.0.0 (every interface) is not loopback. Nothing here connects to it.
    addr = f"0.0.0.0:{free_port()}"
    p = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(tmp_path / "a"), "--listen", addr, "--auth", "off"],
        capture_output=True, text=True, timeout=60,
    )
    assert p.returncode != 0
    assert "not a loopback address" in p.stderr and "--insecure-allow-remote-auth-off" in p.stderr, p.stderr
    # Forced, it starts, and says so loudly.
    proc = subprocess.Popen(
        [str(BINARY), "serve", "--data-dir", str(tmp_path / "b"), "--listen", addr, "--auth", "off", "--insecure-allow-remote-auth-off"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "AUTHENTICATION IS OFF" in line or "listening" in line:
                break
        assert any("AUTHENTICATION IS OFF" in line for line in seen), seen
    finally:
        proc.kill()
        proc.wait(timeout=10)
