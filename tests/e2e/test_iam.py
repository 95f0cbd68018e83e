"""IAM (2010-05-08) with boto3: response shapes, pagination and every error code and HTTP status."""

import json
import re
import urllib.parse

import pytest
from support import TRUST_EC2 as TRUST_JSON, RawBodies, assert_recent, aws_error, client_for, iam_pages, make_role, unique

TRUST = json.loads(TRUST_JSON)
ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
ACCESS_JSON = json.dumps(ACCESS)

ROLE_ID = re.compile(r"AROA[A-Z0-9]{17}")
PROFILE_ID = re.compile(r"AIPA[A-Z0-9]{17}")
POLICY_ID = re.compile(r"ANPA[A-Z0-9]{17}")
ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def account(server):
    # From the server's own start-up line, so STS and IAM answers are compared with an
    # independent source.
    return server.account()


def make_policy(iam, name=None, path=None, doc=ACCESS_JSON, **kw):
    name = name or unique("pol")
    args = {"PolicyName": name, "PolicyDocument": doc, **kw}
    if path:
        args["Path"] = path
    return iam.create_policy(**args)["Policy"]


def xml_text(body: str, tag: str) -> str:
    m = re.search(rf"<{tag}>(.*?)</{tag}>", body, re.S)
    assert m, f"<{tag}> not in {body}"
    return m.group(1)


# ---------------------------------------------------------------- roles


def test_create_role_shape(iam, account):
    raw = RawBodies(iam)
    name = unique("app-role")
    role = make_role(iam, name, path="/app/team/", Description="web tier", MaxSessionDuration=7200, Tags=[{"Key": "Env", "Value": "prod"}])
    assert role["RoleName"] == name
    assert role["Path"] == "/app/team/"
    assert role["Arn"] == f"arn:aws:iam::{account}:role/app/team/{name}"
    assert ROLE_ID.fullmatch(role["RoleId"])
    assert role["AssumeRolePolicyDocument"] == TRUST
    assert role["Description"] == "web tier"
    assert role["MaxSessionDuration"] == 7200
    assert role["Tags"] == [{"Key": "Env", "Value": "prod"}]
    assert_recent(role["CreateDate"])
    body = raw.last("CreateRole")
    assert body.startswith("<?xml")
    assert '<CreateRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">' in body
    assert ISO_SECONDS.fullmatch(xml_text(body, "CreateDate"))
    assert re.search(r"<ResponseMetadata><RequestId>[^<]+</RequestId></ResponseMetadata>", body)

    got = iam.get_role(RoleName=name)["Role"]
    for k in ("RoleName", "Path", "Arn", "RoleId", "AssumeRolePolicyDocument", "Description", "MaxSessionDuration", "Tags", "CreateDate"):
        assert got[k] == role[k], k
    # Lookups ignore case, and answer with the name as created.
    assert iam.get_role(RoleName=name.upper())["Role"]["RoleName"] == name


def test_description_round_trips_control_whitespace(iam):
    desc = "line one\r\nline two\ttabbed & <escaped> é"
    name = make_role(iam, Description=desc)["RoleName"]
    assert iam.get_role(RoleName=name)["Role"]["Description"] == desc


def test_role_defaults(iam, account):
    role = make_role(iam)
    assert role["Path"] == "/"
    assert role["Arn"] == f"arn:aws:iam::{account}:role/{role['RoleName']}"
    assert role["MaxSessionDuration"] == 3600
    assert "Description" not in role
    assert "Tags" not in role


def test_policy_documents_round_trip_exactly(iam):
    """Documents come back URL-encoded and decode to exactly the bytes sent (white space, unicode, + & %)."""
    raw = RawBodies(iam)
    doc = (
        '{\n  "Version": "2012-10-17",\n  "Statement": [{"Sid": "ab", "Effect": "Allow",'
        '  "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole",'
        ' "Condition": {"StringLike": {"aws:PrincipalTag/t": "a+b&c=d %41 é ü/?#"}}}]\n}'
    )
    name = unique("rt")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc)
    iam.get_role(RoleName=name)
    encoded = xml_text(raw.last("GetRole"), "AssumeRolePolicyDocument")
    assert "%7B" in encoded and "{" not in encoded and " " not in encoded
    assert urllib.parse.unquote(encoded) == doc
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(doc)

    inline = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/a+b c"}}'
    iam.put_role_policy(RoleName=name, PolicyName="p1", PolicyDocument=inline)
    iam.get_role_policy(RoleName=name, PolicyName="p1")
    assert urllib.parse.unquote(xml_text(raw.last("GetRolePolicy"), "PolicyDocument")) == inline

    pol = make_policy(iam, doc=inline)
    iam.get_policy_version(PolicyArn=pol["Arn"], VersionId="v1")
    assert urllib.parse.unquote(xml_text(raw.last("GetPolicyVersion"), "Document")) == inline


