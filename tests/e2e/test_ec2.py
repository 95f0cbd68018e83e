"""EC2 (2016-11-15) with boto3: instances, their IAM instance profiles, filters, pagination, errors."""

import ipaddress
import json
import random
import re

import pytest
from support import AMI, RawBodies, aws_error, client_for, own_server, role_with_profile, unique

INSTANCE_ID = re.compile(r"i-[0-9a-f]{17}")
RESERVATION_ID = re.compile(r"r-[0-9a-f]{17}")
ASSOC_ID = re.compile(r"iip-assoc-[0-9a-f]{17}")
PENDING, RUNNING, SHUTTING_DOWN, TERMINATED, STOPPING, STOPPED = (
    {"Code": 0, "Name": "pending"},
    {"Code": 16, "Name": "running"},
    {"Code": 32, "Name": "shutting-down"},
    {"Code": 48, "Name": "terminated"},
    {"Code": 64, "Name": "stopping"},
    {"Code": 80, "Name": "stopped"},
)


@pytest.fixture(scope="module")
def profile(server):
    return role_with_profile(client_for(server, "iam")).instance_profile


def run(ec2, n=1, **kw):
    return ec2.run_instances(ImageId=AMI, MinCount=n, MaxCount=n, **kw)


def describe(ec2, instance_id):
    [r] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    [i] = r["Instances"]
    return i


def ids_of(resp):
    return [i["InstanceId"] for r in resp["Reservations"] for i in r["Instances"]]


def active_associations(ec2, instance_id):
    return ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]


# ---------------------------------------------------------------- RunInstances


def test_run_three_instances_with_profile(ec2, profile, server):
    raw = RawBodies(ec2)
    res = run(
        ec2, 3, IamInstanceProfile={"Name": profile["InstanceProfileName"]}, InstanceType="t3.micro", KeyName="my-key",
        SecurityGroups=["web"], SubnetId="subnet-0123456789abcdef0",
    )
    assert RESERVATION_ID.fullmatch(res["ReservationId"])
    assert re.fullmatch(r"\d{12}", res["OwnerId"])
    insts = res["Instances"]
    assert len(insts) == 3
    assert sorted(i["AmiLaunchIndex"] for i in insts) == [0, 1, 2]
    ips = [i["PrivateIpAddress"] for i in insts]
    assert len(set(ips)) == 3
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("172.31.0.0/20") for ip in ips)  # the first zone's default subnet
    for i in insts:
        assert INSTANCE_ID.fullmatch(i["InstanceId"])
        assert i["State"] == PENDING
        assert i["ImageId"] == AMI
        assert i["InstanceType"] == "t3.micro"
        assert i["KeyName"] == "my-key"
        assert i["SubnetId"] == "subnet-0123456789abcdef0"
        assert i["SecurityGroups"] == [{"GroupName": "web"}]
        assert i["IamInstanceProfile"] == {"Arn": profile["Arn"], "Id": profile["InstanceProfileId"]}
        assert i["PrivateDnsName"] == f"ip-{i['PrivateIpAddress'].replace('.', '-')}.ec2.internal"
    body = raw.last("RunInstances")
    assert '<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' in body
    assert re.search(r"<launchTime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z</launchTime>", body)
    # Described: running, one reservation, every instance with the profile and an association.
    desc = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in insts])
    [r] = desc["Reservations"]
    assert r["ReservationId"] == res["ReservationId"]
    for i in r["Instances"]:
        assert i["State"] == RUNNING
        assert i["IamInstanceProfile"] == {"Arn": profile["Arn"], "Id": profile["InstanceProfileId"]}
        [a] = active_associations(ec2, i["InstanceId"])
        assert a["State"] == "associated" and ASSOC_ID.fullmatch(a["AssociationId"])
        assert a["IamInstanceProfile"] == {"Arn": profile["Arn"], "Id": profile["InstanceProfileId"]}


def test_run_with_profile_arn_with_path(ec2, iam):
    prof = role_with_profile(iam, path="/app/team/").instance_profile
    assert ":instance-profile/app/team/" in prof["Arn"]
    inst = run(ec2, IamInstanceProfile={"Arn": prof["Arn"]})["Instances"][0]
    assert inst["IamInstanceProfile"] == {"Arn": prof["Arn"], "Id": prof["InstanceProfileId"]}
    # An ARN with the right name but the wrong path names no profile.
    wrong = prof["Arn"].replace("/app/team/", "/")
    assert aws_error(run, ec2, IamInstanceProfile={"Arn": wrong})[:2] == ("InvalidParameterValue", 400)


