"""Cutting credentials off (issue 14): AWS's `AWSRevokeOlderSessions` through
`rolecall revoke-sessions`; instance credentials refused once their association ends or their
instance stops (on every node, within one second; AWS keeps them valid until expiry); and the
condition keys AWS offers against exfiltrated instance credentials (`ec2:RoleDelivery`,
`aws:EC2InstanceSourcePrivateIPv4`), with calls made from an instance's own address."""

import http.client
import json
import subprocess
import urllib.parse
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from support import (
    AGENT_POLICY, BINARY, Agent, Server, aws_error, bound_get, client_for, creds_kw, doc, allow,
    eventually, launch, role_with_profile, unique,
)

# The bound: an ended association's credentials fail within one second on every node.
CUTOFF_BOUND = 1.0


def imds_creds(server, ip, role, v2=True):
    """The instance's credentials from IMDS by its source address, over IMDSv2 (or v1)."""
    headers = {}
    if v2:
        status, token = bound_get(ip, f"{server.imds}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, method="PUT")
        assert status == 200, token
        headers = {"X-aws-ec2-metadata-token": token}
    status, body = bound_get(ip, f"{server.imds}/latest/meta-data/iam/security-credentials/{role}", headers)
    assert status == 200, body
    return json.loads(body)


def call_from(src_ip, server, creds, params, service="iam"):
    """An IAM Query call signed with `creds` (botocore's SigV4) and sent from `src_ip`.
    Returns (HTTP status, body)."""
    body = urllib.parse.urlencode({**params, "Version": "2010-05-08"})
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("Token") or creds.get("SessionToken")), service, "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, source_address=(src_ip, 0), timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def get_role(server, creds, role):
    return client_for(server, "iam", **creds_kw(creds)).get_role(RoleName=role)["Role"]["RoleName"]


def refused_code(server, creds, role):
    """The error code GetRole with these credentials gets (None if it succeeds)."""
    try:
        get_role(server, creds, role)
        return None
    except ClientError as e:
        return e.response["Error"]["Code"]


def revoked(server, creds, role):
    return refused_code(server, creds, role) == "InvalidClientTokenId"


def assumer(server):
    """An STS client of an IAM user allowed to assume roles (the root may not, as on AWS)."""
    iam = client_for(server, "iam")
    name = unique("assumer")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=doc(allow("sts:AssumeRole")))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return client_for(server, "sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])


def role_for_instances(iam, *statements):
    """A role (trusting EC2 and the account) in a profile of its own, allowed iam:GetRole."""
    r = role_with_profile(iam)
    account = r.role_arn.split(":")[4]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"},
    ]}
    iam.update_assume_role_policy(RoleName=r.role, PolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=r.role, PolicyName="read", PolicyDocument=doc(allow("iam:GetRole"), *statements))
    return r


# ----- AWSRevokeOlderSessions -----


