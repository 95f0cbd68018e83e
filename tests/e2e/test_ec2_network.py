"""EC2's network model and the operations tools call, with boto3 and the aws CLI: the default
VPC, subnets and security group; RunInstances' NetworkInterface.N and ClientToken;
DescribeInstanceStatus; instance attributes; CreateTags / DeleteTags / DescribeTags; strict ids."""

import ipaddress
import json

import pytest
from support import AMI, allow, aws_error, client_for, deny, doc, own_server, unique


def run(ec2, n=1, image=AMI, **kw):
    return ec2.run_instances(ImageId=image, MinCount=n, MaxCount=n, **kw)


def default_network(ec2):
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return vpc, sorted(subnets, key=lambda s: s["AvailabilityZone"])


def test_default_vpc_subnets_and_group(ec2, cli):
    vpc, subnets = default_network(ec2)
    assert vpc["CidrBlock"] == "172.31.0.0/16" and vpc["IsDefault"] is True and vpc["State"] == "available"
    assert len(vpc["VpcId"]) == len("vpc-") + 17
    region = ec2.meta.region_name
    assert [(s["CidrBlock"], s["AvailabilityZone"]) for s in subnets] == [
        ("172.31.0.0/20", f"{region}a"), ("172.31.16.0/20", f"{region}b"), ("172.31.32.0/20", f"{region}c")]
    assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] and s["VpcId"] == vpc["VpcId"] for s in subnets)
    assert subnets[0]["AvailableIpAddressCount"] == 4091
    # Created once: asking again answers the same ids.
    assert default_network(ec2) == (vpc, subnets)
    # Filters: by id, by zone, by wildcard; an unknown filter is refused.
    b = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": [f"{region}b"]}])["Subnets"]
    assert [s["SubnetId"] for s in b] == [subnets[1]["SubnetId"]]
    assert len(ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["172.31.*"]}])["Subnets"]) == 3
    assert ec2.describe_subnets(SubnetIds=[subnets[2]["SubnetId"]])["Subnets"][0]["CidrBlock"] == "172.31.32.0/20"
    assert aws_error(ec2.describe_subnets, Filters=[{"Name": "no-such-filter", "Values": ["x"]}])[:2] == ("InvalidParameterValue", 400)
    assert aws_error(ec2.describe_subnets, SubnetIds=["subnet-0123456789abcdef0"])[:2] == ("InvalidSubnetID.NotFound", 400)
    assert aws_error(ec2.describe_subnets, SubnetIds=["subnet-NOTHEX"])[:2] == ("InvalidSubnetID.Malformed", 400)
    # Paging: MaxResults 5 over 3 subnets is one page without a token.
    page = ec2.describe_subnets(MaxResults=5)
    assert len(page["Subnets"]) == 3 and "NextToken" not in page
    # Paging parameters are checked before any id is looked up, as EC2 does.
    for call, ids in [(ec2.describe_vpcs, "VpcIds"), (ec2.describe_subnets, "SubnetIds"), (ec2.describe_security_groups, "GroupIds")]:
        unknown = {"VpcIds": "vpc-0123456789abcdef0", "SubnetIds": "subnet-0123456789abcdef0", "GroupIds": "sg-0123456789abcdef0"}[ids]
        assert aws_error(call, **{ids: [unknown]}, MaxResults=1001)[:2] == ("InvalidParameterValue", 400)
        assert aws_error(call, **{ids: [unknown]}, NextToken="not-a-token")[:2] == ("InvalidParameterValue", 400)
        assert aws_error(call, **{ids: [unknown]})[0].endswith("NotFound")
    [sg] = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}, {"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    assert sg["GroupId"].startswith("sg-") and sg["VpcId"] == vpc["VpcId"]
    assert ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"] == sg["GroupId"]
    assert aws_error(ec2.describe_security_groups, GroupIds=["sg-0123456789abcdef0"])[:2] == ("InvalidGroup.NotFound", 400)
    # The aws CLI reads the same.
    out = cli.json("ec2", "describe-vpcs", "--vpc-ids", vpc["VpcId"])
    assert out["Vpcs"][0]["CidrBlock"] == "172.31.0.0/16"


def test_instances_get_addresses_from_their_subnet(ec2):
    vpc, subnets = default_network(ec2)
    [sg] = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    # Without a subnet: the first zone's default subnet, the default group.
    i = run(ec2)["Instances"][0]
    assert i["SubnetId"] == subnets[0]["SubnetId"] and i["VpcId"] == vpc["VpcId"]
    assert ipaddress.ip_address(i["PrivateIpAddress"]) in ipaddress.ip_network(subnets[0]["CidrBlock"])
    assert i["SecurityGroups"] == [{"GroupName": "default", "GroupId": sg["GroupId"]}]
    # By SubnetId, and by Placement's zone.
    j = run(ec2, SubnetId=subnets[2]["SubnetId"])["Instances"][0]
    assert ipaddress.ip_address(j["PrivateIpAddress"]) in ipaddress.ip_network("172.31.32.0/20")
    assert j["Placement"]["AvailabilityZone"] == subnets[2]["AvailabilityZone"]
    k = run(ec2, Placement={"AvailabilityZone": subnets[1]["AvailabilityZone"]})["Instances"][0]
    assert k["SubnetId"] == subnets[1]["SubnetId"]
    [described] = [x for r in ec2.describe_instances(InstanceIds=[j["InstanceId"]])["Reservations"] for x in r["Instances"]]
    assert (described["SubnetId"], described["VpcId"]) == (subnets[2]["SubnetId"], vpc["VpcId"])
    found = ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnets[2]["SubnetId"]]}, {"Name": "instance-id", "Values": [j["InstanceId"], k["InstanceId"]]}])
    assert [x["InstanceId"] for r in found["Reservations"] for x in r["Instances"]] == [j["InstanceId"]]