def test_run_profile_errors(ec2, profile):
    assert aws_error(run, ec2, IamInstanceProfile={"Name": unique("nope")})[:2] == ("InvalidParameterValue", 400)
    assert aws_error(run, ec2, IamInstanceProfile={"Arn": profile["Arn"] + "x"})[:2] == ("InvalidParameterValue", 400)
    both = {"Name": profile["InstanceProfileName"], "Arn": profile["Arn"]}
    assert aws_error(run, ec2, IamInstanceProfile=both)[:2] == ("InvalidParameterCombination", 400)


def test_min_max_count_and_vpc_params(ec2):
    res = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=2, SecurityGroupIds=["sg-0123456789abcdef0", "sg-1a2b3c4d"])
    assert len(res["Instances"]) == 2
    assert res["Instances"][0]["SecurityGroups"] == [{"GroupId": "sg-0123456789abcdef0"}, {"GroupId": "sg-1a2b3c4d"}]
    assert "IamInstanceProfile" not in res["Instances"][0]
    assert aws_error(ec2.run_instances, ImageId=AMI, MinCount=3, MaxCount=2)[:2] == ("InvalidParameterValue", 400)
    assert aws_error(ec2.run_instances, ImageId=AMI, MinCount=0, MaxCount=1)[:2] == ("InvalidParameterValue", 400)
    assert aws_error(ec2.run_instances, ImageId="not-an-ami", MinCount=1, MaxCount=1)[:2] == ("InvalidAMIID.Malformed", 400)
    assert aws_error(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId="subnet-xyz")[:2] == ("InvalidSubnetID.Malformed", 400)
    assert aws_error(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SecurityGroupIds=["sg-nothex!"])[:2] == ("InvalidGroupId.Malformed", 400)
    # ImageId is optional in the model (launch templates) but required here.
    assert aws_error(ec2.run_instances, MinCount=1, MaxCount=1)[:2] == ("MissingParameter", 400)


