"""Authorization cannot be steered or outlived: extra parameters, re-created roles, unknown actions."""

import json
import urllib.parse
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest

from support import aws_error, client_for, unique

VERSIONS = {"iam": "2010-05-08", "sts": "2011-06-15", "ec2": "2016-11-15"}


def raw_call(server, service, key, params):
    """A SigV4-signed Query request with exactly these parameters (boto3 would drop extras)."""
    body = urllib.parse.urlencode({"Version": VERSIONS[service], **params})
    req = botocore.awsrequest.AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    creds = botocore.credentials.Credentials(key["AccessKeyId"], key["SecretAccessKey"], key.get("SessionToken"))
    botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body.encode(), headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def user_with(iam, policy):
    name = unique("u")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return name, iam.create_access_key(UserName=name)["AccessKey"]


def test_extra_parameters_do_not_move_the_authorized_resource(server, iam, ec2):
    account = iam.get_user()["User"]["Arn"].split(":")[4]
    mine = unique("mine")
    iam.create_group(GroupName=mine)
    victim = unique("victim")
    iam.create_user(UserName=victim)
    _, key = user_with(iam, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": f"arn:aws:iam::{account}:group/{mine}"}]})
    admin = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    # The group is theirs; the user is not. Naming the group as well changes nothing.
    for extra in ({}, {"GroupName": mine}, {"InstanceProfileName": "x", "GroupName": mine, "RoleName": "y"}):
        status, body = raw_call(server, "iam", key, {"Action": "PutUserPolicy", "UserName": victim, "PolicyName": "pwn", "PolicyDocument": admin, **extra})
        assert status == 403 and "AccessDenied" in body and f"user/{victim}" in body, (extra, body)
    assert iam.list_user_policies(UserName=victim)["PolicyNames"] == []
    # What the policy does allow still works.
    status, body = raw_call(server, "iam", key, {"Action": "PutGroupPolicy", "GroupName": mine, "PolicyName": "ok", "PolicyDocument": admin})
    assert status == 200, body

    # EC2: an AssociationId of one's own does not authorize acting on another InstanceId.
    own = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "owner", "Value": "me"}]}])["Instances"][0]["InstanceId"]
    other = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    profile = unique("p")
    iam.create_instance_profile(InstanceProfileName=profile)
    assoc = ec2.associate_iam_instance_profile(InstanceId=own, IamInstanceProfile={"Name": profile})["IamInstanceProfileAssociation"]["AssociationId"]
    _, key2 = user_with(iam, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*", "Condition": {"StringEquals": {"ec2:ResourceTag/owner": "me"}}}]})
    status, body = raw_call(server, "ec2", key2, {"Action": "ModifyInstanceMetadataOptions", "InstanceId": other, "HttpPutResponseHopLimit": "5", "AssociationId": assoc})
    assert status == 403 and "UnauthorizedOperation" in body, body
    hop = ec2.describe_instances(InstanceIds=[other])["Reservations"][0]["Instances"][0]["MetadataOptions"]["HttpPutResponseHopLimit"]
    assert hop == 1
    status, body = raw_call(server, "ec2", key2, {"Action": "ModifyInstanceMetadataOptions", "InstanceId": own, "HttpPutResponseHopLimit": "5"})
    assert status == 200, body


def test_sessions_do_not_pass_to_a_recreated_role(server, iam):
    alice = unique("alice")
    user = iam.create_user(UserName=alice)["User"]
    key = iam.create_access_key(UserName=alice)["AccessKey"]
    sts = client_for(server, "sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    name = unique("role")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}]})
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="old")["Credentials"]
    old = client_for(server, "iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    iam.delete_role(RoleName=name)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        old.list_users()
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # A new session of the new role has the new role's permissions.
    fresh = sts.assume_role(RoleArn=arn, RoleSessionName="new")["Credentials"]
    client_for(server, "iam", key=fresh["AccessKeyId"], secret=fresh["SecretAccessKey"], aws_session_token=fresh["SessionToken"]).list_users()


def test_unknown_actions_are_invalid_before_authorization(server, iam):
    _, key = user_with(iam, {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    bogus = "Bogus" + unique("x").replace("-", "")
    for service in ("iam", "sts", "ec2"):
        status, body = raw_call(server, service, key, {"Action": bogus})
        assert status == 400 and "InvalidAction" in body, (service, body)
    with urllib.request.urlopen(f"{server.endpoint}/metrics") as r:
        assert bogus not in r.read().decode()


def test_get_console_output_is_authorized_on_the_instance(server, iam, ec2):
    """GetConsoleOutput: ec2:GetConsoleOutput on the instance's ARN (its tags as condition keys);
    with the records-only runtime the answer has no output, as EC2's for a silent instance."""
    own = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "owner", "Value": "me"}]}])["Instances"][0]["InstanceId"]
    other = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    _, key = user_with(iam, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:GetConsoleOutput", "Resource": "*", "Condition": {"StringEquals": {"ec2:ResourceTag/owner": "me"}}}]})
    status, body = raw_call(server, "ec2", key, {"Action": "GetConsoleOutput", "InstanceId": other})
    assert status == 403 and "UnauthorizedOperation" in body, body
    status, body = raw_call(server, "ec2", key, {"Action": "GetConsoleOutput", "InstanceId": own, "Latest": "true"})
    assert status == 200 and f"<instanceId>{own}</instanceId>" in body and "<timestamp>" in body, body
    assert "<output>" not in body, body
    out = ec2.get_console_output(InstanceId=own)
    assert out["InstanceId"] == own and "Output" not in out and out["Timestamp"].tzinfo is not None
    status, body = raw_call(server, "ec2", key, {"Action": "GetConsoleOutput", "InstanceId": "i-0123456789abcdef0"})
    assert status == 403, body  # nothing to learn about instances it may not read
    err = aws_error(ec2.get_console_output, InstanceId="i-0123456789abcdef0")
    assert err.code == "InvalidInstanceID.NotFound", err
