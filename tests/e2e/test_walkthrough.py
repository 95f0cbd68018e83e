"""The AWS user-guide walkthrough "IAM roles for Amazon EC2", command for command, with the real
`aws` CLI against rolecall (after `eval "$(rolecall env)"`, no --endpoint-url)."""

import json
import re

from support import WALKTHROUGH_ACCESS as ACCESS, WALKTHROUGH_TRUST as TRUST, Cli, assert_recent


def test_walkthrough(fresh_server, tmp_path):
    cli = Cli(fresh_server, tmp_path)
    (tmp_path / "ec2-role-trust-policy.json").write_text(TRUST)
    (tmp_path / "ec2-role-access-policy.json").write_text(ACCESS)
    ident = cli.json("sts", "get-caller-identity")
    account = ident["Account"]
    assert re.fullmatch(r"\d{12}", account)
    assert ident["Arn"] == f"arn:aws:iam::{account}:root"

    role = cli.json("iam", "create-role", "--role-name", "s3access", "--assume-role-policy-document", "file://ec2-role-trust-policy.json")["Role"]
    assert role["RoleName"] == "s3access"
    assert role["Path"] == "/"
    assert role["Arn"] == f"arn:aws:iam::{account}:role/s3access"
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", role["RoleId"])
    # ISO 8601 with a zone (the CLI prints botocore's parsed timestamp), and just now.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|\+00:00)", role["CreateDate"]), role["CreateDate"]
    assert_recent(role["CreateDate"])
    # The CLI decodes the URL-encoded document back into JSON.
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)

    cli.run("iam", "put-role-policy", "--role-name", "s3access", "--policy-name", "S3-Permissions", "--policy-document", "file://ec2-role-access-policy.json")
    got = cli.json("iam", "get-role-policy", "--role-name", "s3access", "--policy-name", "S3-Permissions")
    assert got["PolicyDocument"] == json.loads(ACCESS)

    profile = cli.json("iam", "create-instance-profile", "--instance-profile-name", "s3access-profile")["InstanceProfile"]
    assert profile["Roles"] == []
    assert re.fullmatch(r"AIPA[A-Z2-7]{17}", profile["InstanceProfileId"])
    assert profile["Arn"] == f"arn:aws:iam::{account}:instance-profile/s3access-profile"
    cli.run("iam", "add-role-to-instance-profile", "--instance-profile-name", "s3access-profile", "--role-name", "s3access")
    profile = cli.json("iam", "get-instance-profile", "--instance-profile-name", "s3access-profile")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["s3access"]

    run = cli.json(
        "ec2", "run-instances", "--image-id", "ami-11aa22bb", "--iam-instance-profile", 'Name="s3access-profile"',
        "--key-name", "my-key-pair", "--security-groups", "my-security-group", "--subnet-id", "subnet-1a2b3c4d",
    )
    [inst] = run["Instances"]
    instance_id = inst["InstanceId"]
    assert re.fullmatch(r"i-[0-9a-f]{17}", instance_id)
    assert inst["State"] == {"Code": 0, "Name": "pending"}
    assert inst["IamInstanceProfile"] == {"Arn": profile["Arn"], "Id": profile["InstanceProfileId"]}
    assert inst["KeyName"] == "my-key-pair"
    assert inst["SubnetId"] == "subnet-1a2b3c4d"
    assert inst["SecurityGroups"] == [{"GroupName": "my-security-group"}]

    desc = cli.json("ec2", "describe-instances")
    [described] = [i for r in desc["Reservations"] for i in r["Instances"] if i["InstanceId"] == instance_id]
    assert described["State"] == {"Code": 16, "Name": "running"}
    assert described["IamInstanceProfile"]["Arn"] == profile["Arn"]

    # A second instance with no profile, then attach one (the "attach an IAM role" section).
    cli.run("iam", "create-instance-profile", "--instance-profile-name", "TestRole-1")
    cli.run("iam", "create-instance-profile", "--instance-profile-name", "TestRole-2")
    other = cli.json("ec2", "run-instances", "--image-id", "ami-11aa22bb")["Instances"][0]["InstanceId"]
    assoc = cli.json("ec2", "associate-iam-instance-profile", "--instance-id", other, "--iam-instance-profile", 'Name="TestRole-1"')["IamInstanceProfileAssociation"]
    assert assoc["InstanceId"] == other
    assert assoc["State"] == "associating"
    assert re.fullmatch(r"iip-assoc-[0-9a-f]{17}", assoc["AssociationId"])
    assert assoc["IamInstanceProfile"]["Arn"].endswith(":instance-profile/TestRole-1")

    # An instance that already has a profile cannot get a second one.
    err = cli.error("ec2", "associate-iam-instance-profile", "--instance-id", other, "--iam-instance-profile", "Name=TestRole-2")
    assert "IncorrectState" in err

    listed = cli.json("ec2", "describe-iam-instance-profile-associations")["IamInstanceProfileAssociations"]
    mine = [a for a in listed if a["InstanceId"] == other]
    assert [a["AssociationId"] for a in mine] == [assoc["AssociationId"]]
    assert mine[0]["State"] == "associated"

    # Replace (the "replace an IAM role" section): a new association id, the old one is gone.
    new = cli.json("ec2", "replace-iam-instance-profile-association", "--association-id", assoc["AssociationId"], "--iam-instance-profile", 'Name="TestRole-2"')["IamInstanceProfileAssociation"]
    assert new["AssociationId"] != assoc["AssociationId"]
    assert new["State"] == "associating"
    assert new["IamInstanceProfile"]["Arn"].endswith(":instance-profile/TestRole-2")
    listed = cli.json("ec2", "describe-iam-instance-profile-associations", "--filters", f"Name=instance-id,Values={other}")["IamInstanceProfileAssociations"]
    assert [(a["AssociationId"], a["State"]) for a in listed] == [(new["AssociationId"], "associated")]
    old = cli.json("ec2", "describe-iam-instance-profile-associations", "--association-ids", assoc["AssociationId"])["IamInstanceProfileAssociations"]
    assert old[0]["State"] == "disassociated"
    err = cli.error("ec2", "replace-iam-instance-profile-association", "--association-id", assoc["AssociationId"], "--iam-instance-profile", "Name=TestRole-1")
    assert "IncorrectState" in err

    # Detach (the "detach an IAM role" section).
    gone = cli.json("ec2", "disassociate-iam-instance-profile", "--association-id", new["AssociationId"])["IamInstanceProfileAssociation"]
    assert gone["State"] == "disassociating"
    assert gone["AssociationId"] == new["AssociationId"]
    listed = cli.json("ec2", "describe-iam-instance-profile-associations", "--filters", f"Name=instance-id,Values={other}")["IamInstanceProfileAssociations"]
    assert listed == []
    described = cli.json("ec2", "describe-instances", "--instance-ids", other)["Reservations"][0]["Instances"][0]
    assert "IamInstanceProfile" not in described
    err = cli.error("ec2", "disassociate-iam-instance-profile", "--association-id", new["AssociationId"])
    assert "IncorrectState" in err

    # Attach by ARN works too.
    by_arn = cli.json("ec2", "associate-iam-instance-profile", "--instance-id", other, "--iam-instance-profile", f"Arn={profile['Arn']}")
    assert by_arn["IamInstanceProfileAssociation"]["IamInstanceProfile"]["Id"] == profile["InstanceProfileId"]


