"""iam:PassRole and resource-level permissions on the instance-profile APIs, as the walkthrough
grants them, with the aws CLI and boto3 as an IAM user."""

import json

import botocore.exceptions
import pytest

from conftest import Cli, client_for, unique

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

# The walkthrough's policy for users who launch instances with roles.
WALKTHROUGH = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:AssociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
    ],
}


def make_user(iam, policy):
    name = unique("launcher")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def profile_with_role(iam):
    role, profile = unique("role"), unique("profile")
    r = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    return r["Arn"], profile


def code_of(fn, *a, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*a, **kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def user_cli(server, tmp_path, key):
    cli = Cli(server, tmp_path)
    cli.env["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
    cli.env["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
    return cli


def test_walkthrough_policy_is_exactly_enough(server, iam, ec2, tmp_path):
    role_arn, profile = profile_with_role(iam)
    _, other_profile = profile_with_role(iam)
    _, key = make_user(iam, WALKTHROUGH)
    cli = user_cli(server, tmp_path, key)
    inst = cli.json("ec2", "run-instances", "--image-id", "ami-11aa22bb", "--iam-instance-profile", f"Name={profile}")["Instances"][0]
    assert inst["IamInstanceProfile"]["Arn"].endswith(f"/{profile}")
    bare = cli.json("ec2", "run-instances", "--image-id", "ami-11aa22bb")["Instances"][0]["InstanceId"]
    assoc = cli.json("ec2", "associate-iam-instance-profile", "--instance-id", bare, "--iam-instance-profile", f"Name={profile}")
    replaced = cli.json(
        "ec2", "replace-iam-instance-profile-association", "--association-id",
        assoc["IamInstanceProfileAssociation"]["AssociationId"], "--iam-instance-profile", f"Name={other_profile}",
    )
    assert replaced["IamInstanceProfileAssociation"]["IamInstanceProfile"]["Arn"].endswith(f"/{other_profile}")
    # ...and nothing beyond it: no describe, no disassociate, no terminate.
    assert "UnauthorizedOperation" in cli.error("ec2", "describe-instances")
    assert "UnauthorizedOperation" in cli.error("ec2", "disassociate-iam-instance-profile", "--association-id", replaced["IamInstanceProfileAssociation"]["AssociationId"])
    assert "UnauthorizedOperation" in cli.error("ec2", "terminate-instances", "--instance-ids", bare)


def test_without_passrole_launch_with_profile_is_refused(server, iam, ec2, sts):
    role_arn, profile = profile_with_role(iam)
    policy = {"Version": "2012-10-17", "Statement": [WALKTHROUGH["Statement"][0]]}
    name, key = make_user(iam, policy)
    u_ec2 = client_for(server, "ec2", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    code, message = code_of(u_ec2.run_instances, ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile})
    assert code == "UnauthorizedOperation"
    assert f"is not authorized to perform: iam:PassRole on resource: {role_arn} because no identity-based policy allows the iam:PassRole action" in message
    # The encoded message decodes (for a caller allowed to) into the failed request's context.
    encoded = message.split("Encoded authorization failure message: ")[1]
    decoded = json.loads(sts.decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False
    assert decoded["context"]["action"] == "iam:PassRole"
    assert decoded["context"]["resource"] == role_arn
    items = {c["key"].lower(): [v["value"] for v in c["values"]["items"]] for c in decoded["context"]["conditions"]["items"]}
    assert items["iam:passedtoservice"] == ["ec2.amazonaws.com"]
    # The user itself may not decode it; a forged message is invalid.
    u_sts = client_for(server, "sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert code_of(u_sts.decode_authorization_message, EncodedMessage=encoded)[0] == "AccessDenied"
    assert code_of(sts.decode_authorization_message, EncodedMessage=encoded[:-4] + "AAAA")[0] == "InvalidAuthorizationMessageException"
    # Launching without a profile needs no PassRole.
    u_ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)


def test_passrole_restricted_to_one_role_and_service(server, iam):
    role_a, profile_a = profile_with_role(iam)
    role_b, profile_b = profile_with_role(iam)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            WALKTHROUGH["Statement"][0],
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_a, "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        ],
    }
    name, key = make_user(iam, policy)
    u_ec2 = client_for(server, "ec2", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    u_ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile_a})
    code, message = code_of(u_ec2.run_instances, ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile_b})
    assert code == "UnauthorizedOperation" and f"iam:PassRole on resource: {role_b}" in message
    # The same role passed "to another service" is refused.
    policy["Statement"][1]["Condition"]["StringEquals"]["iam:PassedToService"] = "lambda.amazonaws.com"
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    code, message = code_of(u_ec2.run_instances, ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile_a})
    assert code == "UnauthorizedOperation" and "iam:PassRole" in message


def test_associate_only_instance_x(server, iam, ec2):
    _, profile = profile_with_role(iam)
    x = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    y = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    account = iam.get_user()["User"]["Arn"].split(":")[4]
    x_arn = f"arn:aws:ec2:us-east-1:{account}:instance/{x}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ec2:AssociateIamInstanceProfile", "ec2:DisassociateIamInstanceProfile"], "Resource": x_arn},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
        ],
    }
    _, key = make_user(iam, policy)
    u_ec2 = client_for(server, "ec2", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    a = u_ec2.associate_iam_instance_profile(InstanceId=x, IamInstanceProfile={"Name": profile})["IamInstanceProfileAssociation"]
    code, message = code_of(u_ec2.associate_iam_instance_profile, InstanceId=y, IamInstanceProfile={"Name": profile})
    assert code == "UnauthorizedOperation" and f"instance/{y}" in message
    u_ec2.disassociate_iam_instance_profile(AssociationId=a["AssociationId"])
    # Tag-based: only instances tagged Team=blue may be stopped.
    z = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Team", "Value": "blue"}]}])["Instances"][0]["InstanceId"]
    name2, key2 = make_user(iam, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "*", "Condition": {"StringEquals": {"ec2:ResourceTag/Team": "blue"}}}]})
    u2 = client_for(server, "ec2", key=key2["AccessKeyId"], secret=key2["SecretAccessKey"])
    u2.stop_instances(InstanceIds=[z])
    assert code_of(u2.stop_instances, InstanceIds=[y])[0] == "UnauthorizedOperation"