def test_list_roles_path_prefix_and_pagination(iam):
    path = f"/{unique('pg')}/"
    names = sorted(f"r{i}-{unique('x')}" for i in range(7))
    for n in names:
        make_role(iam, n, path=path)
    make_role(iam, path=path[:-1] + "-other/")  # shares the prefix string but not the path
    pages = [p["Roles"] for p in iam_pages(iam.list_roles, PathPrefix=path, MaxItems=3)]
    seen = [r["RoleName"] for page in pages for r in page]
    assert all(r["Path"] == path for page in pages for r in page)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(seen) == names and len(seen) == len(set(seen))
    # Without MaxItems everything under the prefix comes in one page.
    everything = iam.list_roles(PathPrefix=path)
    assert everything["IsTruncated"] is False
    assert sorted(r["RoleName"] for r in everything["Roles"]) == names
    # ListRoles does not return tags, descriptions aside, it returns the Role shape.
    assert ROLE_ID.fullmatch(everything["Roles"][0]["RoleId"])
    # The boto3 paginator uses the same protocol.
    pag = iam.get_paginator("list_roles").paginate(PathPrefix=path, PaginationConfig={"PageSize": 2})
    assert sorted(r["RoleName"] for p in pag for r in p["Roles"]) == names


def test_list_roles_bad_max_items_and_path_prefix(iam):
    assert aws_error(iam.list_roles, MaxItems=1001)[:2] == ("ValidationError", 400)
    assert aws_error(iam.list_roles, PathPrefix="no-slash")[:2] == ("ValidationError", 400)


def test_update_role(iam):
    role = make_role(iam, Description="old")
    name = role["RoleName"]
    assert iam.update_role(RoleName=name, Description="new", MaxSessionDuration=43200)["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = iam.get_role(RoleName=name)["Role"]
    assert got["Description"] == "new"
    assert got["MaxSessionDuration"] == 43200
    assert got["RoleId"] == role["RoleId"]
    assert aws_error(iam.update_role, RoleName=name, MaxSessionDuration=43201)[:2] == ("ValidationError", 400)
    assert aws_error(iam.update_role, RoleName=name, Description="x" * 1001)[:2] == ("ValidationError", 400)
    assert aws_error(iam.update_role, RoleName=unique("missing"), Description="d")[:2] == ("NoSuchEntity", 404)
    assert iam.get_role(RoleName=name)["Role"]["Description"] == "new"
    # UpdateRoleDescription answers with the role as updated.
    described = iam.update_role_description(RoleName=name, Description="newer")["Role"]
    assert (described["RoleName"], described["RoleId"], described["Description"]) == (name, role["RoleId"], "newer")
    assert described["MaxSessionDuration"] == 43200 and described["Arn"] == role["Arn"]
    assert aws_error(iam.update_role_description, RoleName=unique("missing"), Description="d")[:2] == ("NoSuchEntity", 404)


def test_update_assume_role_policy(iam):
    name = make_role(iam)["RoleName"]
    new = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(new))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == new
    assert aws_error(iam.update_assume_role_policy, RoleName=name, PolicyDocument="{nope")[:2] == ("MalformedPolicyDocument", 400)
    assert aws_error(iam.update_assume_role_policy, RoleName=unique("missing"), PolicyDocument=TRUST_JSON)[:2] == ("NoSuchEntity", 404)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == new


