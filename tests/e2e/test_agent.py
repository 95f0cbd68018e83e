"""`rolecall agent`: IMDS on a host of instances, fed by the control plane over the authenticated
rolecall API. Two API nodes share one PostgreSQL database; the walkthrough goes through node A,
the agent (an IAM user allowed exactly rolecall:GetChangeGeneration and
rolecall:DescribeInstanceIdentities) serves the instance's credentials by source IP, and the
credentials are used through node B. Then: an association replaced through node A reaches the
agent within the change-poll bound, and the agent keeps serving cached credentials while both
API nodes are down, catching up once they are back.

Needs PostgreSQL: run under scripts/with-postgres.sh (ROLECALL_TEST_DATABASE_URL); each test gets
a database of its own."""

import json
import urllib.request
import os
import socket
import subprocess
import time
import uuid

import pytest

import boto3

from conftest import BINARY, Server, free_port
from test_imds import bound_get

TRUST = '{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole" } ] }'
ACCESS = '{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Action": ["s3:*", "ec2:DescribeInstances"], "Resource": ["*"] } ] }'
AGENT_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["rolecall:GetChangeGeneration", "rolecall:DescribeInstanceIdentities"], "Resource": "*"}]}
# The documented bound is one poll interval (250 ms) plus one fetch; this only catches breakage.
PROPAGATION_LIMIT = 3.0


class Agent:
    """A `rolecall agent` process."""

    def __init__(self, server: str, key: dict, log):
        self.port = free_port()
        self.status_port = free_port()
        self.server = server
        self.key = key
        self.log = log
        self.proc = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=self.key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=self.key["SecretAccessKey"])
        self.proc = subprocess.Popen(
            [str(BINARY), "agent", "--server", self.server, "--imds-listen", f"127.0.0.1:{self.port}", "--status-listen", f"127.0.0.1:{self.status_port}"],
            env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"agent exited: {self.log.read_text()}")
                time.sleep(0.05)
        raise RuntimeError("agent did not start listening")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def get(self, ip, path, headers=None, method="GET"):
        return bound_get(ip, f"http://127.0.0.1:{self.port}{path}", headers, method)