def test_private_ip_address(ec2):
    live = {i["PrivateIpAddress"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    ip = next(ip for ip in (f"172.31.{random.randrange(8, 15)}.{random.randrange(10, 250)}" for _ in range(100)) if ip not in live)
    inst = run(ec2, PrivateIpAddress=ip)["Instances"][0]
    assert inst["PrivateIpAddress"] == ip
    assert describe(ec2, inst["InstanceId"])["PrivateIpAddress"] == ip
    code, status, msg = aws_error(run, ec2, PrivateIpAddress=ip)
    assert (code, status) == ("InvalidIPAddress.InUse", 400), (code, msg)
    assert aws_error(run, ec2, PrivateIpAddress="192.168.1.10")[:2] == ("InvalidParameterValue", 400)
    assert aws_error(run, ec2, PrivateIpAddress="not-an-ip")[:2] == ("InvalidParameterValue", 400)
    assert aws_error(run, ec2, 2, PrivateIpAddress="172.31.15.250")[:2] == ("InvalidParameterCombination", 400)
    # Once the holder is terminated, the address is free again.
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    again = run(ec2, PrivateIpAddress=ip)["Instances"][0]
    assert again["PrivateIpAddress"] == ip


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    yield from own_server(tmp_path_factory, "small", extra_args=["--instance-cidr", "172.16.5.0/28"])


def test_instance_cidr(small_server):
    """`--instance-cidr` sets the range; VPC-reserved addresses are skipped; the range can run out."""
    ec2 = client_for(small_server, "ec2")
    net = ipaddress.ip_network("172.16.5.0/28")
    first = run(ec2, 5)["Instances"]
    ips = {ipaddress.ip_address(i["PrivateIpAddress"]) for i in first}
    assert len(ips) == 5
    reserved = {net.network_address + k for k in range(4)} | {net.broadcast_address}
    assert all(ip in net and ip not in reserved for ip in ips)
    # 11 usable addresses: 6 remain. MinCount 2 / MaxCount 10 launches what fits.
    second = ec2.run_instances(ImageId=AMI, MinCount=2, MaxCount=10)["Instances"]
    assert len(second) == 6
    all_ips = ips | {ipaddress.ip_address(i["PrivateIpAddress"]) for i in second}
    assert len(all_ips) == 11
    code, status, _ = aws_error(run, ec2, 1)
    assert (code, status) == ("InsufficientFreeAddressesInSubnet", 400)
    # Terminating frees an address.
    ec2.terminate_instances(InstanceIds=[first[0]["InstanceId"]])
    assert run(ec2)["Instances"][0]["PrivateIpAddress"] == first[0]["PrivateIpAddress"]
    assert aws_error(run, ec2, PrivateIpAddress="10.0.0.10")[:2] == ("InvalidParameterValue", 400)
    # The reserved addresses cannot be asked for either.
    for reserved_ip in ("172.16.5.0", "172.16.5.1", "172.16.5.3", "172.16.5.15"):
        assert aws_error(run, ec2, PrivateIpAddress=reserved_ip)[:2] == ("InvalidParameterValue", 400), reserved_ip


def test_tags_and_tag_filters(ec2):
    team = unique("team")
    web = run(ec2, 2, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Team", "Value": team}, {"Key": "Role", "Value": "web-frontend"}]},
        {"ResourceType": "volume", "Tags": [{"Key": "ignored", "Value": "x"}]},
    ])["Instances"]
    db = run(ec2, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Team", "Value": team}, {"Key": "Role", "Value": "db"}]}])["Instances"]
    assert sorted((t["Key"], t["Value"]) for t in web[0]["Tags"]) == [("Role", "web-frontend"), ("Team", team)]
    web_ids, db_ids = {i["InstanceId"] for i in web}, {i["InstanceId"] for i in db}
    f = lambda *filters: set(ids_of(ec2.describe_instances(Filters=list(filters))))  # noqa: E731
    assert f({"Name": "tag:Team", "Values": [team]}) == web_ids | db_ids
    assert f({"Name": "tag:Team", "Values": [team]}, {"Name": "tag:Role", "Values": ["web-*"]}) == web_ids
    assert f({"Name": "tag:Team", "Values": [team]}, {"Name": "tag:Role", "Values": ["d?"]}) == db_ids
    assert f({"Name": "tag:Team", "Values": [team[:-3] + "*"]}, {"Name": "tag:Role", "Values": ["nomatch", "db"]}) == db_ids
    assert f({"Name": "tag:Team", "Values": [team.upper()]}) == set()  # values match case-sensitively
    assert f({"Name": "tag:team", "Values": [team]}) == set()  # and keys too
    assert f({"Name": "tag:Team", "Values": [team]}, {"Name": "tag-key", "Values": ["Role"]}) == web_ids | db_ids
    described = describe(ec2, db[0]["InstanceId"])
    assert sorted((t["Key"], t["Value"]) for t in described["Tags"]) == [("Role", "db"), ("Team", team)]
    assert aws_error(run, ec2, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "aws:x", "Value": "v"}]}])[:2] == ("InvalidParameterValue", 400)
    assert aws_error(run, ec2, TagSpecifications=[{"ResourceType": "bucket", "Tags": [{"Key": "k", "Value": "v"}]}])[:2] == ("InvalidParameterValue", 400)


def test_odd_characters_keep_responses_well_formed(ec2):
    """Any text a client stores (EC2 tags and key names are free-form) comes back in well-formed XML.
    (Control characters are refused: test_input_hardening.)"""
    inst = run(ec2, KeyName="key<&>'\"name", TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "uni", "Value": "한국어 ü"}, {"Key": "amp", "Value": "<&>\"'"}]}])["Instances"][0]
    got = describe(ec2, inst["InstanceId"])
    assert got["KeyName"] == "key<&>'\"name"
    tags = {t["Key"]: t["Value"] for t in got["Tags"]}
    assert tags == {"uni": "한국어 ü", "amp": "<&>\"'"}
    # Describing everything still parses.
    assert inst["InstanceId"] in ids_of(ec2.describe_instances())