def test_revoke_sessions_refuses_older_sessions_and_allows_new_ones(imds_server):
    iam, ec2, sts = client_for(imds_server, "iam"), client_for(imds_server, "ec2"), assumer(imds_server)
    r = role_for_instances(iam)
    ip = launch(ec2, r.profile)["PrivateIpAddress"]
    assumed = sts.assume_role(RoleArn=r.role_arn, RoleSessionName="before")["Credentials"]
    instance = imds_creds(imds_server, ip, r.role)
    assert get_role(imds_server, assumed, r.role) == r.role
    assert get_role(imds_server, instance, r.role) == r.role

    out = subprocess.run([str(BINARY), *imds_server.global_args, "revoke-sessions", "--data-dir", str(imds_server.data_dir), r.role],
                         capture_output=True, text=True, check=True).stdout
    assert "AWSRevokeOlderSessions" in out
    # AWS's document, as the console writes it.
    policy = iam.get_role_policy(RoleName=r.role, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    statement = policy["Statement"] if isinstance(policy["Statement"], dict) else policy["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*" and statement["Resource"] == "*"
    assert list(statement["Condition"]) == ["DateLessThan"]
    assert list(statement["Condition"]["DateLessThan"]) == ["aws:TokenIssueTime"]

    # Both older sessions are refused (the server follows the command's write through the feed).
    eventually(lambda: refused_code(imds_server, assumed, r.role) == "AccessDenied", "the AssumeRole session is refused")
    eventually(lambda: refused_code(imds_server, instance, r.role) == "AccessDenied", "the instance session is refused")
    # New sessions pass: AssumeRole again, and the instance's next credentials from IMDS.
    eventually(lambda: get_role(imds_server, sts.assume_role(RoleArn=r.role_arn, RoleSessionName="after")["Credentials"], r.role) == r.role,
               "a new AssumeRole session passes")
    # IMDS follows the same feed as the API's authorization, within the poll interval.
    eventually(lambda: imds_creds(imds_server, ip, r.role)["AccessKeyId"] != instance["AccessKeyId"],
               "IMDS serves credentials issued after the revocation")
    fresh = imds_creds(imds_server, ip, r.role)
    assert fresh["AccessKeyId"] != instance["AccessKeyId"]
    assert get_role(imds_server, fresh, r.role) == r.role
    assert refused_code(imds_server, instance, r.role) == "AccessDenied"


# ----- ended associations, one node -----


def test_replace_stop_and_terminate_cut_instance_credentials_off(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    r = role_for_instances(iam)
    other = role_for_instances(iam)

    # Replaced: the old association's credentials fail; the new one's work.
    inst = launch(ec2, r.profile)
    ip, iid = inst["PrivateIpAddress"], inst["InstanceId"]
    old = imds_creds(imds_server, ip, r.role)
    assert get_role(imds_server, old, r.role) == r.role
    [assoc] = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
    ec2.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"], IamInstanceProfile={"Name": other.profile})
    eventually(lambda: revoked(imds_server, old, r.role), "the replaced association's credentials fail", timeout=CUTOFF_BOUND)
    code, status, message = aws_error(client_for(imds_server, "iam", **creds_kw(old)).get_role, RoleName=r.role)
    assert (code, status, message) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    new = imds_creds(imds_server, ip, other.role)
    assert get_role(imds_server, new, other.role) == other.role

    # Stopped: refused; started again: the earlier run's credentials stay refused, new ones work.
    ec2.stop_instances(InstanceIds=[iid])
    eventually(lambda: revoked(imds_server, new, other.role), "a stopped instance's credentials fail", timeout=CUTOFF_BOUND)
    ec2.start_instances(InstanceIds=[iid])
    again = imds_creds(imds_server, ip, other.role)
    assert again["AccessKeyId"] != new["AccessKeyId"]
    assert get_role(imds_server, again, other.role) == other.role
    assert revoked(imds_server, new, other.role)

    # Terminated: refused.
    ec2.terminate_instances(InstanceIds=[iid])
    eventually(lambda: revoked(imds_server, again, other.role), "a terminated instance's credentials fail", timeout=CUTOFF_BOUND)

    # Another instance of the same role is untouched by all of this.
    bystander = launch(ec2, r.profile)
    kept = imds_creds(imds_server, bystander["PrivateIpAddress"], r.role)
    assert get_role(imds_server, kept, r.role) == r.role


def test_a_restarted_node_still_refuses_what_ended_before_it_started(tmp_path, databases):
    """A full reload (start, or a pruned feed) rebuilds the ended set from the associations and
    instances, not from the feed."""
    server = Server(tmp_path / "data", imds=True, extra_args=["--instance-cidr", "127.91.0.0/16"], database_url=databases()).start()
    try:
        iam, ec2 = client_for(server, "iam"), client_for(server, "ec2")
        r = role_for_instances(iam)
        disassociated, stopped = launch(ec2, r.profile), launch(ec2, r.profile)
        creds = {i["InstanceId"]: imds_creds(server, i["PrivateIpAddress"], r.role) for i in (disassociated, stopped)}
        [assoc] = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [disassociated["InstanceId"]]}])["IamInstanceProfileAssociations"]
        ec2.disassociate_iam_instance_profile(AssociationId=assoc["AssociationId"])
        ec2.stop_instances(InstanceIds=[stopped["InstanceId"]])
        server.stop()
        server.start()
        for iid, c in creds.items():
            assert revoked(server, c, r.role), iid
        # A running instance's credentials minted before the restart still pass.
        running = launch(ec2, r.profile)
        kept = imds_creds(server, running["PrivateIpAddress"], r.role)
        server.stop()
        server.start()
        assert get_role(server, kept, r.role) == r.role
    finally:
        server.stop()


# ----- ended associations, a second node -----


