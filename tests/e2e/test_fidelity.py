"""AWS fidelity of policy validation as clients see it (issue #12): each case is what IAM answers."""

import json

from support import TRUST_EC2, aws_error, unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_trust_policy_that_is_not_json(iam):
    code, status, message = aws_error(iam.create_role, RoleName=unique("r"), AssumeRolePolicyDocument="{not json")
    assert (code, status, message) == ("MalformedPolicyDocument", 400, "This policy contains invalid Json")
    # Other policies keep IAM's "Syntax errors in policy.".
    role = unique("r")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    assert aws_error(iam.put_role_policy, RoleName=role, PolicyName="p", PolicyDocument="{not json").message == "Syntax errors in policy."


def test_vendor_prefix_is_checked_before_resources(iam):
    role = unique("r")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    message = aws_error(iam.put_role_policy, RoleName=role, PolicyName="p", PolicyDocument=doc({"Effect": "Allow", "Action": "invalid"})).message
    assert message == "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    message = aws_error(iam.put_role_policy, RoleName=role, PolicyName="p", PolicyDocument=doc({"Effect": "Allow", "Action": "s3:ListBucket"})).message
    assert message == "Policy statement must contain resources."


def test_date_and_access_point_values_iam_accepts(iam):
    role = unique("r")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    accepted = doc(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "-292275054"}}},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap/object/*"},
    )
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=accepted)
    refused = doc({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "9223372036854775808"}}})
    assert aws_error(iam.put_role_policy, RoleName=role, PolicyName="p", PolicyDocument=refused).message == "The policy failed legacy parsing"
    bucket_with_region = doc({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:us-west-2::bucket"})
    assert aws_error(iam.put_role_policy, RoleName=role, PolicyName="p", PolicyDocument=bucket_with_region).message == (
        "Resource arn:aws:s3:us-west-2::bucket can not contain region information."
    )


def test_tag_limits_and_field_names(iam):
    role = unique("r")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    # Items are named by their 1-based position, as AWS names them.
    message = aws_error(iam.tag_role, RoleName=role, Tags=[{"Key": "ok", "Value": "v"}, {"Key": "bad", "Value": "a#b"}]).message
    assert "at 'tags.2.member.value' failed to satisfy constraint" in message, message
    message = aws_error(iam.create_role, RoleName=unique("r"), AssumeRolePolicyDocument=TRUST_EC2, Tags=[{"Key": "k" * 129, "Value": ""}]).message
    assert "at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128" in message, message
    # At most 50 tags on Create*/Tag*, and 50 keys on Untag*.
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    for call, kw in [
        (iam.create_role, dict(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST_EC2)),
        (iam.create_user, dict(UserName=unique("u"))),
        (iam.create_instance_profile, dict(InstanceProfileName=unique("p"))),
        (iam.tag_role, dict(RoleName=role)),
    ]:
        code, status, message = aws_error(call, Tags=tags, **kw)
        assert (code, status) == ("ValidationError", 400), (call, message)
        assert message.endswith("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"), message
    code, status, message = aws_error(iam.untag_role, RoleName=role, TagKeys=[f"k{i}" for i in range(51)])
    assert (code, status) == ("ValidationError", 400)
    assert message.endswith("failed to satisfy constraint: Member must have length less than or equal to 50"), message


def test_assume_role_validates_before_authorizing(server, iam):
    """A malformed AssumeRole is a ValidationError for anyone, even a caller who may not assume
    anything (the root may not assume roles at all)."""
    from support import client_for

    role_arn = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST_EC2)["Role"]["Arn"]
    user = unique("nobody")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    for who in (client_for(server, "sts"), client_for(server, "sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])):
        code, status, message = aws_error(who.assume_role, RoleArn=role_arn, RoleSessionName="s" * 65)
        assert (code, status) == ("ValidationError", 400), message
        assert "at 'roleSessionName' failed to satisfy constraint" in message
        # Well-formed, the same call is refused for lack of permission.
        assert aws_error(who.assume_role, RoleArn=role_arn, RoleSessionName="ok-session").code == "AccessDenied"


def test_profile_by_both_name_and_arn_is_a_combination_error(iam, ec2):
    from support import role_with_profile

    rp = role_with_profile(iam)
    both = {"Name": rp.profile, "Arn": rp.instance_profile["Arn"]}
    inst = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    for call, kw in [
        (ec2.associate_iam_instance_profile, dict(InstanceId=inst)),
        (ec2.run_instances, dict(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)),
    ]:
        code, status, message = aws_error(call, IamInstanceProfile=both, **kw)
        assert (code, status) == ("InvalidParameterCombination", 400), message
        assert message == "The parameter 'iamInstanceProfile.name' may not be used in combination with 'iamInstanceProfile.arn'"


def test_get_user_as_root_reports_the_account_creation_date(fresh_server):
    from support import assert_recent, client_for

    user = client_for(fresh_server, "iam").get_user()["User"]
    assert user["Arn"].endswith(":root")
    assert_recent(user["CreateDate"])
    # The date is the account's, not the time of the call (a second later, across a restart).
    import time

    time.sleep(1.1)
    fresh_server.stop()
    fresh_server.start()
    assert client_for(fresh_server, "iam").get_user()["User"]["CreateDate"] == user["CreateDate"]


def test_simulate_custom_policy_without_caller_judges_any_accounts_resources(iam):
    policy = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-bucket/*"})
    # 123456789012 is not this server's (random) account.
    results = iam.simulate_custom_policy(
        PolicyInputList=[doc({"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::123456789012:user/*"})],
        ActionNames=["iam:GetUser"],
        ResourceArns=["arn:aws:iam::123456789012:user/Bob"],
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed"]
    results = iam.simulate_custom_policy(PolicyInputList=[policy], ActionNames=["s3:GetObject"], ResourceArns=["arn:aws:s3:::example-bucket/key"])["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed"]