def aws_env(node: Server, database_url: str) -> dict:
    """`rolecall env` for the shared deployment, pointed at `node`."""
    out = subprocess.run(
        [str(BINARY), "--database-url", database_url, "env", "--data-dir", str(node.data_dir)],
        check=True, capture_output=True, text=True,
    ).stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for line in out.splitlines():
        if line.startswith("export "):
            k, v = line[len("export "):].split("=", 1)
            env[k] = v
    env.update(AWS_ENDPOINT_URL=node.endpoint, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    return env


def aws(env, cwd, *args):
    p = subprocess.run(["aws", *args, "--output", "json"], env=env, cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, f"aws {' '.join(args)} failed: {p.stderr}"
    return json.loads(p.stdout) if p.stdout.strip() else None


def client_for(node: Server, service: str, key: str, secret: str, aws_session_token=None):
    return boto3.client(
        service, endpoint_url=node.endpoint, region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=aws_session_token,
    )


def eventually(check, limit):
    """Polls `check` until it is truthy; the seconds it took (fails after `limit`)."""
    start = time.time()
    while not check():
        assert time.time() - start < limit, f"not within {limit}s"
        time.sleep(0.02)
    return time.time() - start


def test_agent_two_nodes_and_outage(database_url, tmp_path):
    data = tmp_path / "data"
    args = ["--database-url", database_url, "--instance-cidr", "127.89.0.0/16"]
    a = Server(data, extra_args=args).start()
    b = Server(data, extra_args=args).start()
    agent = None
    try:
        env_a = aws_env(a, database_url)
        (tmp_path / "ec2-role-trust-policy.json").write_text(TRUST)
        (tmp_path / "ec2-role-access-policy.json").write_text(ACCESS)

        # The walkthrough, through node A.
        account = aws(env_a, tmp_path, "sts", "get-caller-identity")["Account"]
        aws(env_a, tmp_path, "iam", "create-role", "--role-name", "s3access", "--assume-role-policy-document", "file://ec2-role-trust-policy.json")
        aws(env_a, tmp_path, "iam", "put-role-policy", "--role-name", "s3access", "--policy-name", "S3-Permissions", "--policy-document", "file://ec2-role-access-policy.json")
        aws(env_a, tmp_path, "iam", "create-instance-profile", "--instance-profile-name", "s3access-profile")
        aws(env_a, tmp_path, "iam", "add-role-to-instance-profile", "--instance-profile-name", "s3access-profile", "--role-name", "s3access")
        [inst] = aws(env_a, tmp_path, "ec2", "run-instances", "--image-id", "ami-11aa22bb", "--iam-instance-profile", 'Name="s3access-profile"')["Instances"]
        instance_id, ip = inst["InstanceId"], inst["PrivateIpAddress"]
        assert ip.startswith("127.89.")

        # The agent's own identity: exactly the rolecall permission.
        aws(env_a, tmp_path, "iam", "create-user", "--user-name", "imds-agent")
        aws(env_a, tmp_path, "iam", "put-user-policy", "--user-name", "imds-agent", "--policy-name", "agent", "--policy-document", json.dumps(AGENT_POLICY))
        key = aws(env_a, tmp_path, "iam", "create-access-key", "--user-name", "imds-agent")["AccessKey"]
        agent = Agent(a.endpoint, key, tmp_path / "agent.log").start()

        # Credentials through the agent, by the instance's source address.
        eventually(lambda: agent.get(ip, "/latest/meta-data/iam/security-credentials/")[0] == 200, 10)
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
        from botocore.exceptions import ClientError
        with pytest.raises(ClientError) as e:
            client_for(b, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"]).list_roles()
        assert e.value.response["Error"]["Code"] == "AccessDenied"

        # An association replaced through node A reaches the agent within the poll bound.
        aws(env_a, tmp_path, "iam", "create-role", "--role-name", "other", "--assume-role-policy-document", "file://ec2-role-trust-policy.json")
        aws(env_a, tmp_path, "iam", "create-instance-profile", "--instance-profile-name", "other-profile")
        aws(env_a, tmp_path, "iam", "add-role-to-instance-profile", "--instance-profile-name", "other-profile", "--role-name", "other")
        # Measured from ReplaceIamInstanceProfileAssociation's response (boto3, node A) to the
        # agent serving the new role, a few times at arbitrary phases of the agent's poll.
        ec2_a = client_for(a, "ec2", env_a["AWS_ACCESS_KEY_ID"], env_a["AWS_SECRET_ACCESS_KEY"])
        times = []
        for n, profile in enumerate(["other-profile", "s3access-profile"] * 3 + ["other-profile"]):
            [assoc] = ec2_a.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
            time.sleep(0.037 * n)
            ec2_a.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"], IamInstanceProfile={"Name": profile})
            role = profile.removesuffix("-profile")
            times.append(eventually(lambda: agent.get(ip, "/latest/meta-data/iam/security-credentials/") == (200, role), PROPAGATION_LIMIT))
        print(f"association change through node A visible through the agent after (s): {', '.join(f'{t:.3f}' for t in times)}")
        status, body = agent.get(ip, "/latest/meta-data/iam/security-credentials/other")
        assert status == 200, body
        cached = body

        # Both API nodes down: the agent keeps serving its cached credentials.
        a.stop()
        b.stop()
        for _ in range(3):
            time.sleep(1)
            assert agent.get(ip, "/latest/meta-data/iam/security-credentials/other") == (200, cached)
        # Back up; a change made through A is picked up again.
        a.start()
        b.start()
        [assoc] = ec2_a.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
        ec2_a.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"], IamInstanceProfile={"Name": "s3access-profile"})
        took = eventually(lambda: agent.get(ip, "/latest/meta-data/iam/security-credentials/") == (200, "s3access"), PROPAGATION_LIMIT)
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