def test_network_interfaces(ec2):
    _, subnets = default_network(ec2)
    [sg] = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    sub = subnets[1]
    i = run(ec2, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": sub["SubnetId"], "Groups": [sg["GroupId"]], "AssociatePublicIpAddress": True}])["Instances"][0]
    assert i["SubnetId"] == sub["SubnetId"]
    assert ipaddress.ip_address(i["PrivateIpAddress"]) in ipaddress.ip_network(sub["CidrBlock"])
    assert i["SecurityGroups"] == [{"GroupName": "default", "GroupId": sg["GroupId"]}]
    # A private address on the interface.
    live = {x["PrivateIpAddress"] for r in ec2.describe_instances()["Reservations"] for x in r["Instances"]}
    ip = next(f"172.31.{o}.{h}" for o in range(20, 31) for h in range(10, 250) if f"172.31.{o}.{h}" not in live)
    j = run(ec2, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": sub["SubnetId"], "PrivateIpAddress": ip}])["Instances"][0]
    assert j["PrivateIpAddress"] == ip
    nic = {"DeviceIndex": 0, "SubnetId": sub["SubnetId"]}
    combos = [
        dict(SubnetId=sub["SubnetId"]),
        dict(SecurityGroupIds=[sg["GroupId"]]),
        dict(PrivateIpAddress="172.31.16.77"),
    ]
    for extra in combos:
        code, status, _ = aws_error(run, ec2, NetworkInterfaces=[nic], **extra)
        assert (code, status) == ("InvalidParameterCombination", 400), extra
    assert aws_error(run, ec2, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": "subnet-NOTHEX"}])[:2] == ("InvalidSubnetID.Malformed", 400)
    assert aws_error(run, ec2, NetworkInterfaces=[{"DeviceIndex": 0, "Groups": ["sg-zz"]}])[:2] == ("InvalidGroupId.Malformed", 400)
    assert aws_error(run, ec2, NetworkInterfaces=[{"SubnetId": sub["SubnetId"]}])[:2] == ("InvalidParameterValue", 400)
    assert aws_error(run, ec2, NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": "eni-0123456789abcdef0"}])[:2] == ("InvalidNetworkInterfaceID.NotFound", 400)
    # An address outside the interface's subnet.
    assert aws_error(run, ec2, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": sub["SubnetId"], "PrivateIpAddress": "172.31.0.50"}])[:2] == ("InvalidParameterValue", 400)


def test_client_token_retry_returns_the_same_reservation(ec2, iam):
    token = unique("token")
    first = run(ec2, 2, ClientToken=token, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "t", "Value": token}]}])
    again = run(ec2, 2, ClientToken=token, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "t", "Value": token}]}])
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [i["InstanceId"] for i in first["Instances"]]
    assert all(i["ClientToken"] == token for i in again["Instances"])
    # Only two instances carry the token's tag: the retry launched nothing.
    tagged = ec2.describe_instances(Filters=[{"Name": "tag:t", "Values": [token]}])
    assert len([i for r in tagged["Reservations"] for i in r["Instances"]]) == 2
    # The same token with other parameters is refused.
    code, status, _ = aws_error(run, ec2, 2, ClientToken=token, InstanceType="t3.large")
    assert (code, status) == ("IdempotentParameterMismatch", 400)
    # boto3's own retry path: the same call object retried by the client (the token is what
    # makes it safe).
    auto = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)  # botocore fills ClientToken
    assert auto["Instances"][0]["ClientToken"]


