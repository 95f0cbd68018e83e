"""Console passwords (#12): Create/Get/Update/DeleteLoginProfile and the account password
policy (Update/Get/DeleteAccountPasswordPolicy), as AWS answers them; passwords hashed, never
answered or logged; the policy (or AWS's default one) enforced; authorized on the user's ARN."""

from botocore.config import Config
from conftest import client_for
from support import RawBodies, allow, assert_recent, aws_error, doc, eventually, unique

STRONG = "Str0ng-Passw0rd!"


def test_login_profile_lifecycle(server, iam):
    bodies = RawBodies(iam)
    name = unique("console")
    iam.create_user(UserName=name)
    made = iam.create_login_profile(UserName=name, Password=STRONG, PasswordResetRequired=True)["LoginProfile"]
    assert made["UserName"] == name and made["PasswordResetRequired"] is True
    assert_recent(made["CreateDate"])
    assert "Password>" not in bodies.last("CreateLoginProfile").replace("PasswordResetRequired>", "")

    got = iam.get_login_profile(UserName=name)["LoginProfile"]
    assert got == made

    refused = aws_error(iam.create_login_profile, UserName=name, Password=STRONG)
    assert refused[:2] == ("EntityAlreadyExists", 409)

    iam.update_login_profile(UserName=name, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    iam.update_login_profile(UserName=name, Password="An0ther-Secret!")
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["CreateDate"] == made["CreateDate"]

    # A user with a console password is not deleted before it (as AWS).
    assert aws_error(iam.delete_user, UserName=name)[:2] == ("DeleteConflict", 409)
    iam.delete_login_profile(UserName=name)
    missing = aws_error(iam.get_login_profile, UserName=name)
    assert missing == ("NoSuchEntity", 404, f"Login Profile for User {name} cannot be found.")
    assert aws_error(iam.delete_login_profile, UserName=name)[:2] == ("NoSuchEntity", 404)
    assert aws_error(iam.update_login_profile, UserName=name, Password=STRONG)[:2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName=name)
    assert aws_error(iam.create_login_profile, UserName=name, Password=STRONG)[:2] == ("NoSuchEntity", 404)

    for body in bodies.bodies.values():
        text = body.decode()
        assert STRONG not in text and "An0ther-Secret!" not in text and "argon2" not in text
    assert STRONG not in server.log_text() and "An0ther-Secret!" not in server.log_text()

    # The audit trail records the calls, without the password.
    ct = client_for(server, "cloudtrail")
    attrs = [{"AttributeKey": "EventName", "AttributeValue": "CreateLoginProfile"}]

    def recorded():
        events = ct.lookup_events(LookupAttributes=attrs)["Events"]
        return [e for e in events if name in e["CloudTrailEvent"]]

    eventually(recorded, "CreateLoginProfile in the audit trail")
    for event in recorded():
        assert STRONG not in event["CloudTrailEvent"]


def test_aws_default_password_rules_without_a_policy(fresh_server):
    iam = client_for(fresh_server, "iam")
    name = unique("weak")
    iam.create_user(UserName=name)
    for weak in ["Sh0rt!", "alllowercase1", "NoDigitsOrSymbols"]:
        refused = aws_error(iam.create_login_profile, UserName=name, Password=weak)
        assert refused == ("PasswordPolicyViolation", 400, "Password does not conform to the account password policy.")
    assert aws_error(iam.get_login_profile, UserName=name)[:2] == ("NoSuchEntity", 404)


def test_account_password_policy(fresh_server, tmp_path):
    iam = client_for(fresh_server, "iam")
    missing = aws_error(iam.get_account_password_policy)
    assert missing == ("NoSuchEntity", 404, "The Password Policy with domain name ACCOUNT cannot be found.")
    assert aws_error(iam.delete_account_password_policy)[:2] == ("NoSuchEntity", 404)

    # Omitted members take AWS's defaults; a weak password is then allowed.
    iam.update_account_password_policy()
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 6,
        "RequireSymbols": False,
        "RequireNumbers": False,
        "RequireUppercaseCharacters": False,
        "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False,
        "ExpirePasswords": False,
    }
    name = unique("policy")
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password="simple")

    iam.update_account_password_policy(
        MinimumPasswordLength=12, RequireSymbols=True, RequireNumbers=True,
        AllowUsersToChangePassword=True, MaxPasswordAge=90, PasswordReusePrevention=5, HardExpiry=False,
    )
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 12 and policy["RequireSymbols"] and policy["RequireNumbers"]
    assert policy["ExpirePasswords"] is True and policy["MaxPasswordAge"] == 90
    assert policy["PasswordReusePrevention"] == 5 and policy["HardExpiry"] is False
    assert policy["RequireUppercaseCharacters"] is False

    for weak in ["short1!", "no-digits-here!", "n0symbolshere1"]:
        refused = aws_error(iam.update_login_profile, UserName=name, Password=weak)
        assert refused[:2] == ("PasswordPolicyViolation", 400)
    iam.update_login_profile(UserName=name, Password="lowercase-but-12!")

    # A shape constraint is a ValidationError (MinimumPasswordLength is 6..128).
    unchecked = client_for(fresh_server, "iam", config=Config(parameter_validation=False))
    assert aws_error(unchecked.update_account_password_policy, MinimumPasswordLength=5)[:2] == ("ValidationError", 400)
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 12

    iam.delete_account_password_policy()
    assert aws_error(iam.get_account_password_policy)[:2] == ("NoSuchEntity", 404)
    # Back to AWS's default rules.
    assert aws_error(iam.update_login_profile, UserName=name, Password="simple")[:2] == ("PasswordPolicyViolation", 400)