def test_filters(ec2, iam):
    prof = role_with_profile(iam).instance_profile
    mark = unique("f")
    tag = [{"ResourceType": "instance", "Tags": [{"Key": "Mark", "Value": mark}]}]
    a, b = run(ec2, 2, TagSpecifications=tag, IamInstanceProfile={"Name": prof["InstanceProfileName"]})["Instances"]
    c = run(ec2, TagSpecifications=tag)["Instances"][0]
    ec2.stop_instances(InstanceIds=[b["InstanceId"]])
    mine = {"Name": "tag:Mark", "Values": [mark]}
    f = lambda *filters: sorted(ids_of(ec2.describe_instances(Filters=[mine, *filters])))  # noqa: E731
    assert f({"Name": "instance-id", "Values": [a["InstanceId"], c["InstanceId"]]}) == sorted([a["InstanceId"], c["InstanceId"]])
    assert f({"Name": "instance-state-name", "Values": ["running"]}) == sorted([a["InstanceId"], c["InstanceId"]])
    assert f({"Name": "instance-state-name", "Values": ["stopped"]}) == [b["InstanceId"]]
    assert f({"Name": "instance-state-code", "Values": ["80"]}) == [b["InstanceId"]]
    assert f({"Name": "iam-instance-profile.arn", "Values": [prof["Arn"]]}) == sorted([a["InstanceId"], b["InstanceId"]])
    assert f({"Name": "iam-instance-profile.arn", "Values": [prof["Arn"][:-4] + "*"]}) == sorted([a["InstanceId"], b["InstanceId"]])
    assert f({"Name": "instance-id", "Values": [a["InstanceId"]]}, {"Name": "instance-state-name", "Values": ["stopped"]}) == []
    # Filters combine with InstanceIds.
    got = ids_of(ec2.describe_instances(InstanceIds=[a["InstanceId"], b["InstanceId"]], Filters=[{"Name": "instance-state-name", "Values": ["running"]}]))
    assert got == [a["InstanceId"]]
    assert aws_error(ec2.describe_instances, Filters=[{"Name": "no-such-filter", "Values": ["x"]}])[:2] == ("InvalidParameterValue", 400)