def test_role_tags(iam):
    name = make_role(iam, Tags=[{"Key": "a", "Value": "1"}])["RoleName"]
    iam.tag_role(RoleName=name, Tags=[{"Key": "b", "Value": "2"}, {"Key": "A", "Value": "3"}, {"Key": "c", "Value": ""}])
    tags = iam.list_role_tags(RoleName=name)
    assert tags["IsTruncated"] is False
    # Tag keys are case-insensitive: "A" replaced "a".
    assert sorted((t["Key"], t["Value"]) for t in tags["Tags"]) == [("A", "3"), ("b", "2"), ("c", "")]
    page1 = iam.list_role_tags(RoleName=name, MaxItems=2)
    assert page1["IsTruncated"] is True and len(page1["Tags"]) == 2
    page2 = iam.list_role_tags(RoleName=name, MaxItems=2, Marker=page1["Marker"])
    assert page2["IsTruncated"] is False and len(page2["Tags"]) == 1
    assert {t["Key"] for t in page1["Tags"] + page2["Tags"]} == {"A", "b", "c"}
    iam.untag_role(RoleName=name, TagKeys=["b", "nonexistent"])
    assert sorted(t["Key"] for t in iam.list_role_tags(RoleName=name)["Tags"]) == ["A", "c"]
    assert sorted(t["Key"] for t in iam.get_role(RoleName=name)["Role"]["Tags"]) == ["A", "c"]
    assert aws_error(iam.tag_role, RoleName=unique("missing"), Tags=[{"Key": "k", "Value": "v"}])[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.untag_role, RoleName=unique("missing"), TagKeys=["k"])[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.list_role_tags, RoleName=unique("missing"))[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.tag_role, RoleName=name, Tags=[{"Key": "aws:reserved", "Value": "v"}])[:2] == ("InvalidInput", 400)
    assert aws_error(iam.tag_role, RoleName=name, Tags=[{"Key": "k" * 129, "Value": "v"}])[:2] == ("ValidationError", 400)
    assert aws_error(iam.tag_role, RoleName=name, Tags=[{"Key": "k", "Value": "v" * 257}])[:2] == ("ValidationError", 400)
    # \p{Z} admits separators such as U+00A0 but not control characters such as tab.
    assert aws_error(iam.tag_role, RoleName=name, Tags=[{"Key": "k", "Value": "a\tb"}])[:2] == ("ValidationError", 400)
    iam.tag_role(RoleName=name, Tags=[{"Key": "sp ace", "Value": "no\u00a0break é"}])
    assert {"Key": "sp ace", "Value": "no\u00a0break é"} in iam.list_role_tags(RoleName=name)["Tags"]
    iam.untag_role(RoleName=name, TagKeys=["sp ace"])
    assert aws_error(iam.list_role_tags, RoleName=name, Marker="m" * 321)[:2] == ("ValidationError", 400)
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(49)]
    assert aws_error(iam.tag_role, RoleName=name, Tags=too_many)[:2] == ("LimitExceeded", 409)
    assert sorted(t["Key"] for t in iam.list_role_tags(RoleName=name)["Tags"]) == ["A", "c"]


def test_create_role_errors(iam):
    name = unique("dup")
    make_role(iam, name)
    code, status, msg = aws_error(iam.create_role, RoleName=name.upper(), AssumeRolePolicyDocument=TRUST_JSON)
    assert (code, status) == ("EntityAlreadyExists", 409)
    assert aws_error(iam.create_role, RoleName=name, AssumeRolePolicyDocument=TRUST_JSON)[:2] == ("EntityAlreadyExists", 409)
    for bad in ("{not json", "[]", '"str"'):
        assert aws_error(iam.create_role, RoleName=unique("r"), AssumeRolePolicyDocument=bad)[:2] == ("MalformedPolicyDocument", 400), bad
    for bad_name in ("bad name", "a/b", "r" * 65, "tab\t", "ünï"):
        assert aws_error(iam.create_role, RoleName=bad_name, AssumeRolePolicyDocument=TRUST_JSON)[:2] == ("ValidationError", 400), bad_name
    for bad_path in ("/no-trailing", "no-leading/", "//", "/" + "a" * 511 + "/", "/sp ace/"):
        assert aws_error(iam.create_role, RoleName=unique("r"), Path=bad_path, AssumeRolePolicyDocument=TRUST_JSON)[:2] == ("ValidationError", 400), bad_path
    assert aws_error(iam.create_role, RoleName=unique("r"), AssumeRolePolicyDocument=TRUST_JSON, MaxSessionDuration=50000)[:2] == ("ValidationError", 400)
    assert aws_error(iam.create_role, RoleName=unique("r"), AssumeRolePolicyDocument=TRUST_JSON, Description="d" * 1001)[:2] == ("ValidationError", 400)
    # Longest legal name and path are fine.
    longest = ("L" + unique("x")).ljust(64, "z")
    make_role(iam, longest, path="/" + "p" * 510 + "/")
    assert iam.get_role(RoleName=longest)["Role"]["Path"] == "/" + "p" * 510 + "/"
    # Names may use every character of [\w+=,.@-].
    odd = unique("a+b=c,d.e@f_g-h")
    assert make_role(iam, odd)["RoleName"] == odd


def test_policy_grammar_is_validated(iam):
    """Documents are checked as IAM does: a trust policy needs a Principal and may not name a
    Resource; identity policies may not have a Principal; JSON alone is not enough."""
    stmt = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    bad_trust = [
        {},
        {"Version": "2012-10-17"},
        {"Version": "2012-10-17", "Statement": [dict(stmt, Resource="*")]},
        {"Version": "2012-10-17", "Statement": [{k: v for k, v in stmt.items() if k != "Principal"}]},
        {"Version": "2012-10-17", "Statement": [dict(stmt, Effect="Maybe")]},
        {"Version": "2099-01-01", "Statement": [stmt]},
    ]
    for doc in bad_trust:
        assert aws_error(iam.create_role, RoleName=unique("r"), AssumeRolePolicyDocument=json.dumps(doc))[:2] == ("MalformedPolicyDocument", 400), doc
    role = make_role(iam)["RoleName"]
    for doc in bad_trust:
        assert aws_error(iam.update_assume_role_policy, RoleName=role, PolicyDocument=json.dumps(doc))[:2] == ("MalformedPolicyDocument", 400), doc
    bad_identity = [
        {},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]},
    ]
    for doc in bad_identity:
        text = json.dumps(doc)
        assert aws_error(iam.put_role_policy, RoleName=role, PolicyName="p", PolicyDocument=text)[:2] == ("MalformedPolicyDocument", 400), doc
        assert aws_error(iam.create_policy, PolicyName=unique("p"), PolicyDocument=text)[:2] == ("MalformedPolicyDocument", 400), doc
    # Duplicate keys are rejected even though most JSON parsers accept them.
    dup = '{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}'
    assert aws_error(iam.put_role_policy, RoleName=role, PolicyName="p", PolicyDocument=dup)[:2] == ("MalformedPolicyDocument", 400)
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []


