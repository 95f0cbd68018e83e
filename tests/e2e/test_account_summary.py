"""GetAccountSummary: entity counts and AWS's default quotas, through boto3 and the aws CLI."""

from conftest import Cli, client_for

TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'


def test_account_summary_counts_entities(fresh_server, tmp_path):
    iam = client_for(fresh_server, "iam")
    before = iam.get_account_summary()["SummaryMap"]
    iam.create_role(RoleName="summary-role", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="summary-profile")
    iam.create_user(UserName="summary-user")
    iam.create_group(GroupName="summary-group")
    after = iam.get_account_summary()["SummaryMap"]
    for key in ("Roles", "InstanceProfiles", "Users", "Groups"):
        assert after[key] == before[key] + 1, (key, before, after)
    assert after["RolesQuota"] == 1000
    assert after["InstanceProfilesQuota"] == 1000
    cli = Cli(fresh_server, tmp_path).json("iam", "get-account-summary")
    assert cli["SummaryMap"]["Roles"] == after["Roles"]
