"""The caller's own access keys (#12): CreateAccessKey / ListAccessKeys / UpdateAccessKey /
DeleteAccessKey without UserName act on the root's keys for the root (at most two, no UserName
in the answer, as AWS) and on a user's own keys for a user; GetUser as the root reports the
account's creation date."""

from conftest import Cli, client_for
from support import RawBodies, allow, assert_recent, aws_error, doc, unique


def test_root_manages_its_own_keys(fresh_server, tmp_path):
    iam = client_for(fresh_server, "iam")
    bodies = RawBodies(iam)
    first = client_for(fresh_server, "sts").get_caller_identity()
    assert first["Arn"].endswith(":root")

    listed = iam.list_access_keys()["AccessKeyMetadata"]
    assert len(listed) == 1 and listed[0]["Status"] == "Active"
    original = listed[0]["AccessKeyId"]
    assert fresh_server.env()["AWS_ACCESS_KEY_ID"] == original
    assert "UserName" not in listed[0]
    assert "<UserName>" not in bodies.last("ListAccessKeys")
    assert_recent(listed[0]["CreateDate"])

    made = iam.create_access_key()["AccessKey"]
    assert "UserName" not in made and "<UserName>" not in bodies.last("CreateAccessKey")
    assert made["AccessKeyId"].startswith("AKIA") and made["Status"] == "Active"
    as_new = dict(key=made["AccessKeyId"], secret=made["SecretAccessKey"])
    assert client_for(fresh_server, "sts", **as_new).get_caller_identity()["Arn"] == first["Arn"]
    ids = sorted(k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"])
    assert ids == sorted([original, made["AccessKeyId"]])

    # Two keys at most, as for users.
    assert aws_error(iam.create_access_key)[:2] == ("LimitExceeded", 409)

    # Deactivated: refused; active again: accepted.
    iam.update_access_key(AccessKeyId=made["AccessKeyId"], Status="Inactive")
    assert aws_error(client_for(fresh_server, "sts", **as_new).get_caller_identity).code == "InvalidClientTokenId"
    iam.update_access_key(AccessKeyId=made["AccessKeyId"], Status="Active")
    new_iam = client_for(fresh_server, "iam", **as_new)
    assert new_iam.get_user()["User"]["Arn"] == first["Arn"]

    # Deleting the key one signs with is allowed; afterwards it is refused, and `rolecall env`
    # prints the key that is left.
    iam.delete_access_key(AccessKeyId=original)
    assert aws_error(iam.list_access_keys).code == "InvalidClientTokenId"
    assert [k["AccessKeyId"] for k in new_iam.list_access_keys()["AccessKeyMetadata"]] == [made["AccessKeyId"]]
    assert fresh_server.env()["AWS_ACCESS_KEY_ID"] == made["AccessKeyId"]
    cli = Cli(fresh_server, tmp_path)
    assert cli.json("sts", "get-caller-identity")["Arn"] == first["Arn"]

    missing = "AKIAIOSFODNN7EXAMPLE"
    assert aws_error(new_iam.delete_access_key, AccessKeyId=missing)[:2] == ("NoSuchEntity", 404)
    assert aws_error(new_iam.update_access_key, AccessKeyId=missing, Status="Inactive")[:2] == ("NoSuchEntity", 404)
    # A user's key is not the root's: without UserName the root acts on its own keys only.
    user = unique("not-root")
    new_iam.create_user(UserName=user)
    users_key = new_iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    assert aws_error(new_iam.delete_access_key, AccessKeyId=users_key)[:2] == ("NoSuchEntity", 404)


def test_get_user_as_root_reports_the_accounts_creation_date(fresh_server):
    user = client_for(fresh_server, "iam").get_user()["User"]
    assert user["Arn"] == f"arn:aws:iam::{fresh_server.account()}:root"
    assert_recent(user["CreateDate"])


def test_a_user_manages_its_own_keys_without_user_name(server, iam):
    name = unique("self-keys")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    actions = ["iam:CreateAccessKey", "iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:DeleteAccessKey"]
    iam.put_user_policy(UserName=name, PolicyName="own-keys", PolicyDocument=doc(allow(actions, arn)))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    me = client_for(server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    second = me.create_access_key()["AccessKey"]
    assert second["UserName"] == name
    listed = me.list_access_keys()["AccessKeyMetadata"]
    assert sorted(k["AccessKeyId"] for k in listed) == sorted([key["AccessKeyId"], second["AccessKeyId"]])
    assert all(k["UserName"] == name for k in listed)
    me.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Inactive")
    me.delete_access_key(AccessKeyId=second["AccessKeyId"])
    assert [k["AccessKeyId"] for k in me.list_access_keys()["AccessKeyMetadata"]] == [key["AccessKeyId"]]
    # Another user's keys need UserName and the permission on that user.
    assert aws_error(me.list_access_keys, UserName=unique("other"))[:2] == ("AccessDenied", 403)