def test_trust_policy_size_quota(iam):
    """A role trust policy is limited to 2048 characters, white space not counted (IAM quota ACLSizePerRole)."""
    stmt = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    doc = {"Version": "2012-10-17", "Statement": [dict(stmt, Sid=f"S{i}") for i in range(40)]}
    text = json.dumps(doc, separators=(",", ":"))
    assert len(text) > 2048
    code, status, _ = aws_error(iam.create_role, RoleName=unique("big"), AssumeRolePolicyDocument=text)
    assert (code, status) == ("LimitExceeded", 409)
    # White space is not counted.
    small = {"Version": "2012-10-17", "Statement": [stmt]}
    padded = json.dumps(small, indent=400)
    assert len(padded) > 2048
    assert iam.create_role(RoleName=unique("pad"), AssumeRolePolicyDocument=padded)["Role"]["AssumeRolePolicyDocument"] == small


def test_get_and_delete_role_errors(iam):
    missing = unique("missing")
    assert aws_error(iam.get_role, RoleName=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.delete_role, RoleName=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.get_role, RoleName="bad name!")[:2] == ("ValidationError", 400)
    assert aws_error(iam.get_role, RoleName="r" * 65)[:2] == ("ValidationError", 400)


def test_delete_role_conflicts(iam):
    name = make_role(iam)["RoleName"]
    # Inline policy.
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=ACCESS_JSON)
    assert aws_error(iam.delete_role, RoleName=name)[:2] == ("DeleteConflict", 409)
    iam.delete_role_policy(RoleName=name, PolicyName="inline")
    # Attached managed policy.
    pol = make_policy(iam)
    iam.attach_role_policy(RoleName=name, PolicyArn=pol["Arn"])
    assert aws_error(iam.delete_role, RoleName=name)[:2] == ("DeleteConflict", 409)
    iam.detach_role_policy(RoleName=name, PolicyArn=pol["Arn"])
    # In an instance profile.
    prof = unique("prof")
    iam.create_instance_profile(InstanceProfileName=prof)
    iam.add_role_to_instance_profile(InstanceProfileName=prof, RoleName=name)
    assert aws_error(iam.delete_role, RoleName=name)[:2] == ("DeleteConflict", 409)
    assert iam.get_role(RoleName=name)["Role"]["RoleName"] == name
    iam.remove_role_from_instance_profile(InstanceProfileName=prof, RoleName=name)
    iam.delete_role(RoleName=name)
    assert aws_error(iam.get_role, RoleName=name)[:2] == ("NoSuchEntity", 404)
    # The name is free again, with a new id.
    again = make_role(iam, name.upper())
    assert again["RoleName"] == name.upper()


# ---------------------------------------------------------------- inline role policies


def test_inline_role_policies(iam):
    name = make_role(iam)["RoleName"]
    names = ["p-c", "p-a", "p-b", "p-e", "p-d"]
    for n in names:
        iam.put_role_policy(RoleName=name, PolicyName=n, PolicyDocument=ACCESS_JSON)
    got = iam.get_role_policy(RoleName=name, PolicyName="p-a")
    assert got["RoleName"] == name and got["PolicyName"] == "p-a" and got["PolicyDocument"] == ACCESS
    # Put again replaces the document.
    other = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="p-a", PolicyDocument=json.dumps(other))
    assert iam.get_role_policy(RoleName=name, PolicyName="p-a")["PolicyDocument"] == other
    listed = iam.list_role_policies(RoleName=name)
    assert listed["PolicyNames"] == sorted(names) and listed["IsTruncated"] is False
    seen = [n for page in iam_pages(iam.list_role_policies, RoleName=name, MaxItems=2) for n in page["PolicyNames"]]
    assert seen == sorted(names)
    iam.delete_role_policy(RoleName=name, PolicyName="p-c")
    assert "p-c" not in iam.list_role_policies(RoleName=name)["PolicyNames"]
    assert aws_error(iam.get_role_policy, RoleName=name, PolicyName="p-c")[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.delete_role_policy, RoleName=name, PolicyName="p-c")[:2] == ("NoSuchEntity", 404)
    missing = unique("missing")
    assert aws_error(iam.put_role_policy, RoleName=missing, PolicyName="x", PolicyDocument=ACCESS_JSON)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.get_role_policy, RoleName=missing, PolicyName="x")[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.list_role_policies, RoleName=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.delete_role_policy, RoleName=missing, PolicyName="x")[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.put_role_policy, RoleName=name, PolicyName="x", PolicyDocument="{")[:2] == ("MalformedPolicyDocument", 400)
    assert aws_error(iam.put_role_policy, RoleName=name, PolicyName="bad name", PolicyDocument=ACCESS_JSON)[:2] == ("ValidationError", 400)
    assert aws_error(iam.put_role_policy, RoleName=name, PolicyName="p" * 129, PolicyDocument=ACCESS_JSON)[:2] == ("ValidationError", 400)


