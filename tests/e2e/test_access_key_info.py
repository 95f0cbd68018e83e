"""STS GetAccessKeyInfo (#12): the account an access key id belongs to — users', the root's and
temporary keys rolecall issued, and (as AWS) any other key's account read from its id."""

from conftest import Cli
from support import aws_error, client_for, creds_kw, unique


def test_get_access_key_info_names_the_account(server, iam, sts, tmp_path):
    account = server.account()
    user = unique("info")
    iam.create_user(UserName=user)
    users_key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    root_key = server.env()["AWS_ACCESS_KEY_ID"]
    temporary = sts.get_session_token(DurationSeconds=900)["Credentials"]
    for key in (users_key, root_key, temporary["AccessKeyId"]):
        assert sts.get_access_key_info(AccessKeyId=key)["Account"] == account, key
    # Another account's key: read from the id, as AWS does (the example of AWS's documentation).
    assert sts.get_access_key_info(AccessKeyId="ASIAY34FZKBOKMUTVV7A")["Account"] == "609629065308"
    # Deleted keys still answer (AWS: the key's state is not considered).
    iam.delete_access_key(UserName=user, AccessKeyId=users_key)
    assert sts.get_access_key_info(AccessKeyId=users_key)["Account"] == account
    # Temporary credentials may ask too; the aws CLI reads the same answer.
    as_session = client_for(server, "sts", **creds_kw(temporary))
    assert as_session.get_access_key_info(AccessKeyId=users_key)["Account"] == account
    cli = Cli(server, tmp_path)
    assert cli.json("sts", "get-access-key-info", "--access-key-id", root_key)["Account"] == account
    assert aws_error(sts.get_access_key_info, AccessKeyId="AKIA-not-a-key-id!!").code in ("ValidationError", "InvalidParameterValue")


def test_get_access_key_info_needs_permission(server, iam):
    user = unique("info-denied")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = client_for(server, "sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert aws_error(as_user.get_access_key_info, AccessKeyId=key["AccessKeyId"])[:2] == ("AccessDenied", 403)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetAccessKeyInfo","Resource":"*"}]}')
    assert as_user.get_access_key_info(AccessKeyId=key["AccessKeyId"])["Account"] == server.account()