def test_describe_instance_status(ec2):
    run_a = run(ec2, 2, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "status-test", "Value": "x"}]}])["Instances"]
    a, b = [i["InstanceId"] for i in run_a]
    ec2.stop_instances(InstanceIds=[b])
    got = ec2.describe_instance_status(InstanceIds=[a, b])["InstanceStatuses"]
    assert [s["InstanceId"] for s in got] == [a]  # running only by default
    s = got[0]
    assert s["InstanceState"] == {"Code": 16, "Name": "running"}
    assert s["InstanceStatus"]["Status"] == "ok" and s["SystemStatus"]["Status"] == "ok"
    assert s["InstanceStatus"]["Details"] == [{"Name": "reachability", "Status": "passed"}]
    both = ec2.describe_instance_status(InstanceIds=[a, b], IncludeAllInstances=True)["InstanceStatuses"]
    assert {x["InstanceId"]: x["InstanceState"]["Name"] for x in both} == {a: "running", b: "stopped"}
    assert [x["InstanceStatus"]["Status"] for x in both if x["InstanceId"] == b] == ["not-applicable"]
    stopped = ec2.describe_instance_status(IncludeAllInstances=True, Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}])["InstanceStatuses"]
    assert b in [x["InstanceId"] for x in stopped] and a not in [x["InstanceId"] for x in stopped]
    zone = ec2.describe_instance_status(Filters=[{"Name": "availability-zone", "Values": ["nowhere-1a"]}])["InstanceStatuses"]
    assert zone == []
    # Paging through every running instance, 5 at a time, sees each once.
    seen, token = [], None
    while True:
        kw = {"MaxResults": 5, **({"NextToken": token} if token else {})}
        page = ec2.describe_instance_status(**kw)
        assert len(page["InstanceStatuses"]) <= 5
        seen += [x["InstanceId"] for x in page["InstanceStatuses"]]
        token = page.get("NextToken")
        if not token:
            break
    assert a in seen and b not in seen and len(seen) == len(set(seen))
    assert aws_error(ec2.describe_instance_status, InstanceIds=["i-0123456789abcdef0"])[:2] == ("InvalidInstanceID.NotFound", 400)
    assert aws_error(ec2.describe_instance_status, Filters=[{"Name": "bogus", "Values": ["x"]}])[:2] == ("InvalidParameterValue", 400)


def test_instance_attributes(ec2):
    i = run(ec2, InstanceType="t3.micro", DisableApiTermination=True)["Instances"][0]["InstanceId"]
    attr = lambda name: ec2.describe_instance_attribute(InstanceId=i, Attribute=name)
    assert attr("instanceType")["InstanceType"] == {"Value": "t3.micro"}
    assert attr("disableApiTermination")["DisableApiTermination"] == {"Value": True}
    assert attr("instanceInitiatedShutdownBehavior")["InstanceInitiatedShutdownBehavior"] == {"Value": "stop"}
    # Protected: TerminateInstances refuses, as AWS.
    code, status, msg = aws_error(ec2.terminate_instances, InstanceIds=[i])
    assert (code, status) == ("OperationNotPermitted", 400) and "disableApiTermination" in msg
    # The type changes only while stopped.
    assert aws_error(ec2.modify_instance_attribute, InstanceId=i, InstanceType={"Value": "t3.large"})[:2] == ("IncorrectInstanceState", 400)
    ec2.stop_instances(InstanceIds=[i])
    ec2.modify_instance_attribute(InstanceId=i, InstanceType={"Value": "t3.large"})
    ec2.modify_instance_attribute(InstanceId=i, UserData={"Value": b"#!/bin/sh\necho hi\n"})
    assert attr("instanceType")["InstanceType"] == {"Value": "t3.large"}
    assert attr("userData")["UserData"]["Value"]  # base64 of what was set
    ec2.modify_instance_attribute(InstanceId=i, Attribute="instanceInitiatedShutdownBehavior", Value="terminate")
    assert attr("instanceInitiatedShutdownBehavior")["InstanceInitiatedShutdownBehavior"] == {"Value": "terminate"}
    assert aws_error(ec2.modify_instance_attribute, InstanceId=i, InstanceType={"Value": "t3.large"}, DisableApiTermination={"Value": False})[:2] == ("InvalidParameterCombination", 400)
    assert aws_error(ec2.describe_instance_attribute, InstanceId=i, Attribute="nonsense")[:2] == ("InvalidParameterValue", 400)
    ec2.modify_instance_attribute(InstanceId=i, DisableApiTermination={"Value": False})
    assert ec2.terminate_instances(InstanceIds=[i])["TerminatingInstances"][0]["CurrentState"]["Name"] == "shutting-down"


