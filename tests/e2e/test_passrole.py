"""iam:PassRole and resource-level permissions on the instance-profile APIs, as the walkthrough
grants them, with the aws CLI and boto3 as an IAM user."""

import json

import botocore.exceptions
import pytest

from support import Cli, aws_error, client_for, role_with_profile, unique


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


def user_cli(server, tmp_path, key):
    cli = Cli(server, tmp_path)
    cli.env["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
    cli.env["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
    return cli


def test_walkthrough_policy_is_exactly_enough(server, iam, ec2, tmp_path):
    _, profile, _, role_arn = role_with_profile(iam)
    _, other_profile, *_ = role_with_profile(iam)
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
    _, profile, _, role_arn = role_with_profile(iam)
    policy = {"Version": "2012-10-17", "Statement": [WALKTHROUGH["Statement"][0]]}
    name, key = make_user(iam, policy)
    u_ec2 = client_for(server, "ec2", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    code, _, message = aws_error(u_ec2.run_instances, ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile})
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
    assert aws_error(u_sts.decode_authorization_message, EncodedMessage=encoded)[0] == "AccessDenied"
    assert aws_error(sts.decode_authorization_message, EncodedMessage=encoded[:-4] + "AAAA")[0] == "InvalidAuthorizationMessageException"
    # Launching without a profile needs no PassRole.
    u_ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)


def test_passrole_restricted_to_one_role_and_service(server, iam):
    _, profile_a, _, role_a = role_with_profile(iam)
    _, profile_b, _, role_b = role_with_profile(iam)
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
    code, _, message = aws_error(u_ec2.run_instances, ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile_b})
    assert code == "UnauthorizedOperation" and f"iam:PassRole on resource: {role_b}" in message
    # The same role passed "to another service" is refused.
    policy["Statement"][1]["Condition"]["StringEquals"]["iam:PassedToService"] = "lambda.amazonaws.com"
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    code, _, message = aws_error(u_ec2.run_instances, ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile_a})
    assert code == "UnauthorizedOperation" and "iam:PassRole" in message


def test_associate_only_instance_x(server, iam, ec2):
    _, profile, *_ = role_with_profile(iam)
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
    code, _, message = aws_error(u_ec2.associate_iam_instance_profile, InstanceId=y, IamInstanceProfile={"Name": profile})
    assert code == "UnauthorizedOperation" and f"instance/{y}" in message
    u_ec2.disassociate_iam_instance_profile(AssociationId=a["AssociationId"])
    # Tag-based: only instances tagged Team=blue may be stopped.
    z = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Team", "Value": "blue"}]}])["Instances"][0]["InstanceId"]
    name2, key2 = make_user(iam, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "*", "Condition": {"StringEquals": {"ec2:ResourceTag/Team": "blue"}}}]})
    u2 = client_for(server, "ec2", key=key2["AccessKeyId"], secret=key2["SecretAccessKey"])
    u2.stop_instances(InstanceIds=[z])
    assert aws_error(u2.stop_instances, InstanceIds=[y])[0] == "UnauthorizedOperation"