def test_describe_instances_pagination(ec2):
    mark = unique("pg")
    launched = run(ec2, 7, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Page", "Value": mark}]}])["Instances"]
    want = sorted(i["InstanceId"] for i in launched)
    seen, token, pages = [], None, []
    while True:
        kw = {"Filters": [{"Name": "tag:Page", "Values": [mark]}], "MaxResults": 5}
        if token:
            kw["NextToken"] = token
        page = ec2.describe_instances(**kw)
        got = ids_of(page)
        pages.append(len(got))
        seen += got
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [5, 2]
    assert sorted(seen) == want and len(set(seen)) == 7
    pag = ec2.get_paginator("describe_instances").paginate(Filters=[{"Name": "tag:Page", "Values": [mark]}], PaginationConfig={"PageSize": 5})
    assert sorted(i for p in pag for i in ids_of(p)) == want
    assert aws_error(ec2.describe_instances, MaxResults=4)[:2] == ("InvalidParameterValue", 400)
    assert aws_error(ec2.describe_instances, MaxResults=5, InstanceIds=want[:1])[:2] == ("InvalidParameterCombination", 400)


def test_user_data_and_metadata_options(ec2):
    script = "#!/bin/sh\necho hello > /tmp/x\n"
    inst = run(
        ec2, UserData=script,
        MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled", "InstanceMetadataTags": "enabled"},
    )["Instances"][0]
    mo = inst["MetadataOptions"]
    assert (mo["HttpTokens"], mo["HttpPutResponseHopLimit"], mo["HttpEndpoint"], mo["InstanceMetadataTags"]) == ("required", 2, "enabled", "enabled")
    iid = inst["InstanceId"]
    assert describe(ec2, iid)["MetadataOptions"]["HttpTokens"] == "required"
    default = run(ec2)["Instances"][0]["MetadataOptions"]
    assert (default["HttpTokens"], default["HttpPutResponseHopLimit"], default["HttpEndpoint"]) == ("optional", 1, "enabled")

    out = ec2.modify_instance_metadata_options(InstanceId=iid, HttpTokens="optional", HttpPutResponseHopLimit=3)
    assert out["InstanceId"] == iid
    assert out["InstanceMetadataOptions"]["State"] == "pending"
    assert out["InstanceMetadataOptions"]["HttpTokens"] == "optional"
    assert out["InstanceMetadataOptions"]["HttpPutResponseHopLimit"] == 3
    mo = describe(ec2, iid)["MetadataOptions"]
    # Unchanged options keep their values.
    assert (mo["HttpTokens"], mo["HttpPutResponseHopLimit"], mo["InstanceMetadataTags"], mo["State"]) == ("optional", 3, "enabled", "applied")
    ec2.modify_instance_metadata_options(InstanceId=iid, HttpEndpoint="disabled")
    assert describe(ec2, iid)["MetadataOptions"]["HttpEndpoint"] == "disabled"
    assert aws_error(ec2.modify_instance_metadata_options, InstanceId=iid, HttpTokens="sometimes")[:2] == ("InvalidParameterValue", 400)
    assert aws_error(ec2.modify_instance_metadata_options, InstanceId=iid, HttpPutResponseHopLimit=65)[:2] == ("InvalidParameterValue", 400)
    assert describe(ec2, iid)["MetadataOptions"]["HttpPutResponseHopLimit"] == 3
    assert aws_error(ec2.modify_instance_metadata_options, InstanceId="i-0123456789abcdef0", HttpTokens="required")[:2] == ("InvalidInstanceID.NotFound", 400)
    assert aws_error(run, ec2, MetadataOptions={"HttpTokens": "bogus"})[:2] == ("InvalidParameterValue", 400)


def test_user_data_size_limit(ec2):
    """User data is limited to 16 KB decoded (boto3 base64-encodes it on the wire)."""
    assert INSTANCE_ID.fullmatch(run(ec2, UserData=bytes(range(256)) * 64)["Instances"][0]["InstanceId"])  # exactly 16384
    code, status, msg = aws_error(run, ec2, UserData=b"x" * 16385)
    assert (code, status) == ("InvalidParameterValue", 400) and "16384" in msg


# ---------------------------------------------------------------- state changes


def test_start_stop_terminate_states(ec2, profile):
    iid = run(ec2, IamInstanceProfile={"Name": profile["InstanceProfileName"]})["Instances"][0]["InstanceId"]
    [ch] = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"]
    assert (ch["InstanceId"], ch["PreviousState"], ch["CurrentState"]) == (iid, RUNNING, STOPPING)
    assert describe(ec2, iid)["State"] == STOPPED
    assert describe(ec2, iid)["StateTransitionReason"].startswith("User initiated")
    # Stopping a stopped instance reports no change.
    [ch] = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"]
    assert (ch["PreviousState"], ch["CurrentState"]) == (STOPPED, STOPPED)
    # The profile stays with a stopped instance.
    assert describe(ec2, iid)["IamInstanceProfile"]["Arn"] == profile["Arn"]
    [ch] = ec2.start_instances(InstanceIds=[iid])["StartingInstances"]
    assert (ch["PreviousState"], ch["CurrentState"]) == (STOPPED, PENDING)
    assert describe(ec2, iid)["State"] == RUNNING
    [ch] = ec2.start_instances(InstanceIds=[iid])["StartingInstances"]
    assert (ch["PreviousState"], ch["CurrentState"]) == (RUNNING, RUNNING)
    [assoc] = active_associations(ec2, iid)
    [ch] = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"]
    assert (ch["PreviousState"], ch["CurrentState"]) == (RUNNING, SHUTTING_DOWN)
    t = describe(ec2, iid)
    assert t["State"] == TERMINATED
    # Terminating ends the association.
    assert "IamInstanceProfile" not in t
    assert active_associations(ec2, iid) == []
    [ended] = ec2.describe_iam_instance_profile_associations(AssociationIds=[assoc["AssociationId"]])["IamInstanceProfileAssociations"]
    assert ended["State"] == "disassociated"
    [ch] = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"]
    assert (ch["PreviousState"], ch["CurrentState"]) == (TERMINATED, TERMINATED)
    assert aws_error(ec2.start_instances, InstanceIds=[iid])[:2] == ("IncorrectInstanceState", 400)
    assert aws_error(ec2.stop_instances, InstanceIds=[iid])[:2] == ("IncorrectInstanceState", 400)
    assert aws_error(ec2.associate_iam_instance_profile, InstanceId=iid, IamInstanceProfile={"Name": profile["InstanceProfileName"]})[:2] == ("IncorrectInstanceState", 400)
    assert aws_error(ec2.modify_instance_metadata_options, InstanceId=iid, HttpTokens="required")[:2] == ("IncorrectInstanceState", 400)


def test_state_changes_of_several_instances(ec2):
    a, b = (i["InstanceId"] for i in run(ec2, 2)["Instances"])
    ec2.stop_instances(InstanceIds=[a])
    changes = {c["InstanceId"]: (c["PreviousState"], c["CurrentState"]) for c in ec2.terminate_instances(InstanceIds=[a, b])["TerminatingInstances"]}
    assert changes == {a: (STOPPED, SHUTTING_DOWN), b: (RUNNING, SHUTTING_DOWN)}
    # One unknown id fails the whole call, and names the id.
    c = run(ec2)["Instances"][0]["InstanceId"]
    code, status, msg = aws_error(ec2.stop_instances, InstanceIds=[c, "i-0000000000000dead"])
    assert (code, status) == ("InvalidInstanceID.NotFound", 400) and "i-0000000000000dead" in msg
    assert describe(ec2, c)["State"] == RUNNING


def test_dry_run(ec2):
    iid = run(ec2)["Instances"][0]["InstanceId"]
    for call, kw in [
        (ec2.run_instances, {"ImageId": AMI, "MinCount": 1, "MaxCount": 1}),
        (ec2.stop_instances, {"InstanceIds": [iid]}),
        (ec2.start_instances, {"InstanceIds": [iid]}),
        (ec2.terminate_instances, {"InstanceIds": [iid]}),
        (ec2.describe_instances, {"InstanceIds": [iid]}),
        (ec2.modify_instance_metadata_options, {"InstanceId": iid, "HttpTokens": "required"}),
    ]:
        assert aws_error(call, DryRun=True, **kw)[:2] == ("DryRunOperation", 412), call
    i = describe(ec2, iid)
    assert i["State"] == RUNNING and i["MetadataOptions"]["HttpTokens"] == "optional"


# ---------------------------------------------------------------- associations


def test_associate_on_stopped_instance_and_replace(ec2, iam):
    p1, p2 = role_with_profile(iam).instance_profile, role_with_profile(iam).instance_profile
    iid = run(ec2)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[iid])
    a = ec2.associate_iam_instance_profile(InstanceId=iid, IamInstanceProfile={"Arn": p1["Arn"]})["IamInstanceProfileAssociation"]
    assert a["State"] == "associating" and a["InstanceId"] == iid
    assert a["IamInstanceProfile"] == {"Arn": p1["Arn"], "Id": p1["InstanceProfileId"]}
    assert describe(ec2, iid)["IamInstanceProfile"]["Id"] == p1["InstanceProfileId"]
    code, status, _ = aws_error(ec2.associate_iam_instance_profile, InstanceId=iid, IamInstanceProfile={"Name": p2["InstanceProfileName"]})
    assert (code, status) == ("IncorrectState", 400)
    ec2.start_instances(InstanceIds=[iid])
    new = ec2.replace_iam_instance_profile_association(AssociationId=a["AssociationId"], IamInstanceProfile={"Name": p2["InstanceProfileName"]})["IamInstanceProfileAssociation"]
    assert new["AssociationId"] != a["AssociationId"] and ASSOC_ID.fullmatch(new["AssociationId"])
    assert new["IamInstanceProfile"]["Arn"] == p2["Arn"]
    assert describe(ec2, iid)["IamInstanceProfile"] == {"Arn": p2["Arn"], "Id": p2["InstanceProfileId"]}
    both = ec2.describe_iam_instance_profile_associations(AssociationIds=[a["AssociationId"], new["AssociationId"]])["IamInstanceProfileAssociations"]
    assert {x["AssociationId"]: x["State"] for x in both} == {a["AssociationId"]: "disassociated", new["AssociationId"]: "associated"}
    ended = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [iid]}, {"Name": "state", "Values": ["disassociated"]}])
    assert [x["AssociationId"] for x in ended["IamInstanceProfileAssociations"]] == [a["AssociationId"]]
    # Replacing with an unknown profile fails and keeps the current one.
    assert aws_error(ec2.replace_iam_instance_profile_association, AssociationId=new["AssociationId"], IamInstanceProfile={"Name": unique("nope")})[:2] == ("InvalidParameterValue", 400)
    assert describe(ec2, iid)["IamInstanceProfile"]["Arn"] == p2["Arn"]
    gone = ec2.disassociate_iam_instance_profile(AssociationId=new["AssociationId"])["IamInstanceProfileAssociation"]
    assert gone["State"] == "disassociating" and gone["IamInstanceProfile"]["Arn"] == p2["Arn"]
    assert "IamInstanceProfile" not in describe(ec2, iid)