def test_inline_policy_size_quota(iam):
    """The inline policies of a role total at most 10,240 characters (white space not counted)."""
    name = make_role(iam)["RoleName"]
    stmt = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + "b" * 100 + "/*"}
    doc = json.dumps({"Version": "2012-10-17", "Statement": [dict(stmt, Sid=f"S{i}") for i in range(80)]}, separators=(",", ":"))
    assert len(doc) > 10240
    assert aws_error(iam.put_role_policy, RoleName=name, PolicyName="big", PolicyDocument=doc)[:2] == ("LimitExceeded", 409)
    # The quota is on the role's total: two documents of ~6,000 characters do not fit together.
    half = json.dumps({"Version": "2012-10-17", "Statement": [dict(stmt, Sid=f"S{i}") for i in range(45)]}, separators=(",", ":"))
    assert 5120 < len(half) < 10240
    iam.put_role_policy(RoleName=name, PolicyName="half1", PolicyDocument=half)
    assert aws_error(iam.put_role_policy, RoleName=name, PolicyName="half2", PolicyDocument=half)[:2] == ("LimitExceeded", 409)
    # Replacing a policy counts its new size instead of its old one.
    iam.put_role_policy(RoleName=name, PolicyName="half1", PolicyDocument=half)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["half1"]


# ---------------------------------------------------------------- managed policies


def test_managed_policy_shape(iam, account):
    raw = RawBodies(iam)
    name = unique("mp")
    pol = make_policy(iam, name, path="/app/team/", Description="desc", Tags=[{"Key": "k", "Value": "v"}])
    assert pol["PolicyName"] == name
    assert pol["Path"] == "/app/team/"
    assert pol["Arn"] == f"arn:aws:iam::{account}:policy/app/team/{name}"
    assert POLICY_ID.fullmatch(pol["PolicyId"])
    assert pol["DefaultVersionId"] == "v1"
    assert pol["AttachmentCount"] == 0
    assert pol["IsAttachable"] is True
    assert_recent(pol["CreateDate"])
    assert ISO_SECONDS.fullmatch(xml_text(raw.last("CreatePolicy"), "UpdateDate"))
    got = iam.get_policy(PolicyArn=pol["Arn"])["Policy"]
    assert got["Description"] == "desc"
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]
    for k in ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "CreateDate"):
        assert got[k] == pol[k], k
    v1 = iam.get_policy_version(PolicyArn=pol["Arn"], VersionId="v1")["PolicyVersion"]
    assert v1["Document"] == ACCESS and v1["IsDefaultVersion"] is True and v1["VersionId"] == "v1"


