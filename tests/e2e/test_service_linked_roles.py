"""Service-linked roles (#12): CreateServiceLinkedRole / DeleteServiceLinkedRole /
GetServiceLinkedRoleDeletionStatus with AWS's paths, names, trust policies and task ids; the
role cannot be changed or deleted as an ordinary role (UnmodifiableEntity)."""

import re
import urllib.parse

from conftest import Cli, client_for
from support import allow, aws_error, doc, unique


def test_service_linked_role_lifecycle(fresh_server, tmp_path):
    iam = client_for(fresh_server, "iam")
    account = fresh_server.account()
    role = iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com", Description="for ELB")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForElasticLoadBalancing"
    assert role["Path"] == "/aws-service-role/elasticloadbalancing.amazonaws.com/"
    assert role["Arn"] == f"arn:aws:iam::{account}:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"
    trust = iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = urllib.parse.unquote(trust)
    assert "elasticloadbalancing.amazonaws.com" in str(trust)

    taken = aws_error(iam.create_service_linked_role, AWSServiceName="elasticloadbalancing.amazonaws.com")
    assert (taken.code, taken.status) == ("InvalidInput", 400)
    assert taken.message == "Service role name AWSServiceRoleForElasticLoadBalancing has been taken in this account, please try a different suffix."
    suffixed = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="app")["Role"]
    assert suffixed["RoleName"] == "AWSServiceRoleForAutoScaling_app"

    # Not modifiable as an ordinary role.
    refused = aws_error(iam.delete_role, RoleName=role["RoleName"])
    assert (refused.code, refused.status) == ("UnmodifiableEntity", 400)
    assert "protected role 'AWSServiceRoleForElasticLoadBalancing'" in refused.message
    trust_doc = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    assert aws_error(iam.update_assume_role_policy, RoleName=role["RoleName"], PolicyDocument=trust_doc).code == "UnmodifiableEntity"

    task = iam.delete_service_linked_role(RoleName=role["RoleName"])["DeletionTaskId"]
    assert re.fullmatch(r"task/aws-service-role/elasticloadbalancing\.amazonaws\.com/AWSServiceRoleForElasticLoadBalancing/[0-9a-f-]{36}", task), task
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    assert aws_error(iam.get_role, RoleName=role["RoleName"]).code == "NoSuchEntity"
    cli = Cli(fresh_server, tmp_path)
    task2 = cli.json("iam", "delete-service-linked-role", "--role-name", suffixed["RoleName"])["DeletionTaskId"]
    assert cli.json("iam", "get-service-linked-role-deletion-status", "--deletion-task-id", task2)["Status"] == "SUCCEEDED"

    # An ordinary role is not service-linked.
    plain = unique("plain")
    iam.create_role(RoleName=plain, AssumeRolePolicyDocument=trust_doc)
    assert aws_error(iam.delete_service_linked_role, RoleName=plain).code == "InvalidInput"
    assert aws_error(iam.delete_service_linked_role, RoleName=unique("nobody")).code == "NoSuchEntity"


def test_create_service_linked_role_is_authorized_with_the_service_name(server, iam):
    user = unique("slr-maker")
    iam.create_user(UserName=user)
    statement = allow("iam:CreateServiceLinkedRole", "*", Condition={"StringEquals": {"iam:AWSServiceName": "ecs.amazonaws.com"}})
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(statement))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = client_for(server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert aws_error(as_user.create_service_linked_role, AWSServiceName="rds.amazonaws.com")[:2] == ("AccessDenied", 403)
    made = as_user.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]
    assert made["RoleName"] == "AWSServiceRoleForECS"
    assert aws_error(as_user.delete_service_linked_role, RoleName="AWSServiceRoleForECS")[:2] == ("AccessDenied", 403)
    iam.delete_service_linked_role(RoleName="AWSServiceRoleForECS")
