"""IAM policy simulation (SimulatePrincipalPolicy, SimulateCustomPolicy) with boto3 and the aws
CLI, and the property that matters: a simulated `allowed` is exactly a real call that succeeds."""

import json

import botocore.exceptions
import pytest

from support import TRUST_EC2, allow, aws_error, client_for, deny, doc, other_account, unique


def by_action(results):
    return {(r["EvalActionName"], r["EvalResourceName"]): r for r in results}


def sources(result):
    return [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in result["MatchedStatements"]]


def new_user(iam, **kw):
    name = unique("sim")
    return iam.create_user(UserName=name, **kw)["User"]


def user_clients(server, iam, name):
    key = iam.create_access_key(UserName=name)["AccessKey"]
    kw = dict(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    return client_for(server, "iam", **kw), client_for(server, "ec2", **kw)


def test_allowed_implicit_and_explicit_deny_with_matched_statements(iam):
    user = new_user(iam)
    inline = (
        '{\n'
        '  "Version": "2012-10-17",\n'
        '  "Statement": [\n'
        '    {"Sid": "ListAll", "Effect": "Allow", "Action": "iam:List*", "Resource": "*"},\n'
        '    {\n'
        '      "Effect": "Allow",\n'
        '      "Action": "ec2:Describe*",\n'
        '      "Resource": "*"\n'
        '    }\n'
        '  ]\n'
        '}'
    )
    iam.put_user_policy(UserName=user["UserName"], PolicyName="lister", PolicyDocument=inline)
    deny_arn = iam.create_policy(PolicyName=unique("nousers"), PolicyDocument=doc(deny("iam:ListUsers")))["Policy"]
    iam.attach_user_policy(UserName=user["UserName"], PolicyArn=deny_arn["Arn"])

    out = iam.simulate_principal_policy(
        PolicySourceArn=user["Arn"],
        ActionNames=["iam:ListRoles", "iam:ListUsers", "ec2:DescribeInstances", "iam:CreateRole"],
    )
    assert out["IsTruncated"] is False
    res = by_action(out["EvaluationResults"])
    assert set(res) == {(a, "*") for a in ["iam:ListRoles", "iam:ListUsers", "ec2:DescribeInstances", "iam:CreateRole"]}

    roles = res[("iam:ListRoles", "*")]
    assert roles["EvalDecision"] == "allowed"
    assert sources(roles) == [("lister", "user")]
    # Positions: line, and the column just after the statement's braces (1-based), as IAM reports.
    assert roles["MatchedStatements"][0]["StartPosition"] == {"Line": 4, "Column": 6}
    assert roles["MatchedStatements"][0]["EndPosition"] == {"Line": 4, "Column": 82}
    assert roles["MissingContextValues"] == []

    described = res[("ec2:DescribeInstances", "*")]
    assert described["EvalDecision"] == "allowed"
    assert described["MatchedStatements"][0]["StartPosition"] == {"Line": 5, "Column": 6}
    assert described["MatchedStatements"][0]["EndPosition"] == {"Line": 9, "Column": 6}

    users = res[("iam:ListUsers", "*")]
    assert users["EvalDecision"] == "explicitDeny"
    assert sources(users) == [(deny_arn["PolicyName"], "user-managed")]

    create = res[("iam:CreateRole", "*")]
    assert create["EvalDecision"] == "implicitDeny" and create["MatchedStatements"] == []
    assert "PermissionsBoundaryDecisionDetail" not in create


def test_cli_simulate_principal_policy(cli, iam):
    user = new_user(iam)
    iam.put_user_policy(UserName=user["UserName"], PolicyName="p", PolicyDocument=doc(allow("iam:GetRole")))
    account = user["Arn"].split(":")[4]
    role, elsewhere = f"arn:aws:iam::{account}:role/a", f"arn:aws:iam::{other_account(account)}:role/a"
    out = cli.json(
        "iam", "simulate-principal-policy",
        "--policy-source-arn", user["Arn"],
        "--action-names", "iam:GetRole", "iam:DeleteRole",
        "--resource-arns", role, elsewhere,
    )
    res = by_action(out["EvaluationResults"])
    assert [(r["EvalActionName"], r["EvalResourceName"]) for r in out["EvaluationResults"]] == [
        ("iam:GetRole", role), ("iam:GetRole", elsewhere), ("iam:DeleteRole", role), ("iam:DeleteRole", elsewhere)]
    assert res[("iam:GetRole", role)]["EvalDecision"] == "allowed"
    assert sources(res[("iam:GetRole", role)]) == [("p", "user")]
    assert res[("iam:DeleteRole", role)]["EvalDecision"] == "implicitDeny"
    # Another account's resource needs that account's resource policy too.
    assert res[("iam:GetRole", elsewhere)]["EvalDecision"] == "implicitDeny"

    # An unknown principal is NoSuchEntity; a non-principal ARN is InvalidInput.
    stderr = cli.error("iam", "simulate-principal-policy", "--policy-source-arn", f"arn:aws:iam::{account}:user/nobody-{unique('x')}", "--action-names", "iam:GetRole")
    assert "NoSuchEntity" in stderr
    stderr = cli.error("iam", "simulate-principal-policy", "--policy-source-arn", f"arn:aws:iam::{account}:policy/x", "--action-names", "iam:GetRole")
    assert "InvalidInput" in stderr


def test_missing_context_values_and_context_entries(cli, iam):
    user = new_user(iam)
    policy = doc(allow("iam:ListRoles", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    iam.put_user_policy(UserName=user["UserName"], PolicyName="fromvpn", PolicyDocument=policy)

    r = iam.simulate_principal_policy(PolicySourceArn=user["Arn"], ActionNames=["iam:ListRoles"])["EvaluationResults"][0]
    assert r["EvalDecision"] == "implicitDeny"
    assert r["MissingContextValues"] == ["aws:SourceIp"]

    def with_ip(ip):
        return iam.simulate_principal_policy(
            PolicySourceArn=user["Arn"], ActionNames=["iam:ListRoles"],
            ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": [ip], "ContextKeyType": "ip"}],
        )["EvaluationResults"][0]

    inside = with_ip("10.1.2.3")
    assert inside["EvalDecision"] == "allowed" and inside["MissingContextValues"] == []
    assert sources(inside) == [("fromvpn", "user")]
    outside = with_ip("192.168.1.1")
    assert outside["EvalDecision"] == "implicitDeny" and outside["MissingContextValues"] == []

    # The same with the CLI's shorthand.
    out = cli.json(
        "iam", "simulate-principal-policy", "--policy-source-arn", user["Arn"], "--action-names", "iam:ListRoles",
        "--context-entries", "ContextKeyName=aws:SourceIp,ContextKeyValues=10.9.9.9,ContextKeyType=ip",
    )
    assert out["EvaluationResults"][0]["EvalDecision"] == "allowed"

    # Values are checked against their type.
    code, status, _ = aws_error(
        iam.simulate_principal_policy, PolicySourceArn=user["Arn"], ActionNames=["iam:ListRoles"],
        ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["not-an-ip"], "ContextKeyType": "ip"}],
    )
    assert (code, status) == ("InvalidInput", 400)


def test_principal_keys_are_the_ones_real_requests_carry(iam):
    user = new_user(iam, Tags=[{"Key": "dept", "Value": "eng"}])
    policy = doc(
        allow("iam:GetUser", "arn:aws:iam::*:user/${aws:username}"),
        allow("iam:ListPolicies", Condition={"StringEquals": {"aws:PrincipalTag/dept": "eng"}}),
        allow("iam:ListGroups", Condition={"StringEquals": {"aws:PrincipalType": "User"}}),
    )
    iam.put_user_policy(UserName=user["UserName"], PolicyName="self", PolicyDocument=policy)
    out = iam.simulate_principal_policy(
        PolicySourceArn=user["Arn"], ActionNames=["iam:GetUser"], ResourceArns=[user["Arn"]],
    )["EvaluationResults"][0]
    assert out["EvalDecision"] == "allowed"
    out = iam.simulate_principal_policy(PolicySourceArn=user["Arn"], ActionNames=["iam:ListPolicies", "iam:ListGroups"])
    assert [r["EvalDecision"] for r in out["EvaluationResults"]] == ["allowed", "allowed"]
    # ContextEntries override the principal's own keys.
    out = iam.simulate_principal_policy(
        PolicySourceArn=user["Arn"], ActionNames=["iam:ListPolicies"],
        ContextEntries=[{"ContextKeyName": "aws:PrincipalTag/dept", "ContextKeyValues": ["ops"], "ContextKeyType": "string"}],
    )
    assert out["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"


def test_permissions_boundary_caps(iam):
    user = new_user(iam)
    iam.put_user_policy(UserName=user["UserName"], PolicyName="wide", PolicyDocument=doc(allow(["iam:ListRoles", "ec2:DescribeInstances"])))
    boundary = iam.create_policy(PolicyName=unique("bnd"), PolicyDocument=doc(allow("ec2:*")))["Policy"]["Arn"]
    iam.put_user_permissions_boundary(UserName=user["UserName"], PermissionsBoundary=boundary)

    res = by_action(iam.simulate_principal_policy(
        PolicySourceArn=user["Arn"], ActionNames=["iam:ListRoles", "ec2:DescribeInstances", "ec2:RunInstances"],
    )["EvaluationResults"])
    roles = res[("iam:ListRoles", "*")]
    assert roles["EvalDecision"] == "implicitDeny"
    assert roles["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    described = res[("ec2:DescribeInstances", "*")]
    assert described["EvalDecision"] == "allowed"
    assert described["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert sources(described) == [("wide", "user")]
    # Allowed by the boundary, but no identity policy allows it.
    run = res[("ec2:RunInstances", "*")]
    assert run["EvalDecision"] == "implicitDeny"
    assert run["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}

    # PermissionsBoundaryPolicyInputList replaces the entity's boundary for the simulation.
    res = by_action(iam.simulate_principal_policy(
        PolicySourceArn=user["Arn"], ActionNames=["iam:ListRoles", "ec2:DescribeInstances"],
        PermissionsBoundaryPolicyInputList=[doc(allow("iam:*"))],
    )["EvaluationResults"])
    assert res[("iam:ListRoles", "*")]["EvalDecision"] == "allowed"
    assert res[("ec2:DescribeInstances", "*")]["EvalDecision"] == "implicitDeny"
    # A deny in the boundary is an explicit deny, naming the boundary.
    res = iam.simulate_principal_policy(
        PolicySourceArn=user["Arn"], ActionNames=["iam:ListRoles"],
        PermissionsBoundaryPolicyInputList=[doc(allow("*"), deny("iam:ListRoles"))],
    )["EvaluationResults"][0]
    assert res["EvalDecision"] == "explicitDeny"
    assert sources(res) == [("PermissionsBoundaryPolicyInputList.1", "none")]


def test_group_policies_count_for_members_and_group_and_role_sources(iam):
    user = new_user(iam)
    group = unique("simgrp")
    g = iam.create_group(GroupName=group)["Group"]
    iam.put_group_policy(GroupName=group, PolicyName="grp", PolicyDocument=doc(allow("iam:ListRoles")))
    managed = iam.create_policy(PolicyName=unique("grpm"), PolicyDocument=doc(allow("ec2:DescribeInstances")))["Policy"]
    iam.attach_group_policy(GroupName=group, PolicyArn=managed["Arn"])

    def decisions(arn):
        out = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["iam:ListRoles", "ec2:DescribeInstances"])
        return {r["EvalActionName"]: (r["EvalDecision"], sources(r)) for r in out["EvaluationResults"]}

    assert decisions(user["Arn"]) == {"iam:ListRoles": ("implicitDeny", []), "ec2:DescribeInstances": ("implicitDeny", [])}
    iam.add_user_to_group(GroupName=group, UserName=user["UserName"])
    expected = {
        "iam:ListRoles": ("allowed", [("grp", "group")]),
        "ec2:DescribeInstances": ("allowed", [(managed["PolicyName"], "user-managed")]),
    }
    assert decisions(user["Arn"]) == expected
    assert decisions(g["Arn"]) == expected

    role = unique("simrole")
    trust = TRUST_EC2
    r = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName=role, PolicyName="rp", PolicyDocument=doc(allow("iam:ListRoles", Condition={"StringEquals": {"aws:PrincipalType": "AssumedRole"}})))
    iam.attach_role_policy(RoleName=role, PolicyArn=managed["Arn"])
    assert decisions(r["Arn"]) == {
        "iam:ListRoles": ("allowed", [("rp", "role")]),
        "ec2:DescribeInstances": ("allowed", [(managed["PolicyName"], "user-managed")]),
    }


def test_simulate_custom_policy(cli, iam):
    first = doc(allow("s3:*"))
    second = doc(deny("s3:DeleteObject", "arn:aws:s3:::bkt/*"))
    out = iam.simulate_custom_policy(
        PolicyInputList=[first, second],
        ActionNames=["s3:GetObject", "s3:DeleteObject", "ec2:RunInstances"],
        ResourceArns=["arn:aws:s3:::bkt/k", "arn:aws:s3:::other/k"],
    )
    res = by_action(out["EvaluationResults"])
    assert len(res) == 6
    assert res[("s3:GetObject", "arn:aws:s3:::bkt/k")]["EvalDecision"] == "allowed"
    assert sources(res[("s3:GetObject", "arn:aws:s3:::bkt/k")]) == [("PolicyInputList.1", "none")]
    assert res[("s3:DeleteObject", "arn:aws:s3:::bkt/k")]["EvalDecision"] == "explicitDeny"
    assert sources(res[("s3:DeleteObject", "arn:aws:s3:::bkt/k")]) == [("PolicyInputList.2", "none")]
    assert res[("s3:DeleteObject", "arn:aws:s3:::other/k")]["EvalDecision"] == "allowed"
    assert res[("ec2:RunInstances", "arn:aws:s3:::bkt/k")]["EvalDecision"] == "implicitDeny"

    # Pagination with MaxItems / Marker.
    kw = dict(PolicyInputList=[first, second], ActionNames=["s3:GetObject", "s3:DeleteObject", "ec2:RunInstances"],
              ResourceArns=["arn:aws:s3:::bkt/k", "arn:aws:s3:::other/k"])
    page1 = iam.simulate_custom_policy(MaxItems=4, **kw)
    assert page1["IsTruncated"] is True and len(page1["EvaluationResults"]) == 4
    page2 = iam.simulate_custom_policy(MaxItems=4, Marker=page1["Marker"], **kw)
    assert page2["IsTruncated"] is False and len(page2["EvaluationResults"]) == 2
    assert page1["EvaluationResults"] + page2["EvaluationResults"] == out["EvaluationResults"]

    # The documented AWS CLI example, positions included.
    example = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}'
    out = cli.json(
        "iam", "simulate-custom-policy", "--policy-input-list", example, "--action-names", "dynamodb:CreateBackup",
        "--context-entries", "ContextKeyName='aws:CurrentTime',ContextKeyValues='2019-04-25T11:00:00Z',ContextKeyType=date",
    )
    r = out["EvaluationResults"][0]
    assert (r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]) == ("dynamodb:CreateBackup", "*", "allowed")
    assert r["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"
    assert r["MatchedStatements"][0]["StartPosition"] == {"Line": 1, "Column": 38}
    assert r["MatchedStatements"][0]["EndPosition"] == {"Line": 1, "Column": 167}
    out = cli.json(
        "iam", "simulate-custom-policy", "--policy-input-list", example, "--action-names", "dynamodb:CreateBackup",
        "--context-entries", "ContextKeyName='aws:CurrentTime',ContextKeyValues='2014-04-25T11:00:00Z',ContextKeyType=date",
    )
    assert out["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"

    # Malformed policies are refused.
    code, status, message = aws_error(iam.simulate_custom_policy, PolicyInputList=['{"Version":"2012-10-17","Statement":{"Effect":"Maybe","Action":"s3:*","Resource":"*"}}'], ActionNames=["s3:GetObject"])
    assert (code, status) == ("InvalidInput", 400) and "PolicyInputList.1" in message


def test_custom_policy_with_resource_policy(iam):
    user = new_user(iam)
    account = user["Arn"].split(":")[4]
    resource_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*"},
    ]})
    # A resource policy needs a caller.
    assert aws_error(iam.simulate_custom_policy, PolicyInputList=[doc(allow("s3:ListBucket"))], ActionNames=["s3:GetObject"],
               ResourceArns=["arn:aws:s3:::bkt/k"], ResourcePolicy=resource_policy)[0] == "InvalidInput"
    out = iam.simulate_custom_policy(
        PolicyInputList=[doc(allow("s3:ListBucket"))], ActionNames=["s3:GetObject"], ResourceArns=["arn:aws:s3:::bkt/k"],
        ResourcePolicy=resource_policy, CallerArn=user["Arn"],
    )["EvaluationResults"][0]
    # Same account, the resource policy names the caller: allowed on its own.
    assert out["EvalDecision"] == "allowed"
    assert sources(out) == [("ResourcePolicy", "resource")]
    assert out["EvalDecisionDetails"] == {}
    # Owned by another account: both sides must allow.
    out = iam.simulate_custom_policy(
        PolicyInputList=[doc(allow("s3:ListBucket"))], ActionNames=["s3:GetObject"], ResourceArns=["arn:aws:s3:::bkt/k"],
        ResourcePolicy=resource_policy, CallerArn=user["Arn"], ResourceOwner=f"arn:aws:iam::{other_account(account)}:root",
    )["EvaluationResults"][0]
    assert out["EvalDecision"] == "implicitDeny"
    assert out["EvalDecisionDetails"] == {"IAM Policy": "implicitDeny", "Resource Policy": "allowed"}


