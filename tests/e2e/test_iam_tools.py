"""IAM operations infrastructure tools call (issue #18) and customer managed policy tags (#12):
ListEntitiesForPolicy, account aliases, the user-credential listings, TagPolicy / UntagPolicy /
ListPolicyTags — through boto3 and the aws CLI."""

import json

from conftest import Cli, client_for
from support import TRUST_EC2, allow, aws_error, doc, unique

POLICY = doc(allow("s3:GetObject"))


def test_list_entities_for_policy_filters_and_pages(server, iam):
    arn = iam.create_policy(PolicyName=unique("ents"), PolicyDocument=POLICY)["Policy"]["Arn"]
    role = unique("ents-role")
    iam.create_role(RoleName=role, Path="/app/", AssumeRolePolicyDocument=TRUST_EC2)
    user = unique("ents-user")
    iam.create_user(UserName=user)
    group = unique("ents-group")
    iam.create_group(GroupName=group)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)

    out = iam.list_entities_for_policy(PolicyArn=arn)
    assert [r["RoleName"] for r in out["PolicyRoles"]] == [role]
    assert out["PolicyRoles"][0]["RoleId"] == iam.get_role(RoleName=role)["Role"]["RoleId"]
    assert [u["UserName"] for u in out["PolicyUsers"]] == [user]
    assert out["PolicyUsers"][0]["UserId"] == iam.get_user(UserName=user)["User"]["UserId"]
    assert [g["GroupName"] for g in out["PolicyGroups"]] == [group]
    assert out["IsTruncated"] is False

    only_roles = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Role")
    assert [r["RoleName"] for r in only_roles["PolicyRoles"]] == [role]
    assert only_roles["PolicyUsers"] == [] and only_roles["PolicyGroups"] == []
    under_app = iam.list_entities_for_policy(PolicyArn=arn, PathPrefix="/app/")
    assert [r["RoleName"] for r in under_app["PolicyRoles"]] == [role]
    assert under_app["PolicyUsers"] == [] and under_app["PolicyGroups"] == []

    # Paging: one entity per page, three pages, each entity once.
    seen, marker = [], None
    for _ in range(5):
        kw = {"Marker": marker} if marker else {}
        page = iam.list_entities_for_policy(PolicyArn=arn, MaxItems=1, **kw)
        seen += [g["GroupName"] for g in page["PolicyGroups"]] + [r["RoleName"] for r in page["PolicyRoles"]] + [u["UserName"] for u in page["PolicyUsers"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == [group, role, user]

    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    assert iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Role")["PolicyRoles"] == []
    missing = arn + "-missing"
    assert aws_error(iam.list_entities_for_policy, PolicyArn=missing)[:2] == ("NoSuchEntity", 404)


def test_list_entities_for_policy_is_authorized_on_the_policy(server, iam):
    arn = iam.create_policy(PolicyName=unique("ents-authz"), PolicyDocument=POLICY)["Policy"]["Arn"]
    other = iam.create_policy(PolicyName=unique("ents-other"), PolicyDocument=POLICY)["Policy"]["Arn"]
    user = unique("ents-reader")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(allow("iam:ListEntitiesForPolicy", arn)))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = client_for(server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert as_user.list_entities_for_policy(PolicyArn=arn)["PolicyRoles"] == []
    assert aws_error(as_user.list_entities_for_policy, PolicyArn=other)[:2] == ("AccessDenied", 403)


def test_account_alias_lifecycle(fresh_server, tmp_path):
    iam = client_for(fresh_server, "iam")
    assert iam.list_account_aliases()["AccountAliases"] == []
    iam.create_account_alias(AccountAlias="my-company")
    assert iam.list_account_aliases()["AccountAliases"] == ["my-company"]
    assert aws_error(iam.create_account_alias, AccountAlias="my-company")[:2] == ("EntityAlreadyExists", 409)
    # One alias per account: a new one replaces it.
    iam.create_account_alias(AccountAlias="my-company-2")
    cli = Cli(fresh_server, tmp_path)
    assert cli.json("iam", "list-account-aliases")["AccountAliases"] == ["my-company-2"]
    for bad in ("My-Company", "a--b", "-abc"):
        assert aws_error(iam.create_account_alias, AccountAlias=bad)[0] == "ValidationError", bad
    assert aws_error(iam.delete_account_alias, AccountAlias="my-company")[:2] == ("NoSuchEntity", 404)
    cli.run("iam", "delete-account-alias", "--account-alias", "my-company-2")
    assert iam.list_account_aliases()["AccountAliases"] == []


def test_user_credential_listings(server, iam):
    user = unique("creds-user")
    iam.create_user(UserName=user)
    assert iam.list_ssh_public_keys(UserName=user)["SSHPublicKeys"] == []
    assert iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"] == []
    assert iam.list_signing_certificates(UserName=user)["Certificates"] == []
    assert iam.list_mfa_devices(UserName=user)["MFADevices"] == []
    for call in (iam.list_ssh_public_keys, iam.list_service_specific_credentials, iam.list_signing_certificates, iam.list_mfa_devices):
        assert aws_error(call, UserName=unique("nobody"))[:2] == ("NoSuchEntity", 404)
    # Without UserName: the caller's own (the root's, and a user's).
    assert iam.list_mfa_devices()["MFADevices"] == []
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(allow("iam:ListMFADevices", f"arn:aws:iam::{server.account()}:user/{user}")))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = client_for(server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert as_user.list_mfa_devices()["MFADevices"] == []
    assert aws_error(as_user.list_mfa_devices, UserName="someone-else")[:2] == ("AccessDenied", 403)
    assert aws_error(as_user.list_ssh_public_keys)[:2] == ("AccessDenied", 403)


def test_policy_tags(server, iam, tmp_path):
    arn = iam.create_policy(PolicyName=unique("tagged"), PolicyDocument=POLICY, Tags=[{"Key": "team", "Value": "a"}])["Policy"]["Arn"]
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "team", "Value": "a"}]
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "prod"}])
    tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]}
    assert tags == {"team": "b", "env": "prod"}
    cli = Cli(server, tmp_path)
    cli.run("iam", "untag-policy", "--policy-arn", arn, "--tag-keys", "team")
    assert cli.json("iam", "list-policy-tags", "--policy-arn", arn)["Tags"] == [{"Key": "env", "Value": "prod"}]

    # 50 tags at most, in AWS's wording.
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    code, status, message = aws_error(iam.tag_policy, PolicyArn=arn, Tags=many)
    assert (code, status) == ("ValidationError", 400)
    assert "Member must have length less than or equal to 50" in message
    # Reaching more than 50 in total is LimitExceeded.
    code, _, _ = aws_error(iam.tag_policy, PolicyArn=arn, Tags=many[:50])
    assert code == "LimitExceeded"
    bad_key = aws_error(iam.tag_policy, PolicyArn=arn, Tags=[{"Key": "bad\tkey", "Value": "v"}])
    assert bad_key.code == "ValidationError" and "tags.1.member.key" in bad_key.message

    missing = arn + "-missing"
    assert aws_error(iam.tag_policy, PolicyArn=missing, Tags=[{"Key": "a", "Value": "b"}])[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.list_policy_tags, PolicyArn=missing)[:2] == ("NoSuchEntity", 404)
    aws_managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    refused = aws_error(iam.tag_policy, PolicyArn=aws_managed, Tags=[{"Key": "a", "Value": "b"}])
    assert (refused.code, refused.message) == ("InvalidInput", "Tags not supported for policies in this domain")
    assert aws_error(iam.list_policy_tags, PolicyArn=aws_managed).code == "InvalidInput"


def test_tag_policy_needs_request_tag_permission(server, iam):
    arn = iam.create_policy(PolicyName=unique("tag-authz"), PolicyDocument=POLICY)["Policy"]["Arn"]
    user = unique("tagger")
    iam.create_user(UserName=user)
    statement = allow("iam:TagPolicy", arn, Condition={"StringEquals": {"aws:RequestTag/team": "a"}})
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = client_for(server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    as_user.tag_policy(PolicyArn=arn, Tags=[{"Key": "team", "Value": "a"}])
    assert aws_error(as_user.tag_policy, PolicyArn=arn, Tags=[{"Key": "team", "Value": "b"}])[:2] == ("AccessDenied", 403)
    assert aws_error(as_user.untag_policy, PolicyArn=arn, TagKeys=["team"])[:2] == ("AccessDenied", 403)
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