def test_policy_versions(iam):
    arn = make_policy(iam)["Arn"]
    docs = {}
    for i in range(2, 6):
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": f"s3:Get{i}", "Resource": "*"}]}
        v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc), SetAsDefault=(i == 3))["PolicyVersion"]
        assert v["VersionId"] == f"v{i}"
        assert v["IsDefaultVersion"] is (i == 3)
        assert "Document" not in v
        docs[f"v{i}"] = doc
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    # The sixth version is over the quota of five.
    code, status, _ = aws_error(iam.create_policy_version, PolicyArn=arn, PolicyDocument=ACCESS_JSON, SetAsDefault=True)
    assert (code, status) == ("LimitExceeded", 409)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    versions = iam.list_policy_versions(PolicyArn=arn)
    assert versions["IsTruncated"] is False
    assert sorted(v["VersionId"] for v in versions["Versions"]) == ["v1", "v2", "v3", "v4", "v5"]
    assert [v["VersionId"] for v in versions["Versions"] if v["IsDefaultVersion"]] == ["v3"]
    seen = [v["VersionId"] for page in iam_pages(iam.list_policy_versions, PolicyArn=arn, MaxItems=2) for v in page["Versions"]]
    assert sorted(seen) == ["v1", "v2", "v3", "v4", "v5"] and len(seen) == 5
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v4")["PolicyVersion"]["Document"] == docs["v4"]
    # The default version cannot be deleted; others can.
    assert aws_error(iam.delete_policy_version, PolicyArn=arn, VersionId="v3")[:2] == ("DeleteConflict", 409)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert aws_error(iam.get_policy_version, PolicyArn=arn, VersionId="v2")[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.delete_policy_version, PolicyArn=arn, VersionId="v2")[:2] == ("NoSuchEntity", 404)
    # Version ids are never reused.
    assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=ACCESS_JSON)["PolicyVersion"]["VersionId"] == "v6"
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v6")
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["DefaultVersionId"] == "v6"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]["IsDefaultVersion"] is False
    assert aws_error(iam.set_default_policy_version, PolicyArn=arn, VersionId="v9")[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.set_default_policy_version, PolicyArn=arn, VersionId="bogus")[:2] == ("ValidationError", 400)
    assert aws_error(iam.get_policy_version, PolicyArn=arn, VersionId="v99")[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.create_policy_version, PolicyArn=arn, PolicyDocument="{x")[:2] == ("MalformedPolicyDocument", 400)
    # A policy with non-default versions cannot be deleted.
    assert aws_error(iam.delete_policy, PolicyArn=arn)[:2] == ("DeleteConflict", 409)
    for v in ("v1", "v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    iam.delete_policy(PolicyArn=arn)
    assert aws_error(iam.get_policy, PolicyArn=arn)[:2] == ("NoSuchEntity", 404)


def test_managed_policy_errors(iam, account):
    name = unique("mpdup")
    make_policy(iam, name)
    assert aws_error(iam.create_policy, PolicyName=name.upper(), PolicyDocument=ACCESS_JSON)[:2] == ("EntityAlreadyExists", 409)
    # Same name under another path is still a duplicate (names are unique per account).
    assert aws_error(iam.create_policy, PolicyName=name, Path="/other/", PolicyDocument=ACCESS_JSON)[:2] == ("EntityAlreadyExists", 409)
    assert aws_error(iam.create_policy, PolicyName=unique("m"), PolicyDocument="not json")[:2] == ("MalformedPolicyDocument", 400)
    assert aws_error(iam.create_policy, PolicyName="bad name", PolicyDocument=ACCESS_JSON)[:2] == ("ValidationError", 400)
    assert aws_error(iam.create_policy, PolicyName="m" * 129, PolicyDocument=ACCESS_JSON)[:2] == ("ValidationError", 400)
    assert aws_error(iam.create_policy, PolicyName=unique("m"), Path="/bad", PolicyDocument=ACCESS_JSON)[:2] == ("ValidationError", 400)
    missing = f"arn:aws:iam::{account}:policy/{unique('nope')}"
    assert aws_error(iam.get_policy, PolicyArn=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.delete_policy, PolicyArn=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.get_policy_version, PolicyArn=missing, VersionId="v1")[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.list_policy_versions, PolicyArn=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.create_policy_version, PolicyArn=missing, PolicyDocument=ACCESS_JSON)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.get_policy, PolicyArn="not-an-arn-at-all-really")[:2] == ("InvalidInput", 400)


def test_managed_policy_size_quota(iam):
    """Managed policy documents are limited to 6,144 characters, white space not counted."""
    stmt = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + "b" * 100 + "/*"}
    doc = json.dumps({"Version": "2012-10-17", "Statement": [dict(stmt, Sid=f"S{i}") for i in range(50)]}, separators=(",", ":"))
    assert 6144 < len(doc) < 10240
    assert aws_error(iam.create_policy, PolicyName=unique("big"), PolicyDocument=doc)[:2] == ("LimitExceeded", 409)
    padded = json.dumps(ACCESS, indent=1000)
    assert len(padded) > 6144
    make_policy(iam, doc=padded)


def test_list_policies_pagination_and_scope(iam):
    path = f"/{unique('pp')}/"
    names = sorted(unique(f"mp{i}") for i in range(7))
    arns = {n: make_policy(iam, n, path=path)["Arn"] for n in names}
    pages = [p["Policies"] for p in iam_pages(iam.list_policies, Scope="Local", PathPrefix=path, MaxItems=3)]
    seen = [p["PolicyName"] for page in pages for p in page]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(seen) == names and len(set(seen)) == 7
    # No AWS managed policies exist here.
    assert iam.list_policies(Scope="AWS", PathPrefix=path)["Policies"] == []
    assert aws_error(iam.list_policies, Scope="Nope")[:2] == ("ValidationError", 400)
    # OnlyAttached.
    role = make_role(iam)["RoleName"]
    iam.attach_role_policy(RoleName=role, PolicyArn=arns[names[2]])
    attached = iam.list_policies(PathPrefix=path, OnlyAttached=True)["Policies"]
    assert [p["PolicyName"] for p in attached] == [names[2]]
    assert attached[0]["AttachmentCount"] == 1


