"""IAM users, access keys, groups and permissions boundaries, enforced on real requests."""

import json

import botocore.exceptions
import pytest

from support import TRUST_EC2, allow, aws_error, client_for, doc, unique


def user_clients(server, iam, name):
    key = iam.create_access_key(UserName=name)["AccessKey"]
    kw = dict(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    return key, client_for(server, "iam", **kw), client_for(server, "sts", **kw), client_for(server, "ec2", **kw)


def test_user_lifecycle_and_keys(server, iam):
    name = unique("alice")
    user = iam.create_user(UserName=name, Path="/team/")["User"]
    assert user["Arn"].endswith(f":user/team/{name}") and user["UserId"].startswith("AIDA")
    assert aws_error(iam.create_user, UserName=name.upper())[0] == "EntityAlreadyExists"
    key, u_iam, u_sts, _ = user_clients(server, iam, name)
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    ident = u_sts.get_caller_identity()
    assert ident["Arn"] == user["Arn"] and ident["UserId"] == user["UserId"]
    # GetUser with no name answers for the caller (allowed by a policy on the caller's ARN).
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=doc(allow("iam:GetUser", user["Arn"])))
    assert u_iam.get_user()["User"]["UserName"] == name
    # At most two keys.
    iam.create_access_key(UserName=name)
    assert aws_error(iam.create_access_key, UserName=name)[0] == "LimitExceeded"
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert len(keys) == 2 and all(k["Status"] == "Active" for k in keys)
    last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert last["UserName"] == name and last["AccessKeyLastUsed"]["ServiceName"] in ("sts", "iam")
    # An inactive key stops working at once; reactivated, it works again.
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert aws_error(u_sts.get_caller_identity)[0] == "InvalidClientTokenId"
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert u_sts.get_caller_identity()["Arn"] == user["Arn"]
    # A user with keys or policies cannot be deleted.
    assert aws_error(iam.delete_user, UserName=name)[0] == "DeleteConflict"
    for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    assert aws_error(u_sts.get_caller_identity)[0] == "InvalidClientTokenId"
    iam.delete_user_policy(UserName=name, PolicyName="self")
    iam.delete_user(UserName=name)
    assert aws_error(iam.get_user, UserName=name)[0] == "NoSuchEntity"


def test_user_permissions_groups_deny_and_boundary(server, iam):
    name = unique("bob")
    user = iam.create_user(UserName=name)["User"]
    account = user["Arn"].split(":")[4]
    _, u_iam, u_sts, u_ec2 = user_clients(server, iam, name)

    code, status, message = aws_error(u_iam.list_roles)
    assert (code, status) == ("AccessDenied", 403)
    assert message == (
        f"User: {user['Arn']} is not authorized to perform: iam:ListRoles on resource: arn:aws:iam::{account}:role/ "
        "because no identity-based policy allows the iam:ListRoles action"
    )
    code, status, message = aws_error(u_ec2.describe_instances)
    assert code == "UnauthorizedOperation" and status == 403

    # A group's policies apply to its members.
    group = unique("devs")
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="list", PolicyDocument=doc(allow(["iam:ListRoles", "ec2:Describe*"])))
    iam.add_user_to_group(GroupName=group, UserName=name)
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [group]
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [name]
    u_iam.list_roles()
    u_ec2.describe_instances()

    # An explicit deny attached to the user wins over the group's allow.
    deny = iam.create_policy(
        PolicyName=unique("deny"),
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"}]}),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=deny)
    assert iam.list_attached_user_policies(UserName=name)["AttachedPolicies"][0]["PolicyArn"] == deny
    code, _, message = aws_error(u_iam.list_roles)
    assert code == "AccessDenied" and message.endswith("with an explicit deny in an identity-based policy")
    iam.detach_user_policy(UserName=name, PolicyArn=deny)
    u_iam.list_roles()

    # A permissions boundary caps what the policies grant.
    boundary = iam.create_policy(PolicyName=unique("boundary"), PolicyDocument=doc(allow("ec2:DescribeInstances")))["Policy"]["Arn"]
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary)
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    code, _, message = aws_error(u_iam.list_roles)
    assert code == "AccessDenied" and message.endswith("because no permissions boundary allows the iam:ListRoles action")
    u_ec2.describe_instances()
    iam.delete_user_permissions_boundary(UserName=name)
    u_iam.list_roles()

    # Removing the user from the group removes the group's grants.
    iam.remove_user_from_group(GroupName=group, UserName=name)
    assert aws_error(u_iam.list_roles)[0] == "AccessDenied"
    assert aws_error(iam.delete_group, GroupName=group)[0] == "DeleteConflict"
    iam.delete_group_policy(GroupName=group, PolicyName="list")
    iam.delete_group(GroupName=group)


def test_role_boundary(server, iam):
    role = unique("bounded")
    trust = TRUST_EC2
    boundary = iam.create_policy(PolicyName=unique("rb"), PolicyDocument=doc(allow("s3:*")))["Policy"]["Arn"]
    r = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary)["Role"]
    assert r["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    assert iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    iam.delete_role_permissions_boundary(RoleName=role)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=role)["Role"]
    assert aws_error(iam.put_role_permissions_boundary, RoleName=role, PermissionsBoundary=f"arn:aws:iam::{r['Arn'].split(':')[4]}:policy/nope")[0] == "InvalidInput"


def test_inline_policy_quota_is_per_user(iam):
    """A user's inline policies share one 2,048-character quota (white space not counted)."""
    name = unique("quota")
    iam.create_user(UserName=name)
    def doc(n):
        actions = [f"s3:GetObject{i:04d}" for i in range(n)]
        return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    iam.put_user_policy(UserName=name, PolicyName="a", PolicyDocument=doc(50))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.put_user_policy(UserName=name, PolicyName="b", PolicyDocument=doc(50))
    assert e.value.response["Error"]["Code"] == "LimitExceeded"
    # Replacing the same policy counts only once.
    iam.put_user_policy(UserName=name, PolicyName="a", PolicyDocument=doc(51))