def test_simulation_needs_permission(server, iam):
    user = new_user(iam)
    u_iam, _ = user_clients(server, iam, user["UserName"])
    assert aws_error(u_iam.simulate_custom_policy, PolicyInputList=[doc(allow("s3:*"))], ActionNames=["s3:GetObject"])[0] == "AccessDenied"
    assert aws_error(u_iam.simulate_principal_policy, PolicySourceArn=user["Arn"], ActionNames=["s3:GetObject"])[0] == "AccessDenied"
    iam.put_user_policy(UserName=user["UserName"], PolicyName="sim", PolicyDocument=doc(
        allow("iam:SimulateCustomPolicy"), allow("iam:SimulatePrincipalPolicy", user["Arn"])))
    assert u_iam.simulate_custom_policy(PolicyInputList=[doc(allow("s3:*"))], ActionNames=["s3:GetObject"])["EvaluationResults"][0]["EvalDecision"] == "allowed"
    r = u_iam.simulate_principal_policy(PolicySourceArn=user["Arn"], ActionNames=["iam:SimulateCustomPolicy"])["EvaluationResults"][0]
    assert r["EvalDecision"] == "allowed"


def test_simulation_agrees_with_real_enforcement(server, iam, ec2):
    """For a user with some policies, every simulated (action, resource) decision is `allowed`
    exactly when the real call with that user's access key succeeds."""
    region = ec2.meta.region_name
    user = new_user(iam, Tags=[{"Key": "dept", "Value": "eng"}])
    name = user["UserName"]
    account = user["Arn"].split(":")[4]
    trust = TRUST_EC2
    role_a = iam.create_role(RoleName=unique("agree-a"), AssumeRolePolicyDocument=trust, Path="/team/")["Role"]
    role_b = iam.create_role(RoleName=unique("agree-b"), AssumeRolePolicyDocument=trust)["Role"]
    blue, red = (
        ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "team", "Value": team}]}])["Instances"][0]["InstanceId"]
        for team in ("blue", "red")
    )
    group = unique("agree")
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="describe", PolicyDocument=doc(allow("ec2:DescribeInstances")))
    iam.add_user_to_group(GroupName=group, UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="mixed", PolicyDocument=doc(
        allow("iam:ListRoles"),
        allow("iam:GetRole", role_a["Arn"]),
        allow("iam:GetUser", "arn:aws:iam::*:user/${aws:username}"),
        allow("iam:ListPolicies", Condition={"StringEquals": {"aws:PrincipalTag/dept": "eng"}}),
        allow("iam:ListGroups", Condition={"StringEquals": {"aws:PrincipalTag/dept": "ops"}}),
        allow("iam:ListUsers", Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
        allow("iam:ListInstanceProfiles", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        allow(["ec2:StopInstances", "ec2:StartInstances"], Condition={"StringEquals": {"ec2:ResourceTag/team": "blue"}}),
        deny("ec2:StartInstances"),
    ))
    u_iam, u_ec2 = user_clients(server, iam, name)
    local = [{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["127.0.0.1"], "ContextKeyType": "ip"}]

    def tag(team):
        return [{"ContextKeyName": "ec2:ResourceTag/team", "ContextKeyValues": [team], "ContextKeyType": "string"}]

    def instance(i):
        return f"arn:aws:ec2:{region}:{account}:instance/{i}"

    # (action, resource the server authorizes the call on, the context the real request has, the call)
    cases = [
        ("iam:ListRoles", f"arn:aws:iam::{account}:role/", local, lambda: u_iam.list_roles()),
        ("iam:GetRole", role_a["Arn"], local, lambda: u_iam.get_role(RoleName=role_a["RoleName"])),
        ("iam:GetRole", role_b["Arn"], local, lambda: u_iam.get_role(RoleName=role_b["RoleName"])),
        ("iam:GetUser", user["Arn"], local, lambda: u_iam.get_user()),
        ("iam:ListPolicies", f"arn:aws:iam::{account}:policy/", local, lambda: u_iam.list_policies(Scope="Local")),
        ("iam:ListGroups", f"arn:aws:iam::{account}:group/", local, lambda: u_iam.list_groups()),
        ("iam:ListUsers", f"arn:aws:iam::{account}:user/", local, lambda: u_iam.list_users()),
        ("iam:ListInstanceProfiles", f"arn:aws:iam::{account}:instance-profile/", local, lambda: u_iam.list_instance_profiles()),
        ("iam:CreateGroup", f"arn:aws:iam::{account}:group/x", local, lambda: u_iam.create_group(GroupName=unique("nope"))),
        ("ec2:DescribeInstances", "*", local, lambda: u_ec2.describe_instances()),
        ("ec2:StopInstances", instance(red), local + tag("red"), lambda: u_ec2.stop_instances(InstanceIds=[red])),
        ("ec2:StopInstances", instance(blue), local + tag("blue"), lambda: u_ec2.stop_instances(InstanceIds=[blue])),
        ("ec2:StartInstances", instance(blue), local + tag("blue"), lambda: u_ec2.start_instances(InstanceIds=[blue])),
        ("ec2:TerminateInstances", instance(blue), local + tag("blue"), lambda: u_ec2.terminate_instances(InstanceIds=[blue])),
    ]
    seen = set()
    for action, resource, context, call in cases:
        sim = iam.simulate_principal_policy(
            PolicySourceArn=user["Arn"], ActionNames=[action], ResourceArns=[resource], ContextEntries=context,
        )["EvaluationResults"][0]
        assert sim["MissingContextValues"] == [], (action, resource, sim)
        try:
            call()
            real = "allowed"
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] in ("AccessDenied", "UnauthorizedOperation"), (action, e.response["Error"])
            real = "denied"
        simulated = "allowed" if sim["EvalDecision"] == "allowed" else "denied"
        assert simulated == real, (action, resource, sim)
        seen.add((action, simulated, sim["EvalDecision"]))
    # The cases cover all three decisions.
    assert {d for _, _, d in seen} == {"allowed", "implicitDeny", "explicitDeny"}

    # Without the resource tag in the context, the simulator says what it is missing.
    sim = iam.simulate_principal_policy(PolicySourceArn=user["Arn"], ActionNames=["ec2:StopInstances"], ResourceArns=[instance(blue)])
    assert sim["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
    assert sim["EvaluationResults"][0]["MissingContextValues"] == ["ec2:ResourceTag/team"]