def test_disassociating_cuts_credentials_off_on_a_second_node_within_a_second(nodes):
    a, b = nodes
    # B starts last: `rolecall exec` points at its IMDS; the change goes through A.
    for node in nodes:
        node.start()
    try:
        r = role_for_instances(client_for(a, "iam"))
        ec2_a = client_for(a, "ec2")
        iid = launch(ec2_a, r.profile)["InstanceId"]
        endpoint = b.exec_env(iid)["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
        def fetch():
            with urllib.request.urlopen(f"{endpoint}latest/meta-data/iam/security-credentials/{r.role}") as resp:
                return json.loads(resp.read())
        eventually(lambda: fetch()["Code"] == "Success", "node B's IMDS serves the instance", retry_on=(ClientError, OSError))
        creds = fetch()
        assert get_role(b, creds, r.role) == r.role
        [assoc] = ec2_a.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
        ec2_a.disassociate_iam_instance_profile(AssociationId=assoc["AssociationId"])
        eventually(lambda: revoked(b, creds, r.role), "node B refuses the ended association's credentials", timeout=CUTOFF_BOUND)
        assert revoked(a, creds, r.role)
    finally:
        for node in nodes:
            node.stop()


# ----- the agent -----


def test_agent_stops_serving_credentials_of_an_ended_association(database_url, tmp_path):
    args = ["--instance-cidr", "127.90.0.0/16"]
    server = Server(tmp_path / "data", extra_args=args, database_url=database_url).start()
    agent = None
    try:
        iam, ec2 = client_for(server, "iam"), client_for(server, "ec2")
        r = role_for_instances(iam)
        # A second profile holding the same role: replacing keeps the role, ends the association.
        same_role = unique("profile")
        iam.create_instance_profile(InstanceProfileName=same_role)
        iam.add_role_to_instance_profile(InstanceProfileName=same_role, RoleName=r.role)
        inst = launch(ec2, r.profile)
        ip, iid = inst["PrivateIpAddress"], inst["InstanceId"]
        iam.create_user(UserName="imds-agent")
        iam.put_user_policy(UserName="imds-agent", PolicyName="agent", PolicyDocument=AGENT_POLICY)
        key = iam.create_access_key(UserName="imds-agent")["AccessKey"]
        agent = Agent(server.endpoint, key, tmp_path / "agent.log").start()
        path = f"/latest/meta-data/iam/security-credentials/{r.role}"
        eventually(lambda: agent.get(ip, path)[0] == 200, "the agent serves the instance")
        first = json.loads(agent.get(ip, path)[1])
        assert get_role(server, first, r.role) == r.role

        [assoc] = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
        ec2.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"], IamInstanceProfile={"Name": same_role})
        assert revoked(server, first, r.role)
        # The agent no longer serves the old association's credential: it fetches the new one's.
        def served_key():
            status, body = agent.get(ip, path)
            return json.loads(body)["AccessKeyId"] if status == 200 else None
        eventually(lambda: served_key() not in (None, first["AccessKeyId"]), "the agent serves the new association's credentials")
        second = json.loads(agent.get(ip, path)[1])
        assert get_role(server, second, r.role) == r.role

        # Disassociated: the agent serves nothing, and what it served is refused.
        [assoc] = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
        ec2.disassociate_iam_instance_profile(AssociationId=assoc["AssociationId"])
        eventually(lambda: agent.get(ip, path)[0] == 404, "the agent stops serving the instance's credentials")
        assert revoked(server, second, r.role)
    finally:
        if agent:
            agent.stop()
        server.stop()


def eventually_value(get, what):
    """Polls `get` until it returns something other than None; returns that."""
    got = []
    eventually(lambda: got.append(get()) or got[-1] is not None, what)
    return got[-1]


def start_agent(server, tmp_path):
    """A `rolecall agent` fed by `server`, with an IAM user allowed exactly its job."""
    iam = client_for(server, "iam")
    name = unique("imds-agent")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="agent", PolicyDocument=AGENT_POLICY)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Agent(server.endpoint, key, tmp_path / "agent.log").start()


