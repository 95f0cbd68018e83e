"""STS GetFederationToken: call shape, input rules, authorization, and what the federated user's
credentials may do (the caller's identity policies intersected with the session policies)."""

import datetime

import pytest
from botocore.config import Config

from support import aws_error, allow, client_for, creds_kw, doc, unique

FEDERATE = allow("sts:GetFederationToken")


def new_user(server, iam, *statements, validate=True):
    name = unique("fu")
    user = iam.create_user(UserName=name)["User"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    # Without client-side validation, so the server's own input rules are what is tested.
    config = Config(parameter_validation=validate)
    return user, client_for(server, "sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"], config=config)


def federated(server, creds):
    kw = creds_kw(creds)
    return {s: client_for(server, s, **kw) for s in ("sts", "iam", "ec2")}


def test_call_shape_and_caller_identity(server, iam, sts):
    account = sts.get_caller_identity()["Account"]
    _, user_sts = new_user(server, iam, FEDERATE, allow("ec2:Describe*"))
    out = user_sts.get_federation_token(Name="fed.user@x", Policy=doc(allow("ec2:DescribeInstances")))
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SecretAccessKey"] and creds["SessionToken"]
    assert isinstance(creds["Expiration"], datetime.datetime)
    assert out["FederatedUser"] == {"FederatedUserId": f"{account}:fed.user@x", "Arn": f"arn:aws:sts::{account}:federated-user/fed.user@x"}
    assert isinstance(out["PackedPolicySize"], int) and 0 < out["PackedPolicySize"] < 100
    ident = federated(server, creds)["sts"].get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{account}:federated-user/fed.user@x"
    assert ident["UserId"] == f"{account}:fed.user@x" and ident["Account"] == account


def test_duration_default_and_bounds(server, iam, sts):
    _, user_sts = new_user(server, iam, FEDERATE)
    policy = doc(allow("ec2:DescribeInstances"))
    before = datetime.datetime.now(datetime.timezone.utc)
    default = user_sts.get_federation_token(Name="dflt", Policy=policy)["Credentials"]["Expiration"]
    # Default 12 hours (43200 s): well past 11 hours, not past 13.
    assert before + datetime.timedelta(hours=11) < default < before + datetime.timedelta(hours=13)
    long = user_sts.get_federation_token(Name="long", Policy=policy, DurationSeconds=129600)["Credentials"]["Expiration"]
    assert long > before + datetime.timedelta(hours=35)
    # The root's sessions last at most an hour, whatever it asks for.
    root = sts.get_federation_token(Name="rootfed", Policy=policy, DurationSeconds=7200)["Credentials"]["Expiration"]
    assert root < before + datetime.timedelta(minutes=65)


@pytest.mark.parametrize(
    "kwargs, code, needle",
    [
        ({"Name": "a"}, "ValidationError", "at 'name' failed to satisfy constraint"),
        ({"Name": "x" * 33}, "ValidationError", "length between 2 and 32"),
        ({"Name": "bad name!"}, "ValidationError", "regular expression pattern"),
        ({"Name": "okname", "DurationSeconds": 899}, "ValidationError", "greater than or equal to 900"),
        ({"Name": "okname", "DurationSeconds": 129601}, "ValidationError", "less than or equal to 129600"),
        ({"Name": "okname", "Policy": "{not json"}, "MalformedPolicyDocument", ""),
        ({"Name": "okname", "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/NoSuchPolicyHere"}]}, "InvalidParameterValue", "does not exist"),
    ],
)
def test_validation_errors(server, iam, kwargs, code, needle):
    _, user_sts = new_user(server, iam, FEDERATE, validate=False)
    got = aws_error(user_sts.get_federation_token, **kwargs)
    assert got.code == code and got.status == 400 and needle in got.message, got


