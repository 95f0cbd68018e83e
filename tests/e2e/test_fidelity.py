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
