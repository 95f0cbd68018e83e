"""`rolecall agent`: IMDS on a host of instances, fed by the control plane over the authenticated
rolecall API. Two API nodes share one PostgreSQL database; the walkthrough goes through node A,
the agent (an IAM user allowed exactly rolecall:GetChangeGeneration and
rolecall:DescribeInstanceIdentities) serves the instance's credentials by source IP, and the
credentials are used through node B. Then: an association replaced through node A reaches the
agent (how fast is measured in docs/benchmarks.md, not asserted), and the agent keeps serving cached credentials while both
API nodes are down, catching up once they are back.

Needs PostgreSQL: run under scripts/with-postgres.sh (ROLECALL_TEST_DATABASE_URL); each test gets
a database of its own."""

import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from support import AGENT_POLICY, WALKTHROUGH_TRUST as TRUST, Agent, Cli, Server, client_for, eventually

ACCESS = '{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Action": ["s3:*", "ec2:DescribeInstances"], "Resource": ["*"] } ] }'


def refresh_failures(agent) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.status_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("rolecall_imds_refresh_failures_total"):
                return float(line.split()[-1])
    return 0.0


def test_agent_two_nodes_and_outage(database_url, tmp_path):
    data = tmp_path / "data"
    args = ["--instance-cidr", "127.89.0.0/16"]
    a = Server(data, extra_args=args, database_url=database_url).start()
    b = Server(data, extra_args=args, database_url=database_url).start()
    agent = None
    try:
        cli = Cli(a, tmp_path)
        (tmp_path / "ec2-role-trust-policy.json").write_text(TRUST)
        (tmp_path / "ec2-role-access-policy.json").write_text(ACCESS)

        # The walkthrough, through node A.
        account = cli.json("sts", "get-caller-identity")["Account"]
        cli.json("iam", "create-role", "--role-name", "s3access", "--assume-role-policy-document", "file://ec2-role-trust-policy.json")
        cli.json("iam", "put-role-policy", "--role-name", "s3access", "--policy-name", "S3-Permissions", "--policy-document", "file://ec2-role-access-policy.json")
        cli.json("iam", "create-instance-profile", "--instance-profile-name", "s3access-profile")
        cli.json("iam", "add-role-to-instance-profile", "--instance-profile-name", "s3access-profile", "--role-name", "s3access")
        [inst] = cli.json("ec2", "run-instances", "--image-id", "ami-11aa22bb", "--iam-instance-profile", 'Name="s3access-profile"')["Instances"]
        instance_id, ip = inst["InstanceId"], inst["PrivateIpAddress"]
        assert ip.startswith("127.89.")

        # The agent's own identity: exactly the rolecall permission.
        cli.json("iam", "create-user", "--user-name", "imds-agent")
        cli.json("iam", "put-user-policy", "--user-name", "imds-agent", "--policy-name", "agent", "--policy-document", AGENT_POLICY)
        key = cli.json("iam", "create-access-key", "--user-name", "imds-agent")["AccessKey"]
        agent = Agent(a.endpoint, key, tmp_path / "agent.log").start()

        # Credentials through the agent, by the instance's source address.
        eventually(lambda: agent.get(ip, "/latest/meta-data/iam/security-credentials/")[0] == 200, "the agent serves the instance")
        status, listed = agent.get(ip, "/latest/meta-data/iam/security-credentials/")
        assert (status, listed) == (200, "s3access")
        status, body = agent.get(ip, "/latest/meta-data/iam/security-credentials/s3access")
        assert status == 200, body
        doc = json.loads(body)
        assert doc["Code"] == "Success" and doc["AccessKeyId"].startswith("ASIA")
        assert agent.get(ip, "/latest/meta-data/instance-id") == (200, instance_id)
        # IMDSv2 too.
        status, token = agent.get(ip, "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, method="PUT")
        assert status == 200
        assert agent.get(ip, "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token}) == (200, instance_id)
        # Another address is not an instance.
        assert agent.get("127.0.0.1", "/latest/meta-data/instance-id")[0] == 404

        # The instance's credentials at work through node B.
        creds = dict(key=doc["AccessKeyId"], secret=doc["SecretAccessKey"], aws_session_token=doc["Token"])
        who = client_for(b, "sts", **creds).get_caller_identity()
        assert who["Arn"] == f"arn:aws:sts::{account}:assumed-role/s3access/{instance_id}"
        reservations = client_for(b, "ec2", **creds).describe_instances()["Reservations"]
        assert instance_id in [i["InstanceId"] for r in reservations for i in r["Instances"]]

        # The agent's key does nothing but its job.
        with pytest.raises(ClientError) as e:
            client_for(b, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"]).list_roles()
        assert e.value.response["Error"]["Code"] == "AccessDenied"

        # An association replaced through node A reaches the agent (how fast: docs/benchmarks.md).
        cli.json("iam", "create-role", "--role-name", "other", "--assume-role-policy-document", "file://ec2-role-trust-policy.json")
        cli.json("iam", "create-instance-profile", "--instance-profile-name", "other-profile")
        cli.json("iam", "add-role-to-instance-profile", "--instance-profile-name", "other-profile", "--role-name", "other")
        # A few times, at arbitrary phases of the agent's poll; the times are printed, not asserted.
        ec2_a = client_for(a, "ec2")
        times = []
        for n, profile in enumerate(["other-profile", "s3access-profile"] * 3 + ["other-profile"]):
            [assoc] = ec2_a.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
            time.sleep(0.037 * n)
            ec2_a.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"], IamInstanceProfile={"Name": profile})
            role = profile.removesuffix("-profile")
            times.append(eventually(lambda: agent.get(ip, "/latest/meta-data/iam/security-credentials/") == (200, role), f"the agent serves {role}"))
        print(f"association change through node A visible through the agent after (s): {', '.join(f'{t:.3f}' for t in times)}")
        status, body = agent.get(ip, "/latest/meta-data/iam/security-credentials/other")
        assert status == 200, body
        cached = body

        # Both API nodes down: once the agent has seen its polls fail, it keeps serving its
        # cached credentials.
        failures = refresh_failures(agent)
        a.stop()
        b.stop()
        eventually(lambda: refresh_failures(agent) >= failures + 3, "the agent notices the outage")
        assert agent.get(ip, "/latest/meta-data/iam/security-credentials/other") == (200, cached)
        assert agent.get(ip, "/latest/meta-data/iam/security-credentials/") == (200, "other")
        # Back up; a change made through A is picked up again.
        a.start()
        b.start()
        [assoc] = ec2_a.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
        ec2_a.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"], IamInstanceProfile={"Name": "s3access-profile"})
        took = eventually(lambda: agent.get(ip, "/latest/meta-data/iam/security-credentials/") == (200, "s3access"), "the agent catches up after the outage")
        print(f"after the outage, a change visible through the agent after {took:.3f}s")
        status, body = agent.get(ip, "/latest/meta-data/iam/security-credentials/s3access")
        assert status == 200, body
        doc = json.loads(body)
        creds = dict(key=doc["AccessKeyId"], secret=doc["SecretAccessKey"], aws_session_token=doc["Token"])
        assert client_for(b, "sts", **creds).get_caller_identity()["Arn"].endswith(f"assumed-role/s3access/{instance_id}")
        # The agent's own health and metrics.
        with urllib.request.urlopen(f"http://127.0.0.1:{agent.status_port}/health") as r:
            assert (r.status, r.read().decode().strip()) == (200, "ok")
        with urllib.request.urlopen(f"http://127.0.0.1:{agent.status_port}/metrics") as r:
            metrics = r.read().decode()
        assert 'rolecall_imds_requests_total{path="credentials",status="200"}' in metrics
        assert "rolecall_imds_refresh_failures_total" in metrics
        log = agent.log.read_text()
        assert "cannot refresh from the control plane" in log, log
        assert "control plane reachable again" in log, log
    finally:
        if agent:
            agent.stop()
        a.stop()
        b.stop()
