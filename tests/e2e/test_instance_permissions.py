"""Instance credentials carry exactly their role's permissions, changes apply on the next request."""

import json

from support import client_for, unique
from support import launch, role_with_profile

DESCRIBE_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]})


def run_cli(server, inst, *args):
    return server.exec(inst, "aws", *args, "--output", "json", check=False)


def test_role_permissions_apply_to_instance_credentials(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    role, profile, *_ = role_with_profile(iam)
    inst = launch(ec2, profile)["InstanceId"]

    # No policy yet: nothing but GetCallerIdentity.
    p = run_cli(imds_server, inst, "ec2", "describe-instances")
    assert p.returncode != 0 and "UnauthorizedOperation" in p.stderr
    assert f"assumed-role/{role}/{inst} is not authorized to perform: ec2:DescribeInstances" in p.stderr

    # An inline policy allowing DescribeInstances takes effect on the next request.
    iam.put_role_policy(RoleName=role, PolicyName="describe", PolicyDocument=DESCRIBE_ONLY)
    p = run_cli(imds_server, inst, "ec2", "describe-instances", "--instance-ids", inst)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Reservations"][0]["Instances"][0]["InstanceId"] == inst

    # ...and nothing more.
    p = run_cli(imds_server, inst, "ec2", "terminate-instances", "--instance-ids", inst)
    assert p.returncode != 0 and "UnauthorizedOperation" in p.stderr
    assert f"on resource: arn:aws:ec2:us-east-1:" in p.stderr and f"instance/{inst}" in p.stderr
    p = run_cli(imds_server, inst, "iam", "list-roles")
    assert p.returncode != 0 and "AccessDenied" in p.stderr
    assert "because no identity-based policy allows the iam:ListRoles action" in p.stderr

    # An explicit deny in a managed policy wins.
    deny = iam.create_policy(
        PolicyName=unique("deny"),
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:Describe*", "Resource": "*"}]}),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=deny)
    p = run_cli(imds_server, inst, "ec2", "describe-instances")
    assert p.returncode != 0 and "with an explicit deny in an identity-based policy" in p.stderr, p.stderr
    iam.detach_role_policy(RoleName=role, PolicyArn=deny)
    assert run_cli(imds_server, inst, "ec2", "describe-instances").returncode == 0

    # A condition on aws:SourceIp: the exec'd command talks to the API from 127.0.0.1.
    iam.put_role_policy(
        RoleName=role,
        PolicyName="describe",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}),
    )
    assert run_cli(imds_server, inst, "ec2", "describe-instances").returncode != 0
    iam.put_role_policy(
        RoleName=role,
        PolicyName="describe",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]}),
    )
    assert run_cli(imds_server, inst, "ec2", "describe-instances").returncode == 0

    # Removing the role from the instance ends its permissions (no credentials at all).
    assoc = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [inst]}])["IamInstanceProfileAssociations"][0]
    ec2.disassociate_iam_instance_profile(AssociationId=assoc["AssociationId"])
    p = run_cli(imds_server, inst, "ec2", "describe-instances")
    assert p.returncode != 0 and "Unable to locate credentials" in p.stderr
