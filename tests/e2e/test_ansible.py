"""Ansible's amazon.aws collection (ansible==12.3.0, pinned in tests/requirements-ansible.txt)
runs the seed's flow against rolecall twice: the first run succeeds and changes things, the
second changes nothing and creates nothing."""

import os
import re
import subprocess
import sys
from pathlib import Path

from support import client_for

PLAYBOOK = Path(__file__).parent / "ansible" / "seed_flow.yml"
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"


def play(server, tmp_path):
    env = {
        **os.environ,
        **server.env(),
        "ROLECALL_ENDPOINT": server.endpoint,
        "AWS_REGION": server.env()["AWS_DEFAULT_REGION"],
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    out = subprocess.run([str(PLAYBOOK_BIN), "-i", "localhost,", str(PLAYBOOK)], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out.stdout)
    assert recap, out.stdout[-3000:]
    return {k: int(v) for k, v in zip(("ok", "changed", "unreachable", "failed"), recap.groups())}


def counts(server):
    ec2 = client_for(server, "ec2")
    iam = client_for(server, "iam")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assocs = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    return {
        "instances": len(instances),
        "live": sorted((t["Value"], i["State"]["Name"]) for i in instances for t in i.get("Tags", []) if t["Key"] == "Name"),
        "associations": sorted(a["IamInstanceProfile"]["Arn"].rsplit("/", 1)[1] for a in assocs),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "profiles": sorted(p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]),
        "keys": len(iam.list_access_keys(UserName="seed-user")["AccessKeyMetadata"]),
    }


def test_seed_flow_twice_is_idempotent(fresh_server, tmp_path):
    assert PLAYBOOK_BIN.exists(), "needs `pip install -r tests/requirements-ansible.txt` (scripts/test.sh installs it)"
    first = play(fresh_server, tmp_path)
    assert first["changed"] > 0 and first["failed"] == 0
    after_first = counts(fresh_server)
    assert after_first["live"] == [("seed-flow", "terminated"), ("seed-keep", "running")]
    assert after_first["associations"] == ["seed-app"]  # the kept instance's; the terminated one's ended
    assert after_first["roles"] == ["seed-app", "seed-other"]
    assert after_first["profiles"] == ["seed-app", "seed-other"]
    assert after_first["keys"] == 1
    # The flow's instance had seed-app, was switched to seed-other, then terminated (ending it).
    ec2 = client_for(fresh_server, "ec2")
    [flow] = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["seed-flow"]}])["Reservations"] for i in r["Instances"]]
    ended = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [flow["InstanceId"]]}, {"Name": "state", "Values": ["disassociated"]}])
    assert sorted(a["IamInstanceProfile"]["Arn"].rsplit("/", 1)[1] for a in ended["IamInstanceProfileAssociations"]) == ["seed-app", "seed-other"]
    second = play(fresh_server, tmp_path)
    assert second["changed"] == 0 and second["failed"] == 0, second
    assert counts(fresh_server) == after_first
