"""STS AssumeRole (trust policies, ExternalId, durations, session policies) and GetSessionToken."""

import json

import botocore.exceptions
import pytest

from support import TRUST_EC2, aws_error, client_for, doc, unique


def new_user(server, iam, policy=None):
    name = unique("u")
    user = iam.create_user(UserName=name)["User"]
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    kw = dict(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    return user, client_for(server, "sts", **kw), kw


def clients_from(server, creds):
    kw = dict(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    return {s: client_for(server, s, **kw) for s in ("sts", "iam", "ec2")}


def test_trust_policy_rules(server, iam, sts):
    account = sts.get_caller_identity()["Account"]
    alice, alice_sts, _ = new_user(server, iam)
    # A trust policy naming the user is enough on its own (same account).
    direct = unique("direct")
    r = iam.create_role(RoleName=direct, AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": alice["Arn"]}, "Action": "sts:AssumeRole"}))["Role"]
    out = alice_sts.assume_role(RoleArn=r["Arn"], RoleSessionName="s1")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/{direct}/s1"
    assert out["AssumedRoleUser"]["AssumedRoleId"] == f"{r['RoleId']}:s1"
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    ident = clients_from(server, out["Credentials"])["sts"].get_caller_identity()
    assert ident["Arn"] == out["AssumedRoleUser"]["Arn"] and ident["UserId"] == f"{r['RoleId']}:s1"

    # A trust policy naming the account needs an identity policy too.
    via_account = unique("acct")
    r2 = iam.create_role(RoleName=via_account, AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}))["Role"]
    code, _, message = aws_error(alice_sts.assume_role, RoleArn=r2["Arn"], RoleSessionName="s2")
    assert code == "AccessDenied" and f"is not authorized to perform: sts:AssumeRole on resource: {r2['Arn']}" in message
    iam.put_user_policy(UserName=alice["UserName"], PolicyName="assume", PolicyDocument=doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": r2["Arn"]}))
    alice_sts.assume_role(RoleArn=r2["Arn"], RoleSessionName="s2")

    # A role that trusts only EC2 cannot be assumed by users, even with an identity policy.
    ec2_only = iam.create_role(RoleName=unique("ec2"), AssumeRolePolicyDocument=TRUST_EC2)["Role"]
    iam.put_user_policy(UserName=alice["UserName"], PolicyName="assume", PolicyDocument=doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    assert aws_error(alice_sts.assume_role, RoleArn=ec2_only["Arn"], RoleSessionName="s3")[0] == "AccessDenied"
    # Unknown roles look the same as refused ones; the root may not assume roles.
    assert aws_error(alice_sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/{unique('nope')}", RoleSessionName="s4")[0] == "AccessDenied"
    code, _, message = aws_error(sts.assume_role, RoleArn=r["Arn"], RoleSessionName="s5")
    assert code == "AccessDenied" and "root" in message


def test_external_id_duration_and_session_name(server, iam):
    alice, alice_sts, _ = new_user(server, iam)
    role = iam.create_role(
        RoleName=unique("ext"),
        MaxSessionDuration=7200,
        AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": alice["Arn"]}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "s3cr3t-id"}}}),
    )["Role"]
    assert aws_error(alice_sts.assume_role, RoleArn=role["Arn"], RoleSessionName="x1")[0] == "AccessDenied"
    assert aws_error(alice_sts.assume_role, RoleArn=role["Arn"], RoleSessionName="x1", ExternalId="wrong-id")[0] == "AccessDenied"
    out = alice_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="x1", ExternalId="s3cr3t-id", DurationSeconds=7200)
    assert out["Credentials"]["SessionToken"]
    code, _, message = aws_error(alice_sts.assume_role, RoleArn=role["Arn"], RoleSessionName="x1", ExternalId="s3cr3t-id", DurationSeconds=7201)
    assert code == "ValidationError" and "MaxSessionDuration" in message
    assert aws_error(alice_sts.assume_role, RoleArn=role["Arn"], RoleSessionName="bad name!", ExternalId="s3cr3t-id")[0] == "ValidationError"


def test_session_policy_caps_role_permissions(server, iam):
    alice, alice_sts, _ = new_user(server, iam)
    role = iam.create_role(RoleName=unique("capped"), AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": alice["Arn"]}, "Action": "sts:AssumeRole"}))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="both", PolicyDocument=doc({"Effect": "Allow", "Action": ["iam:ListRoles", "ec2:DescribeInstances"], "Resource": "*"}))
    full = clients_from(server, alice_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="full")["Credentials"])
    full["iam"].list_roles()
    full["ec2"].describe_instances()
    out = alice_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="capped", Policy=doc({"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}))
    assert "PackedPolicySize" in out
    capped = clients_from(server, out["Credentials"])
    capped["ec2"].describe_instances()
    code, _, message = aws_error(capped["iam"].list_roles)
    assert code == "AccessDenied" and message.endswith("because no session policy allows the iam:ListRoles action")
    # A session policy never grants more than the role has.
    wide = clients_from(server, alice_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="wide", Policy=doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))["Credentials"])
    assert aws_error(wide["iam"].list_users)[0] == "AccessDenied"
    # Managed session policies (PolicyArns) cap the same way.
    managed = iam.create_policy(PolicyName=unique("sp"), PolicyDocument=doc({"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}))["Policy"]["Arn"]
    by_arn = clients_from(server, alice_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="byarn", PolicyArns=[{"arn": managed}])["Credentials"])
    by_arn["iam"].list_roles()
    assert aws_error(by_arn["ec2"].describe_instances)[0] == "UnauthorizedOperation"
    assert aws_error(alice_sts.assume_role, RoleArn=role["Arn"], RoleSessionName="bad", Policy="{not json")[0] == "MalformedPolicyDocument"


def test_get_session_token(server, iam):
    alice, alice_sts, _ = new_user(server, iam, policy=doc({"Effect": "Allow", "Action": ["ec2:DescribeInstances", "iam:ListRoles"], "Resource": "*"}))
    creds = alice_sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    c = clients_from(server, creds)
    assert c["sts"].get_caller_identity()["Arn"] == alice["Arn"]
    c["ec2"].describe_instances()
    code, _, message = aws_error(c["iam"].list_roles)
    assert code == "AccessDenied" and "MFA" in message
    assert aws_error(c["sts"].get_session_token)[0] == "AccessDenied"
    # A tampered session token is rejected.
    bad = dict(creds, SessionToken=creds["SessionToken"][:-8] + "AAAAAAA=")
    assert aws_error(clients_from(server, bad)["sts"].get_caller_identity)[0] == "InvalidClientTokenId"


def test_session_tags_are_principal_tags(server, iam):
    """Session tags passed to AssumeRole become aws:PrincipalTag/* of the session (and need
    sts:TagSession in the trust policy, as in AWS)."""
    alice, alice_sts, _ = new_user(server, iam)
    role = iam.create_role(
        RoleName=unique("tagged"),
        AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": alice["Arn"]}, "Action": ["sts:AssumeRole", "sts:TagSession"]}),
        Tags=[{"Key": "team", "Value": "red"}],
    )["Role"]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="by-tag",
        PolicyDocument=doc({"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}),
    )
    # The role's own tag says red: no access.
    red = clients_from(server, alice_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="red")["Credentials"])
    assert aws_error(red["iam"].list_roles)[0] == "AccessDenied"
    # A session tag overrides it for this session only.
    blue = clients_from(server, alice_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="blue", Tags=[{"Key": "team", "Value": "blue"}])["Credentials"])
    blue["iam"].list_roles()
    # Without sts:TagSession in the trust policy, tags are refused (untagged sessions still work).
    plain = iam.create_role(RoleName=unique("plain"), AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": alice["Arn"]}, "Action": "sts:AssumeRole"}))["Role"]
    code, _, message = aws_error(alice_sts.assume_role, RoleArn=plain["Arn"], RoleSessionName="tt", Tags=[{"Key": "team", "Value": "blue"}])
    assert code == "AccessDenied" and "sts:TagSession" in message
    alice_sts.assume_role(RoleArn=plain["Arn"], RoleSessionName="tt")


def test_root_session_token_cannot_call_iam(server, sts):
    """Root GetSessionToken credentials keep root's power except IAM (which needs MFA)."""
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    c = clients_from(server, creds)
    assert c["sts"].get_caller_identity()["Arn"].endswith(":root")
    c["ec2"].describe_instances()
    code, _, message = aws_error(c["iam"].list_roles)
    assert code == "AccessDenied" and "MFA" in message
    assert aws_error(c["sts"].get_session_token)[0] == "AccessDenied"
