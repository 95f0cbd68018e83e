"""EC2 images and instance types with boto3 and the aws CLI: the built-in images, RegisterImage /
DescribeImages / DeregisterImage, DescribeInstanceTypes, their authorization, and RunInstances'
image and instance-type checks under --strict-ec2-ids (development mode launches any
well-formed id)."""

import pytest
from support import AMI, allow, aws_error, client_for, deny, doc, own_server, unique

AL2023_X86 = "ami-0a1b2c3d4e5f60701"


def test_built_in_images(ec2, cli):
    amazon = ec2.describe_images(Owners=["amazon"])["Images"]
    names = {i["Name"]: i for i in amazon}
    assert len(amazon) == 4 and all(i["ImageOwnerAlias"] == "amazon" and i["State"] == "available" for i in amazon)
    al = [i for n, i in names.items() if n.startswith("al2023-ami-")]
    assert sorted(i["Architecture"] for i in al) == ["arm64", "x86_64"]
    assert all(len(i["ImageId"]) == len("ami-") + 17 and i["Public"] for i in amazon)
    arm = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["arm64"]}, {"Name": "name", "Values": ["ubuntu/*"]}])["Images"]
    assert [i["Name"] for i in arm] == ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20241004"]
    assert ec2.describe_images(ImageIds=[AL2023_X86])["Images"][0]["Architecture"] == "x86_64"
    assert ec2.describe_images(Filters=[{"Name": "state", "Values": ["pending"]}], Owners=["amazon"])["Images"] == []
    assert aws_error(ec2.describe_images, ImageIds=["ami-0123456789abcdef0"]) == ("InvalidAMIID.NotFound", 400, "The image id '[ami-0123456789abcdef0]' does not exist")
    assert aws_error(ec2.describe_images, ImageIds=["ami-nothex"])[:2] == ("InvalidAMIID.Malformed", 400)
    assert aws_error(ec2.describe_images, Filters=[{"Name": "no-such", "Values": ["x"]}])[:2] == ("InvalidParameterValue", 400)
    # Paging: 5 per page over the built-in four and whatever the account registered.
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ec2.describe_images(Owners=["amazon"], MaxResults=5, **kw)
        seen += [i["ImageId"] for i in page["Images"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(i["ImageId"] for i in amazon)
    page = ec2.describe_images(MaxResults=5)
    assert len(page["Images"]) == 5 or "NextToken" not in page
    assert aws_error(ec2.describe_images, ImageIds=[AL2023_X86], MaxResults=5)[:2] == ("InvalidParameterCombination", 400)
    out = cli.json("ec2", "describe-images", "--owners", "amazon", "--filters", "Name=name,Values=al2023-ami-*-arm64")
    assert [i["Architecture"] for i in out["Images"]] == ["arm64"]


def test_register_describe_deregister(ec2, sts, cli):
    name = unique("my-image")
    image_id = ec2.register_image(Name=name, Architecture="arm64", Description="built by rolecall")["ImageId"]
    assert image_id.startswith("ami-") and len(image_id) == len("ami-") + 17
    [mine] = ec2.describe_images(ImageIds=[image_id])["Images"]
    account = sts.get_caller_identity()["Account"]
    assert (mine["Name"], mine["Architecture"], mine["OwnerId"], mine["Public"]) == (name, "arm64", account, False)
    assert "ImageOwnerAlias" not in mine
    assert image_id in [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]
    assert image_id in [i["ImageId"] for i in ec2.describe_images(Owners=[account])["Images"]]
    assert image_id not in [i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"]]
    assert [i["ImageId"] for i in ec2.describe_images(Filters=[{"Name": "name", "Values": [name]}])["Images"]] == [image_id]
    # Names are unique in the account.
    code, status, message = aws_error(ec2.register_image, Name=name)
    assert (code, status) == ("InvalidAMIName.Duplicate", 400) and image_id in message
    assert aws_error(ec2.register_image, Name="bad*name")[:2] == ("InvalidAMIName.Malformed", 400)
    assert aws_error(ec2.register_image, Name=unique("img"), Architecture="sparc")[:2] == ("InvalidParameterValue", 400)
    # The aws CLI registers too; the Name is required.
    other = cli.json("ec2", "register-image", "--name", unique("cli-image"))["ImageId"]
    assert ec2.describe_images(ImageIds=[other])["Images"][0]["Architecture"] == "x86_64"
    cli.json("ec2", "deregister-image", "--image-id", other)
    # Gone after DeregisterImage; the name is free again.
    ec2.deregister_image(ImageId=image_id)
    assert aws_error(ec2.describe_images, ImageIds=[image_id])[:2] == ("InvalidAMIID.NotFound", 400)
    assert aws_error(ec2.deregister_image, ImageId=image_id)[:2] == ("InvalidAMIID.NotFound", 400)
    assert aws_error(ec2.deregister_image, ImageId=AL2023_X86)[:2] == ("AuthFailure", 400)
    again = ec2.register_image(Name=name)["ImageId"]
    assert again != image_id
    ec2.deregister_image(ImageId=again)


def test_describe_instance_types(ec2, cli):
    types = {t["InstanceType"]: t for t in ec2.describe_instance_types()["InstanceTypes"]}
    assert {"t2.micro", "t2.large", "t3.nano", "t3.xlarge", "m5.large", "m5.2xlarge", "c5.large", "r5.large"} <= set(types)
    micro = types["t2.micro"]
    assert (micro["VCpuInfo"]["DefaultVCpus"], micro["MemoryInfo"]["SizeInMiB"]) == (1, 1024)
    assert micro["ProcessorInfo"]["SupportedArchitectures"] == ["i386", "x86_64"]
    assert (types["m5.2xlarge"]["VCpuInfo"]["DefaultVCpus"], types["m5.2xlarge"]["MemoryInfo"]["SizeInMiB"]) == (8, 32768)
    assert types["r5.large"]["MemoryInfo"]["SizeInMiB"] == 16384
    two = ec2.describe_instance_types(InstanceTypes=["t3.nano", "c5.large"])["InstanceTypes"]
    assert sorted(t["InstanceType"] for t in two) == ["c5.large", "t3.nano"]
    assert aws_error(ec2.describe_instance_types, InstanceTypes=["t3.micro", "x9.huge"]) == (
        "InvalidInstanceType", 400, "The following supplied instance types do not exist: [x9.huge]")
    four = ec2.describe_instance_types(Filters=[{"Name": "vcpu-info.default-vcpus", "Values": ["4"]}])["InstanceTypes"]
    assert sorted(t["InstanceType"] for t in four) == ["m5.xlarge", "t3.xlarge"]
    mem = ec2.describe_instance_types(Filters=[{"Name": "memory-info.size-in-mib", "Values": ["8192"]}, {"Name": "instance-type", "Values": ["t*"]}])["InstanceTypes"]
    assert sorted(t["InstanceType"] for t in mem) == ["t2.large", "t3.large"]
    # Paging.
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ec2.describe_instance_types(MaxResults=5, **kw)
        assert len(page["InstanceTypes"]) <= 5
        seen += [t["InstanceType"] for t in page["InstanceTypes"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(types) and len(seen) == len(types)
    out = cli.json("ec2", "describe-instance-types", "--instance-types", "t3.micro")
    assert out["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"] == 2


def test_authorization(ec2, iam, server):
    user = unique("imager")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(
        allow("ec2:RegisterImage", "arn:aws:ec2:*::image/*"),
        allow("ec2:DeregisterImage", "arn:aws:ec2:*::image/*"),
        deny("ec2:DeregisterImage", "arn:aws:ec2:*::image/ami-0a1b2c3d4e5f60701"),
        allow("ec2:DescribeImages"),
    ))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    mine = client_for(server, "ec2", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert mine.describe_images(Owners=["amazon"])["Images"]
    assert aws_error(mine.describe_instance_types)[:2] == ("UnauthorizedOperation", 403)
    image_id = mine.register_image(Name=unique("authz"))["ImageId"]
    assert aws_error(mine.deregister_image, ImageId=AL2023_X86)[:2] == ("UnauthorizedOperation", 403)
    mine.deregister_image(ImageId=image_id)
    # Denied on that one image's ARN.
    image_id = ec2.register_image(Name=unique("authz"))["ImageId"]
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(
        allow("ec2:*"), deny("ec2:DeregisterImage", f"arn:aws:ec2:*::image/{image_id}")))
    assert aws_error(mine.deregister_image, ImageId=image_id)[:2] == ("UnauthorizedOperation", 403)
    assert mine.describe_instance_types(InstanceTypes=["t2.micro"])["InstanceTypes"]
    ec2.deregister_image(ImageId=image_id)


def test_development_mode_launches_unknown_images_and_types(ec2):
    i = ec2.run_instances(ImageId=AMI, InstanceType="z9.mega", MinCount=1, MaxCount=1)["Instances"][0]
    assert (i["ImageId"], i["InstanceType"]) == (AMI, "z9.mega")
    assert aws_error(ec2.run_instances, ImageId="ami-NOPE", MinCount=1, MaxCount=1)[:2] == ("InvalidAMIID.Malformed", 400)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, databases):
    """A server with --strict-ec2-ids, on the store the run is for."""
    yield from own_server(tmp_path_factory, "strict-images", database_url=databases(), extra_args=["--strict-ec2-ids"])


def test_strict_mode_checks_image_and_instance_type(strict_server):
    ec2 = client_for(strict_server, "ec2")
    assert aws_error(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1) == (
        "InvalidAMIID.NotFound", 400, f"The image id '[{AMI}]' does not exist")
    assert aws_error(ec2.run_instances, ImageId=AL2023_X86, InstanceType="z9.mega", MinCount=1, MaxCount=1)[:2] == ("InvalidParameterValue", 400)
    i = ec2.run_instances(ImageId=AL2023_X86, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]
    assert i["ImageId"] == AL2023_X86
    mine = ec2.register_image(Name="strict-image")["ImageId"]
    assert ec2.run_instances(ImageId=mine, MinCount=1, MaxCount=1)["Instances"][0]["ImageId"] == mine
    ec2.deregister_image(ImageId=mine)
    assert aws_error(ec2.run_instances, ImageId=mine, MinCount=1, MaxCount=1)[:2] == ("InvalidAMIID.NotFound", 400)