def test_cli_creates_and_reads_a_login_profile(server, iam, cli):
    name = unique("cli-console")
    iam.create_user(UserName=name)
    made = cli.json("iam", "create-login-profile", "--user-name", name, "--password", STRONG, "--password-reset-required")
    assert made["LoginProfile"]["UserName"] == name and made["LoginProfile"]["PasswordResetRequired"] is True
    assert STRONG not in str(made)
    got = cli.json("iam", "get-login-profile", "--user-name", name)
    assert got["LoginProfile"]["CreateDate"] == made["LoginProfile"]["CreateDate"]
    iam.delete_login_profile(UserName=name)


def test_authorized_on_the_users_arn(server, iam):
    target = unique("target")
    target_arn = iam.create_user(UserName=target)["User"]["Arn"]
    other = unique("other")
    iam.create_user(UserName=other)
    actor = unique("actor")
    iam.create_user(UserName=actor)
    actions = ["iam:CreateLoginProfile", "iam:GetLoginProfile", "iam:UpdateLoginProfile", "iam:DeleteLoginProfile"]
    iam.put_user_policy(UserName=actor, PolicyName="on-target", PolicyDocument=doc(allow(actions, target_arn)))
    key = iam.create_access_key(UserName=actor)["AccessKey"]
    me = client_for(server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])

    me.create_login_profile(UserName=target, Password=STRONG)
    assert me.get_login_profile(UserName=target)["LoginProfile"]["UserName"] == target
    for call, kwargs in [
        (me.create_login_profile, dict(UserName=other, Password=STRONG)),
        (me.get_login_profile, dict(UserName=other)),
        (me.update_login_profile, dict(UserName=other, Password=STRONG)),
        (me.delete_login_profile, dict(UserName=other)),
        (me.get_login_profile, dict()),
        (me.update_account_password_policy, dict(MinimumPasswordLength=20)),
        (me.get_account_password_policy, dict()),
        (me.delete_account_password_policy, dict()),
    ]:
        assert aws_error(call, **kwargs)[:2] == ("AccessDenied", 403), call
    me.delete_login_profile(UserName=target)
    assert aws_error(iam.get_login_profile, UserName=target)[:2] == ("NoSuchEntity", 404)
