"""iam:PassRole on every path by which a role can come to serve credentials to an instance:
launch, associate, replace, add-role-to-profile and remove-then-add, for users with and without
PassRole on the role in question; and what IMDS then serves (never a role nobody passed)."""

import json
import urllib.error
import urllib.request

import pytest

from support import client_for, unique

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})

# Everything needed to build and change instance profiles and associations, but no PassRole.
LAUNCHER_ACTIONS = [
    "ec2:RunInstances",
    "ec2:AssociateIamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "ec2:DisassociateIamInstanceProfile",
    "iam:CreateInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
]


def make_role(iam, admin=False):
    name = unique("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    if admin:
        iam.put_role_policy(RoleName=name, PolicyName="admin", PolicyDocument=ADMIN)
    return name, arn


def make_profile(iam, role=None):
    name = unique("profile")
    iam.create_instance_profile(InstanceProfileName=name)
    if role:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    return name


def launcher(server, iam, pass_role_arns):
    """An IAM user with LAUNCHER_ACTIONS and PassRole on exactly `pass_role_arns`."""
    statements = [{"Effect": "Allow", "Action": LAUNCHER_ACTIONS, "Resource": "*"}]
    if pass_role_arns:
        statements.append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": pass_role_arns})
    user = unique("launcher")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    creds = dict(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    return client_for(server, "iam", **creds), client_for(server, "ec2", **creds)


def refused_passrole(fn, role_arn, **kw):
    """Calls fn, which must be refused for lack of iam:PassRole on role_arn."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as e:
        fn(**kw)
    err = e.value.response["Error"]
    assert err["Code"] in ("AccessDenied", "UnauthorizedOperation"), err
    assert f"iam:PassRole on resource: {role_arn}" in err["Message"], err["Message"]


def launch(ec2, profile=None):
    args = dict(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)
    if profile:
        args["IamInstanceProfile"] = {"Name": profile}
    return ec2.run_instances(**args)["Instances"][0]["InstanceId"]


def served_roles(server, instance_id):
    """The role names IMDS lists for the instance (empty when it serves none)."""
    endpoint = server.exec_env(instance_id)["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
    url = endpoint.rstrip("/") + "/latest/meta-data/iam/security-credentials/"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return [line for line in r.read().decode().splitlines() if line]
    except urllib.error.HTTPError as e:
        assert e.code == 404, e.code
        return []


@pytest.fixture
def root(imds_server):
    return client_for(imds_server, "iam"), client_for(imds_server, "ec2")


@pytest.fixture(params=[True, False], ids=["with-passrole", "without-passrole"])
def allowed(request):
    """Whether the launcher holds iam:PassRole on the role it passes."""
    return request.param


def passes_role(imds_server, inst, call, role, allowed, before=(), **kw):
    """The launcher's `call(**kw)` passes `role` (name, ARN) to running `inst`: with PassRole it
    succeeds and the instance is served the role; without, it is refused and the instance is still
    served `before`."""
    name, arn = role
    if allowed:
        call(**kw)
        assert served_roles(imds_server, inst) == [name]
    else:
        refused_passrole(call, arn, **kw)
        assert served_roles(imds_server, inst) == list(before)


def test_launch(imds_server, root, allowed):
    iam, _ = root
    role, arn = make_role(iam)
    profile = make_profile(iam, role)
    _, u_ec2 = launcher(imds_server, iam, [arn] if allowed else [])
    if allowed:
        assert served_roles(imds_server, launch(u_ec2, profile)) == [role]
    else:
        refused_passrole(u_ec2.run_instances, arn, ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile})


def test_associate(imds_server, root, allowed):
    iam, _ = root
    role, arn = make_role(iam)
    profile = make_profile(iam, role)
    _, u_ec2 = launcher(imds_server, iam, [arn] if allowed else [])
    inst = launch(u_ec2)
    passes_role(imds_server, inst, u_ec2.associate_iam_instance_profile, (role, arn), allowed, InstanceId=inst, IamInstanceProfile={"Name": profile})


def test_replace(imds_server, root, allowed):
    iam, _ = root
    role_a, arn_a = make_role(iam)
    role_b, arn_b = make_role(iam, admin=True)
    profile_a, profile_b = make_profile(iam, role_a), make_profile(iam, role_b)
    _, u_ec2 = launcher(imds_server, iam, [arn_a, arn_b] if allowed else [arn_a])
    inst = launch(u_ec2, profile_a)
    # The launcher may not describe; the root looks the association up.
    assoc_id = root[1].describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [inst]}])["IamInstanceProfileAssociations"][0]["AssociationId"]
    replace = u_ec2.replace_iam_instance_profile_association
    passes_role(imds_server, inst, replace, (role_b, arn_b), allowed, before=[role_a], AssociationId=assoc_id, IamInstanceProfile={"Name": profile_b})


def test_add_role_to_profile_of_a_running_instance(imds_server, root, allowed):
    """The reported bypass: launch with an empty profile (no role, so no PassRole at launch),
    then put an administrator role into the profile."""
    iam, _ = root
    admin, admin_arn = make_role(iam, admin=True)
    u_iam, u_ec2 = launcher(imds_server, iam, [admin_arn] if allowed else [])
    profile = unique("empty")
    u_iam.create_instance_profile(InstanceProfileName=profile)
    inst = launch(u_ec2, profile)
    assert served_roles(imds_server, inst) == []
    passes_role(imds_server, inst, u_iam.add_role_to_instance_profile, (admin, admin_arn), allowed, InstanceProfileName=profile, RoleName=admin)
    if not allowed:
        assert iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"] == []


def test_remove_then_add(imds_server, root, allowed):
    """Variant: PassRole on role A only; launch with profile(A), remove A, add B."""
    iam, _ = root
    role_a, arn_a = make_role(iam)
    role_b, arn_b = make_role(iam, admin=True)
    u_iam, u_ec2 = launcher(imds_server, iam, [arn_a, arn_b] if allowed else [arn_a])
    profile = unique("profile")
    u_iam.create_instance_profile(InstanceProfileName=profile)
    u_iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role_a)
    inst = launch(u_ec2, profile)
    assert served_roles(imds_server, inst) == [role_a]
    u_iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role_a)
    assert served_roles(imds_server, inst) == []
    passes_role(imds_server, inst, u_iam.add_role_to_instance_profile, (role_b, arn_b), allowed, InstanceProfileName=profile, RoleName=role_b)


def test_add_role_passrole_context(imds_server, root):
    """AddRoleToInstanceProfile's PassRole carries iam:PassedToService ec2.amazonaws.com and the
    associated resource AWS documents for it (arn:aws:ec2:*:ACCOUNT:instance/*)."""
    iam, _ = root
    role, arn = make_role(iam)
    account = arn.split(":")[4]
    user = unique("scoped")
    iam.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": arn, "Condition": {
            "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"},
            "ArnLike": {"iam:AssociatedResourceArn": f"arn:aws:ec2:*:{account}:instance/*"}}},
    ]}
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    u_iam = client_for(imds_server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    profile = unique("profile")
    u_iam.create_instance_profile(InstanceProfileName=profile)
    u_iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    # Passing to another service only is not enough.
    policy["Statement"][1]["Condition"]["StringEquals"]["iam:PassedToService"] = "lambda.amazonaws.com"
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    other = unique("profile")
    u_iam.create_instance_profile(InstanceProfileName=other)
    refused_passrole(u_iam.add_role_to_instance_profile, arn, InstanceProfileName=other, RoleName=role)