def test_attach_detach_role_policies(iam):
    role = make_role(iam)["RoleName"]
    path = f"/{unique('ap')}/"
    pols = [make_policy(iam, path=path) for _ in range(4)]
    for p in pols:
        iam.attach_role_policy(RoleName=role, PolicyArn=p["Arn"])
    iam.attach_role_policy(RoleName=role, PolicyArn=pols[0]["Arn"])  # attaching twice is a no-op
    assert iam.get_policy(PolicyArn=pols[0]["Arn"])["Policy"]["AttachmentCount"] == 1
    listed = iam.list_attached_role_policies(RoleName=role)
    assert listed["IsTruncated"] is False
    assert sorted((a["PolicyName"], a["PolicyArn"]) for a in listed["AttachedPolicies"]) == sorted((p["PolicyName"], p["Arn"]) for p in pols)
    assert len(iam.list_attached_role_policies(RoleName=role, PathPrefix=path)["AttachedPolicies"]) == 4
    assert iam.list_attached_role_policies(RoleName=role, PathPrefix="/elsewhere/")["AttachedPolicies"] == []
    pages = iam_pages(iam.list_attached_role_policies, RoleName=role, MaxItems=3)
    seen = [a["PolicyArn"] for page in pages for a in page["AttachedPolicies"]]
    assert sorted(seen) == sorted(p["Arn"] for p in pols)
    # An attached policy cannot be deleted.
    assert aws_error(iam.delete_policy, PolicyArn=pols[1]["Arn"])[:2] == ("DeleteConflict", 409)
    iam.detach_role_policy(RoleName=role, PolicyArn=pols[1]["Arn"])
    assert aws_error(iam.detach_role_policy, RoleName=role, PolicyArn=pols[1]["Arn"])[:2] == ("NoSuchEntity", 404)
    iam.delete_policy(PolicyArn=pols[1]["Arn"])
    assert len(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]) == 3
    missing_arn = pols[1]["Arn"]
    assert aws_error(iam.attach_role_policy, RoleName=role, PolicyArn=missing_arn)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.attach_role_policy, RoleName=unique("missing"), PolicyArn=pols[0]["Arn"])[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.list_attached_role_policies, RoleName=unique("missing"))[:2] == ("NoSuchEntity", 404)


# ---------------------------------------------------------------- instance profiles


def test_instance_profile_shape(iam, account):
    raw = RawBodies(iam)
    name = unique("ip")
    prof = iam.create_instance_profile(InstanceProfileName=name, Path="/app/team/", Tags=[{"Key": "t", "Value": "1"}])["InstanceProfile"]
    assert prof["InstanceProfileName"] == name
    assert prof["Path"] == "/app/team/"
    assert prof["Arn"] == f"arn:aws:iam::{account}:instance-profile/app/team/{name}"
    assert PROFILE_ID.fullmatch(prof["InstanceProfileId"])
    assert prof["Roles"] == []
    assert prof["Tags"] == [{"Key": "t", "Value": "1"}]
    assert_recent(prof["CreateDate"])
    assert ISO_SECONDS.fullmatch(xml_text(raw.last("CreateInstanceProfile"), "CreateDate"))
    role = make_role(iam, path="/svc/")
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    got = iam.get_instance_profile(InstanceProfileName=name.upper())["InstanceProfile"]
    assert got["InstanceProfileId"] == prof["InstanceProfileId"]
    [r] = got["Roles"]
    assert r["RoleName"] == role["RoleName"] and r["Arn"] == role["Arn"] and r["RoleId"] == role["RoleId"]
    assert r["AssumeRolePolicyDocument"] == TRUST
    for_role = iam.list_instance_profiles_for_role(RoleName=role["RoleName"])
    assert [p["InstanceProfileName"] for p in for_role["InstanceProfiles"]] == [name]
    assert for_role["IsTruncated"] is False
    # Removing the role empties the profile.
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    assert iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"] == []
    assert iam.list_instance_profiles_for_role(RoleName=role["RoleName"])["InstanceProfiles"] == []
    iam.delete_instance_profile(InstanceProfileName=name)
    assert aws_error(iam.get_instance_profile, InstanceProfileName=name)[:2] == ("NoSuchEntity", 404)