def test_walkthrough_error_cases(cli, tmp_path):
    from support import unique

    name = unique("r")
    (tmp_path / "trust.json").write_text(TRUST)
    cli.run("iam", "create-role", "--role-name", name, "--assume-role-policy-document", "file://trust.json")
    # Names are unique regardless of case.
    assert "EntityAlreadyExists" in cli.error("iam", "create-role", "--role-name", name.upper(), "--assume-role-policy-document", "file://trust.json")
    assert "MalformedPolicyDocument" in cli.error("iam", "create-role", "--role-name", unique("r"), "--assume-role-policy-document", "{not json")
    assert "NoSuchEntity" in cli.error("iam", "get-role", "--role-name", unique("missing"))
    assert "ValidationError" in cli.error("iam", "get-role", "--role-name", "bad name!")
    # One role per instance profile.
    p = unique("p")
    cli.run("iam", "create-instance-profile", "--instance-profile-name", p)
    cli.run("iam", "add-role-to-instance-profile", "--instance-profile-name", p, "--role-name", name)
    second = unique("r")
    cli.run("iam", "create-role", "--role-name", second, "--assume-role-policy-document", "file://trust.json")
    assert "LimitExceeded" in cli.error("iam", "add-role-to-instance-profile", "--instance-profile-name", p, "--role-name", second)
    # A role in a profile cannot be deleted; nor can a profile holding a role.
    assert "DeleteConflict" in cli.error("iam", "delete-role", "--role-name", name)
    assert "DeleteConflict" in cli.error("iam", "delete-instance-profile", "--instance-profile-name", p)
    # An unknown profile is InvalidParameterValue; both Name and Arn, InvalidParameterCombination.
    assert "InvalidParameterValue" in cli.error("ec2", "run-instances", "--image-id", "ami-11aa22bb", "--iam-instance-profile", f"Name={unique('nope')}")
    assert "InvalidParameterCombination" in cli.error(
        "ec2", "run-instances", "--image-id", "ami-11aa22bb", "--iam-instance-profile", f"Name={p},Arn=arn:aws:iam::123456789012:instance-profile/{p}"
    )
    assert "InvalidInstanceID.Malformed" in cli.error("ec2", "describe-instances", "--instance-ids", "i-xyz")
    assert "InvalidInstanceID.NotFound" in cli.error("ec2", "describe-instances", "--instance-ids", "i-0123456789abcdef0")
    assert "InvalidAssociationID.NotFound" in cli.error("ec2", "disassociate-iam-instance-profile", "--association-id", "iip-assoc-0123456789abcdef0")
    assert "InvalidInstanceID.NotFound" in cli.error("ec2", "associate-iam-instance-profile", "--instance-id", "i-0123456789abcdef0", "--iam-instance-profile", f"Name={p}")