def test_association_errors(ec2, profile):
    iid = run(ec2)["Instances"][0]["InstanceId"]
    name = {"Name": profile["InstanceProfileName"]}
    assert aws_error(ec2.associate_iam_instance_profile, InstanceId="i-0123456789abcdef0", IamInstanceProfile=name)[:2] == ("InvalidInstanceID.NotFound", 400)
    assert aws_error(ec2.associate_iam_instance_profile, InstanceId="i-bad", IamInstanceProfile=name)[:2] == ("InvalidInstanceID.Malformed", 400)
    assert aws_error(ec2.associate_iam_instance_profile, InstanceId=iid, IamInstanceProfile={"Name": unique("nope")})[:2] == ("InvalidParameterValue", 400)
    assert aws_error(ec2.associate_iam_instance_profile, InstanceId=iid, IamInstanceProfile={**name, "Arn": profile["Arn"]})[:2] == ("InvalidParameterCombination", 400)
    assert active_associations(ec2, iid) == []
    missing = "iip-assoc-0123456789abcdef0"
    assert aws_error(ec2.disassociate_iam_instance_profile, AssociationId=missing)[:2] == ("InvalidAssociationID.NotFound", 400)
    assert aws_error(ec2.replace_iam_instance_profile_association, AssociationId=missing, IamInstanceProfile=name)[:2] == ("InvalidAssociationID.NotFound", 400)
    assert aws_error(ec2.describe_iam_instance_profile_associations, AssociationIds=[missing])[:2] == ("InvalidAssociationID.NotFound", 400)
    assert aws_error(ec2.describe_iam_instance_profile_associations, Filters=[{"Name": "bogus", "Values": ["x"]}])[:2] == ("InvalidParameterValue", 400)