def test_tags(ec2, cli):
    vpc, subnets = default_network(ec2)
    [sg] = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    i = run(ec2)["Instances"][0]["InstanceId"]
    mark = unique("mark")
    ec2.create_tags(Resources=[i, vpc["VpcId"], subnets[0]["SubnetId"], sg["GroupId"]], Tags=[{"Key": mark, "Value": "one"}, {"Key": "Name", "Value": mark}])
    got = ec2.describe_tags(Filters=[{"Name": "key", "Values": [mark]}])["Tags"]
    assert sorted((t["ResourceType"], t["ResourceId"], t["Value"]) for t in got) == sorted([
        ("instance", i, "one"), ("vpc", vpc["VpcId"], "one"), ("subnet", subnets[0]["SubnetId"], "one"), ("security-group", sg["GroupId"], "one")])
    # Resource-type and wildcard filters; the instance's own tags follow.
    only = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["instance"]}, {"Name": "value", "Values": [mark[:6] + "*"]}])["Tags"]
    assert [(t["ResourceId"], t["Key"]) for t in only] == [(i, "Name")]
    [inst] = [x for r in ec2.describe_instances(InstanceIds=[i])["Reservations"] for x in r["Instances"]]
    assert {t["Key"]: t["Value"] for t in inst["Tags"]} == {mark: "one", "Name": mark}
    assert ec2.describe_subnets(Filters=[{"Name": f"tag:{mark}", "Values": ["one"]}])["Subnets"][0]["SubnetId"] == subnets[0]["SubnetId"]
    assert ec2.describe_vpcs(Filters=[{"Name": "tag-key", "Values": [mark]}])["Vpcs"][0]["VpcId"] == vpc["VpcId"]
    # Overwrite, then delete by key and value (a wrong value deletes nothing).
    ec2.create_tags(Resources=[i], Tags=[{"Key": mark, "Value": "two"}])
    ec2.delete_tags(Resources=[i], Tags=[{"Key": mark, "Value": "one"}])
    assert [t["Value"] for t in ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [i]}, {"Name": "key", "Values": [mark]}])["Tags"]] == ["two"]
    ec2.delete_tags(Resources=[i, vpc["VpcId"], subnets[0]["SubnetId"], sg["GroupId"]], Tags=[{"Key": mark}])
    assert ec2.describe_tags(Filters=[{"Name": "key", "Values": [mark]}])["Tags"] == []
    cli.run("ec2", "delete-tags", "--resources", i)
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [i]}])["Tags"] == []
    # Paging: 7 tags, 5 per page.
    many = [{"Key": f"{mark}-{n}", "Value": str(n)} for n in range(7)]
    ec2.create_tags(Resources=[i], Tags=many)
    p1 = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [i]}], MaxResults=5)
    p2 = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [i]}], MaxResults=5, NextToken=p1["NextToken"])
    assert len(p1["Tags"]) == 5 and len(p2["Tags"]) == 2 and "NextToken" not in p2
    assert sorted(t["Key"] for t in p1["Tags"] + p2["Tags"]) == sorted(t["Key"] for t in many)
    # Errors as EC2 words them.
    assert aws_error(ec2.create_tags, Resources=["i-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])[:2] == ("InvalidInstanceID.NotFound", 400)
    assert aws_error(ec2.create_tags, Resources=["subnet-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])[:2] == ("InvalidSubnetID.NotFound", 400)
    assert aws_error(ec2.create_tags, Resources=["bogus-123"], Tags=[{"Key": "a", "Value": "b"}])[:2] == ("InvalidID", 400)
    # The ids are checked in the order given (the network ones are read at once).
    named = [vpc["VpcId"], "sg-0123456789abcdef0", "bogus-123"]
    assert aws_error(ec2.create_tags, Resources=named, Tags=[{"Key": "a", "Value": "b"}])[:2] == ("InvalidGroup.NotFound", 400)
    assert aws_error(ec2.create_tags, Resources=named[::-1], Tags=[{"Key": "a", "Value": "b"}])[:2] == ("InvalidID", 400)
    assert aws_error(ec2.create_tags, Resources=[i], Tags=[{"Key": "aws:x", "Value": "b"}])[:2] == ("InvalidParameterValue", 400)
    fifty = [{"Key": f"k{n}", "Value": "v"} for n in range(44)]
    assert aws_error(ec2.create_tags, Resources=[i], Tags=fifty)[:2] == ("TagLimitExceeded", 400)
    assert aws_error(ec2.describe_tags, Filters=[{"Name": "bogus", "Values": ["x"]}])[:2] == ("InvalidParameterValue", 400)


def test_tagging_is_authorized_per_resource(ec2, iam, server):
    """CreateTags is checked on each resource's ARN with the request's tag keys."""
    user = unique("tagger")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(
        allow("ec2:*"),
        deny("ec2:CreateTags", "arn:aws:ec2:*:*:subnet/*"),
        deny("ec2:CreateTags", "*", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["secret"]}}),
    ))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    mine = client_for(server, "ec2", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    vpc, subnets = default_network(mine)
    i = run(mine)["Instances"][0]["InstanceId"]
    mine.create_tags(Resources=[i, vpc["VpcId"]], Tags=[{"Key": "ok", "Value": "1"}])
    assert aws_error(mine.create_tags, Resources=[subnets[0]["SubnetId"]], Tags=[{"Key": "ok", "Value": "1"}])[:2] == ("UnauthorizedOperation", 403)
    assert aws_error(mine.create_tags, Resources=[i], Tags=[{"Key": "secret", "Value": "1"}])[:2] == ("UnauthorizedOperation", 403)


def test_run_instances_is_authorized_on_the_subnet(ec2, iam, server):
    _, subnets = default_network(ec2)
    user = unique("launcher")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(
        allow("ec2:*"), deny("ec2:RunInstances", f"arn:aws:ec2:*:*:subnet/{subnets[1]['SubnetId']}")))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    mine = client_for(server, "ec2", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    run(mine, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnets[0]["SubnetId"]}])
    assert aws_error(run, mine, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnets[1]["SubnetId"]}])[:2] == ("UnauthorizedOperation", 403)
    assert aws_error(run, mine, Placement={"AvailabilityZone": subnets[1]["AvailabilityZone"]})[:2] == ("UnauthorizedOperation", 403)