def test_instance_profile_errors(iam):
    name = unique("ipdup")
    iam.create_instance_profile(InstanceProfileName=name)
    assert aws_error(iam.create_instance_profile, InstanceProfileName=name.upper())[:2] == ("EntityAlreadyExists", 409)
    assert aws_error(iam.create_instance_profile, InstanceProfileName="bad name")[:2] == ("ValidationError", 400)
    assert aws_error(iam.create_instance_profile, InstanceProfileName="p" * 129)[:2] == ("ValidationError", 400)
    assert aws_error(iam.create_instance_profile, InstanceProfileName=unique("p"), Path="bad/")[:2] == ("ValidationError", 400)
    missing = unique("missing")
    assert aws_error(iam.get_instance_profile, InstanceProfileName=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.delete_instance_profile, InstanceProfileName=missing)[:2] == ("NoSuchEntity", 404)
    r1, r2 = make_role(iam)["RoleName"], make_role(iam)["RoleName"]
    assert aws_error(iam.add_role_to_instance_profile, InstanceProfileName=missing, RoleName=r1)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.add_role_to_instance_profile, InstanceProfileName=name, RoleName=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.remove_role_from_instance_profile, InstanceProfileName=name, RoleName=r1)[:2] == ("NoSuchEntity", 404)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=r1)
    # One role per instance profile.
    assert aws_error(iam.add_role_to_instance_profile, InstanceProfileName=name, RoleName=r2)[:2] == ("LimitExceeded", 409)
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]] == [r1]
    # A profile holding a role cannot be deleted.
    assert aws_error(iam.delete_instance_profile, InstanceProfileName=name)[:2] == ("DeleteConflict", 409)
    assert aws_error(iam.list_instance_profiles_for_role, RoleName=missing)[:2] == ("NoSuchEntity", 404)
    # One role may be in several profiles.
    other = unique("ip2")
    iam.create_instance_profile(InstanceProfileName=other)
    iam.add_role_to_instance_profile(InstanceProfileName=other, RoleName=r1)
    assert sorted(p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName=r1)["InstanceProfiles"]) == sorted([name, other])


def test_list_instance_profiles_pagination(iam):
    path = f"/{unique('ipp')}/"
    names = sorted(unique(f"ip{i}") for i in range(7))
    for n in names:
        iam.create_instance_profile(InstanceProfileName=n, Path=path)
    pages = [p["InstanceProfiles"] for p in iam_pages(iam.list_instance_profiles, PathPrefix=path, MaxItems=3)]
    seen = [p["InstanceProfileName"] for page in pages for p in page]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(seen) == names and len(set(seen)) == 7
    # ListInstanceProfilesForRole pages too.
    role = make_role(iam)["RoleName"]
    for n in names[:4]:
        iam.add_role_to_instance_profile(InstanceProfileName=n, RoleName=role)
    p1 = iam.list_instance_profiles_for_role(RoleName=role, MaxItems=3)
    assert p1["IsTruncated"] is True and len(p1["InstanceProfiles"]) == 3
    p2 = iam.list_instance_profiles_for_role(RoleName=role, MaxItems=3, Marker=p1["Marker"])
    assert p2["IsTruncated"] is False
    assert sorted(p["InstanceProfileName"] for p in p1["InstanceProfiles"] + p2["InstanceProfiles"]) == names[:4]


def test_instance_profile_tags(iam):
    name = unique("ipt")
    iam.create_instance_profile(InstanceProfileName=name)
    assert iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"] == []
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}])
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "B", "Value": "22"}])
    tags = iam.list_instance_profile_tags(InstanceProfileName=name)
    assert sorted((t["Key"], t["Value"]) for t in tags["Tags"]) == [("B", "22"), ("a", "1"), ("c", "3")]
    p1 = iam.list_instance_profile_tags(InstanceProfileName=name, MaxItems=2)
    assert p1["IsTruncated"] is True
    p2 = iam.list_instance_profile_tags(InstanceProfileName=name, MaxItems=2, Marker=p1["Marker"])
    assert sorted(t["Key"] for t in p1["Tags"] + p2["Tags"]) == ["B", "a", "c"]
    iam.untag_instance_profile(InstanceProfileName=name, TagKeys=["a"])
    assert sorted(t["Key"] for t in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Tags"]) == ["B", "c"]
    missing = unique("missing")
    assert aws_error(iam.tag_instance_profile, InstanceProfileName=missing, Tags=[{"Key": "k", "Value": "v"}])[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.untag_instance_profile, InstanceProfileName=missing, TagKeys=["k"])[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.list_instance_profile_tags, InstanceProfileName=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.tag_instance_profile, InstanceProfileName=name, Tags=[{"Key": "bad#key", "Value": "v"}])[:2] == ("ValidationError", 400)


def test_error_envelope_shape(iam):
    raw = RawBodies(iam)
    aws_error(iam.get_role, RoleName=unique("missing"))
    body = raw.last("GetRole")
    assert re.search(
        r'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>[^<]+</Message></Error><RequestId>[^<]+</RequestId></ErrorResponse>',
        body,
    ), body


def test_get_caller_identity(sts, account):
    ident = sts.get_caller_identity()
    assert ident["Account"] == account and re.fullmatch(r"\d{12}", account)
    assert ident["Arn"] == f"arn:aws:iam::{account}:root"
    assert ident["UserId"] == account
