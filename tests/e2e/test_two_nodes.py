"""Two API nodes on one database (one SQLite file, or PostgreSQL): a change made through one comes
into force on the other (within the change-poll interval, 250 ms, plus a fetch: measured in
docs/benchmarks.md, not asserted here), for policies, keys and IMDS."""

import urllib.request

import botocore.exceptions

from support import TRUST_EC2 as TRUST, client_for, doc, allow, eventually, unique


def test_changes_propagate_between_nodes(nodes):
    a, b = nodes
    a.start()
    b.start()
    try:
        iam_a, ec2_a = client_for(a, "iam"), client_for(a, "ec2")
        name = unique("u")
        iam_a.create_user(UserName=name)
        key = iam_a.create_access_key(UserName=name)["AccessKey"]
        ec2_b_user = client_for(b, "ec2", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
        # Node B caches the user's (empty) permissions...
        try:
            ec2_b_user.describe_instances()
            raise AssertionError("should be refused")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "UnauthorizedOperation"
        # ...and follows a policy granted through node A.
        iam_a.put_user_policy(UserName=name, PolicyName="d", PolicyDocument=doc(allow("ec2:DescribeInstances")))
        took = [eventually(lambda: ec2_b_user.describe_instances() is not None, "node B applies the new policy")]
        # A key deactivated through A stops working on B.
        iam_a.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
        def refused():
            try:
                ec2_b_user.describe_instances()
                return False
            except botocore.exceptions.ClientError as e:
                return e.response["Error"]["Code"] == "AuthFailure"
        took.append(eventually(refused, "node B refuses the deactivated key"))

        # IMDS on node B follows an association made through node A.
        role, profile = unique("r"), unique("p")
        iam_a.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
        iam_a.create_instance_profile(InstanceProfileName=profile)
        iam_a.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
        inst = ec2_a.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        # `rolecall exec` points at the node that started last: B.
        endpoint_b = b.exec_env(inst)["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
        assert f":{b.imds_port}/" in endpoint_b
        def role_listed():
            try:
                with urllib.request.urlopen(f"{endpoint_b}latest/meta-data/iam/security-credentials/") as r:
                    return r.read().decode() == role
            except urllib.error.HTTPError:
                return False
        ec2_a.associate_iam_instance_profile(InstanceId=inst, IamInstanceProfile={"Name": profile})
        took.append(eventually(role_listed, "node B's IMDS serves the new association"))
        # How fast is measured, not asserted (docs/benchmarks.md).
        print("propagation to node B (policy, key, IMDS) after (s):", ", ".join(f"{t:.3f}" for t in took))
    finally:
        a.stop()
        b.stop()