def test_describe_associations_pagination(ec2, profile):
    insts = run(ec2, 7, IamInstanceProfile={"Name": profile["InstanceProfileName"]})["Instances"]
    ids = [i["InstanceId"] for i in insts]
    seen, token, pages = [], None, []
    while True:
        kw = {"Filters": [{"Name": "instance-id", "Values": ids}], "MaxResults": 5}
        if token:
            kw["NextToken"] = token
        page = ec2.describe_iam_instance_profile_associations(**kw)
        pages.append(len(page["IamInstanceProfileAssociations"]))
        seen += [a["InstanceId"] for a in page["IamInstanceProfileAssociations"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [5, 2]
    assert sorted(seen) == sorted(ids)


# ---------------------------------------------------------------- errors


def test_instance_id_errors(ec2):
    raw = RawBodies(ec2)
    code, status, msg = aws_error(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0"])
    assert (code, status) == ("InvalidInstanceID.NotFound", 400) and "i-0123456789abcdef0" in msg
    body = raw.last("DescribeInstances")
    assert re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?>\s*<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>[^<]+</Message></Error></Errors><RequestID>[^<]+</RequestID></Response>\s*',
        body,
    ), body
    for bad in ("i-xyz", "instance", "i-0123456789abcdef", "i-0123456789ABCDEFG"):
        assert aws_error(ec2.describe_instances, InstanceIds=[bad])[:2] == ("InvalidInstanceID.Malformed", 400), bad
    for call in (ec2.start_instances, ec2.stop_instances, ec2.terminate_instances):
        assert aws_error(call, InstanceIds=["i-0123456789abcdef0"])[:2] == ("InvalidInstanceID.NotFound", 400)
        assert aws_error(call, InstanceIds=["i-zz"])[:2] == ("InvalidInstanceID.Malformed", 400)