def agent_creds(agent, ip, role, v2=True):
    """The instance's credentials through the agent, over IMDSv2 (or v1); None until served."""
    headers = {}
    if v2:
        status, token = agent.get(ip, "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, method="PUT")
        if status != 200:
            return None
        headers = {"X-aws-ec2-metadata-token": token}
    status, body = agent.get(ip, f"/latest/meta-data/iam/security-credentials/{role}", headers)
    return json.loads(body) if status == 200 else None


def test_agent_credentials_carry_the_imds_version_they_were_delivered_over(databases, tmp_path):
    server = Server(tmp_path / "data", extra_args=["--instance-cidr", "127.92.0.0/16"], database_url=databases()).start()
    agent = None
    try:
        agent = start_agent(server, tmp_path)
        role_delivery_tells_imdsv1_from_imdsv2(server, lambda ip, role, v2: eventually_value(
            lambda: agent_creds(agent, ip, role, v2), f"the agent serves credentials over IMDSv{2 if v2 else 1}"))
    finally:
        if agent:
            agent.stop()
        server.stop()


def test_agent_serves_new_credentials_after_revoke_sessions(databases, tmp_path):
    server = Server(tmp_path / "data", extra_args=["--instance-cidr", "127.93.0.0/16"], database_url=databases()).start()
    agent = None
    try:
        iam, ec2 = client_for(server, "iam"), client_for(server, "ec2")
        r = role_for_instances(iam)
        bystander = role_for_instances(iam)
        ip = launch(ec2, r.profile)["PrivateIpAddress"]
        other_ip = launch(ec2, bystander.profile)["PrivateIpAddress"]
        agent = start_agent(server, tmp_path)
        old = eventually_value(lambda: agent_creds(agent, ip, r.role), "the agent serves the instance")
        old_v1 = agent_creds(agent, ip, r.role, v2=False)
        kept = eventually_value(lambda: agent_creds(agent, other_ip, bystander.role), "the agent serves the other instance")
        for c in (old, old_v1):
            assert get_role(server, c, r.role) == r.role

        subprocess.run([str(BINARY), *server.global_args, "revoke-sessions", "--data-dir", str(server.data_dir), r.role],
                       capture_output=True, text=True, check=True)
        eventually(lambda: refused_code(server, old, r.role) == "AccessDenied", "the old session is refused")
        # The agent learns it from the change feed and serves credentials issued after it.
        for v2, before in ((True, old), (False, old_v1)):
            eventually(lambda: (agent_creds(agent, ip, r.role, v2=v2) or before)["AccessKeyId"] != before["AccessKeyId"],
                       f"the agent serves new credentials (IMDSv{2 if v2 else 1})")
            fresh = agent_creds(agent, ip, r.role, v2=v2)
            assert get_role(server, fresh, r.role) == r.role
            assert refused_code(server, before, r.role) == "AccessDenied"
        # Another role's credentials are neither refused nor replaced.
        assert agent_creds(agent, other_ip, bystander.role)["AccessKeyId"] == kept["AccessKeyId"]
        assert get_role(server, kept, bystander.role) == bystander.role
    finally:
        if agent:
            agent.stop()
        server.stop()


# ----- condition keys against exfiltrated instance credentials -----


def test_credentials_used_from_another_address_are_refused_by_the_source_ip_pattern(imds_server):
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    # AWS's pattern with policy variables: instance credentials are refused unless the request
    # comes from the instance's own private address.
    pattern = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {
        "StringNotEquals": {"aws:SourceIp": "${aws:EC2InstanceSourcePrivateIPv4}"},
        "Null": {"ec2:SourceInstanceARN": "false"},
    }}
    r = role_for_instances(iam, pattern)
    ip = launch(ec2, r.profile)["PrivateIpAddress"]
    creds = imds_creds(imds_server, ip, r.role)
    status, body = call_from(ip, imds_server, creds, {"Action": "GetRole", "RoleName": r.role})
    assert status == 200 and f"<RoleName>{r.role}</RoleName>" in body, body
    # Exfiltrated: the same credentials from another address.
    status, body = call_from("127.0.0.1", imds_server, creds, {"Action": "GetRole", "RoleName": r.role})
    assert status == 403 and "<Code>AccessDenied</Code>" in body, body
    assert "explicit deny" in body, body
    # Sessions that are not an instance's are not concerned (the Null condition).
    sts = assumer(imds_server)
    assumed = sts.assume_role(RoleArn=r.role_arn, RoleSessionName="ops")["Credentials"]
    status, body = call_from("127.0.0.1", imds_server, assumed, {"Action": "GetRole", "RoleName": r.role})
    assert status == 200, body


def role_delivery_tells_imdsv1_from_imdsv2(server, creds_of):
    """`ec2:RoleDelivery` in credentials from `creds_of(ip, role, v2)` (IMDS or an agent)."""
    iam, ec2 = client_for(server, "iam"), client_for(server, "ec2")
    # Credentials delivered over IMDSv1 may not call anything.
    r = role_for_instances(iam, {"Effect": "Deny", "Action": "*", "Resource": "*",
                                 "Condition": {"NumericLessThan": {"ec2:RoleDelivery": "2.0"}}})
    ip = launch(ec2, r.profile)["PrivateIpAddress"]
    v1 = creds_of(ip, r.role, False)
    v2 = creds_of(ip, r.role, True)
    assert v1["AccessKeyId"] != v2["AccessKeyId"]
    assert refused_code(server, v1, r.role) == "AccessDenied"
    assert get_role(server, v2, r.role) == r.role
    # Each version's credential is cached on its own.
    assert creds_of(ip, r.role, False)["AccessKeyId"] == v1["AccessKeyId"]
    assert creds_of(ip, r.role, True)["AccessKeyId"] == v2["AccessKeyId"]
    # And the exact value, with a string condition.
    iam.put_role_policy(RoleName=r.role, PolicyName="read", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*", "Condition": {"StringEquals": {"ec2:RoleDelivery": "1.0"}}}))
    assert refused_code(server, v2, r.role) == "AccessDenied"
    assert get_role(server, v1, r.role) == r.role


def test_role_delivery_tells_imdsv1_from_imdsv2_credentials(imds_server):
    role_delivery_tells_imdsv1_from_imdsv2(imds_server, lambda ip, role, v2: imds_creds(imds_server, ip, role, v2))