def test_authorized_on_the_federated_user_arn(server, iam, sts):
    account = sts.get_caller_identity()["Account"]
    _, nobody_sts = new_user(server, iam)
    got = aws_error(nobody_sts.get_federation_token, Name="anyone")
    assert got.code == "AccessDenied" and f"sts:GetFederationToken on resource: arn:aws:sts::{account}:federated-user/anyone" in got.message
    _, scoped_sts = new_user(server, iam, allow("sts:GetFederationToken", f"arn:aws:sts::{account}:federated-user/team-*"))
    assert scoped_sts.get_federation_token(Name="team-a")["FederatedUser"]["Arn"].endswith("/team-a")
    assert aws_error(scoped_sts.get_federation_token, Name="other")[0] == "AccessDenied"


def test_session_policy_intersection(server, iam):
    user, user_sts = new_user(server, iam, FEDERATE, allow("ec2:DescribeInstances"), allow("ec2:DescribeVpcs"))
    # Without a session policy the federated user may do nothing.
    bare = federated(server, user_sts.get_federation_token(Name="bare")["Credentials"])
    got = aws_error(bare["ec2"].describe_instances)
    assert got.code == "UnauthorizedOperation" and "federated-user/bare" in got.message
    # Session policy * ∩ identity: DescribeInstances and DescribeVpcs allowed, DescribeSubnets not.
    wide = federated(server, user_sts.get_federation_token(Name="wide", Policy=doc(allow("*")))["Credentials"])
    wide["ec2"].describe_instances()
    wide["ec2"].describe_vpcs()
    assert aws_error(wide["ec2"].describe_subnets)[0] == "UnauthorizedOperation"
    # Session policy DescribeInstances only: DescribeVpcs refused although the user may.
    narrow = federated(server, user_sts.get_federation_token(Name="narrow", Policy=doc(allow("ec2:DescribeInstances")))["Credentials"])
    narrow["ec2"].describe_instances()
    assert aws_error(narrow["ec2"].describe_vpcs)[0] == "UnauthorizedOperation"
    # A managed policy as the session policy works the same.
    arn = iam.create_policy(PolicyName=unique("fedsp"), PolicyDocument=doc(allow("ec2:DescribeVpcs")))["Policy"]["Arn"]
    managed = federated(server, user_sts.get_federation_token(Name="managed", PolicyArns=[{"arn": arn}])["Credentials"])
    managed["ec2"].describe_vpcs()
    assert aws_error(managed["ec2"].describe_instances)[0] == "UnauthorizedOperation"
    # The user's policies are read at request time: removing them takes effect at once.
    iam.delete_user_policy(UserName=user["UserName"], PolicyName="p")
    assert aws_error(wide["ec2"].describe_instances)[0] == "UnauthorizedOperation"


def test_no_iam_and_only_get_caller_identity_of_sts(server, iam):
    role = iam.create_role(RoleName=unique("fedr"), AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))["Role"]
    _, user_sts = new_user(server, iam, allow("*"))
    fed = federated(server, user_sts.get_federation_token(Name="admin", Policy=doc(allow("*")))["Credentials"])
    for call, kw in ((fed["iam"].list_users, {}), (fed["iam"].get_user, {}), (fed["iam"].create_user, {"UserName": unique("x")})):
        got = aws_error(call, **kw)
        assert got.code == "AccessDenied" and got.status == 403, got
    assert aws_error(fed["sts"].get_session_token)[0] == "AccessDenied"
    assert aws_error(fed["sts"].get_federation_token, Name="again")[0] == "AccessDenied"
    assert aws_error(fed["sts"].assume_role, RoleArn=role["Arn"], RoleSessionName="s1")[0] == "AccessDenied"
    assert fed["sts"].get_caller_identity()["Arn"].endswith(":federated-user/admin")
    fed["ec2"].describe_instances()


def test_temporary_credentials_may_not_call_it(server, iam):
    user, user_sts = new_user(server, iam, allow("*"))
    session = federated(server, user_sts.get_session_token()["Credentials"])
    got = aws_error(session["sts"].get_federation_token, Name="fromsession")
    assert got.code == "AccessDenied" and got.status == 403
    role = iam.create_role(RoleName=unique("fedr"), AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="all", PolicyDocument=doc(allow("*")))
    assumed = federated(server, user_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")["Credentials"])
    got = aws_error(assumed["sts"].get_federation_token, Name="fromrole")
    assert got.code == "AccessDenied" and got.status == 403