# Strict mode launches only images it holds: a built-in one.
BUILT_IN_AMI = "ami-0a1b2c3d4e5f60701"


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    yield from own_server(tmp_path_factory, "strict", extra_args=["--strict-ec2-ids", "--instance-cidr", "10.20.0.0/16"])


def test_strict_ids(strict_server):
    ec2 = client_for(strict_server, "ec2")
    vpc, subnets = default_network(ec2)
    assert vpc["CidrBlock"] == "10.20.0.0/16"  # --instance-cidr is the default VPC's block
    assert subnets[0]["CidrBlock"] == "10.20.0.0/20"
    assert aws_error(run, ec2, image=BUILT_IN_AMI, SubnetId="subnet-1a2b3c4d")[:2] == ("InvalidSubnetID.NotFound", 400)
    assert aws_error(run, ec2, image=BUILT_IN_AMI, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": "subnet-0123456789abcdef0"}])[:2] == ("InvalidSubnetID.NotFound", 400)
    assert aws_error(run, ec2, image=BUILT_IN_AMI, SecurityGroupIds=["sg-1a2b3c4d"])[:2] == ("InvalidGroup.NotFound", 400)
    assert aws_error(run, ec2, image=BUILT_IN_AMI, SecurityGroups=["my-security-group"])[:2] == ("InvalidGroup.NotFound", 400)
    i = run(ec2, image=BUILT_IN_AMI, SubnetId=subnets[1]["SubnetId"], SecurityGroups=["default"])["Instances"][0]
    assert ipaddress.ip_address(i["PrivateIpAddress"]) in ipaddress.ip_network("10.20.16.0/20")
