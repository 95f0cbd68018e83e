"""Rotating the deployment key keeps live credentials valid; retiring the old key ends them."""

import json
import subprocess
import urllib.request

import botocore.exceptions
import pytest

from support import BINARY, Server, client_for
from support import launch, role_with_profile


def imds_credentials(server, instance_id, role):
    endpoint = server.exec_env(instance_id)["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
    with urllib.request.urlopen(f"{endpoint}latest/meta-data/iam/security-credentials/{role}") as r:
        return json.loads(r.read())


def whoami(server, creds):
    sts = client_for(server, "sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["Token"])
    return sts.get_caller_identity()["Arn"]


def test_rotate_then_retire(tmp_path):
    server = Server(tmp_path / "data", imds=True).start()
    try:
        iam, ec2 = client_for(server, "iam"), client_for(server, "ec2")
        role, profile, *_ = role_with_profile(iam)
        inst = launch(ec2, profile)["InstanceId"]
        old = imds_credentials(server, inst, role)
        root_env = server.env()
        assert whoami(server, old).endswith(f"/{role}/{inst}")

        server.stop()
        out = subprocess.run([str(BINARY), "rotate-key", "--data-dir", str(server.data_dir)], check=True, capture_output=True, text=True).stdout
        assert "key 2 is now active" in out
        server.start()

        # Old credentials still verify; new ones are minted under the new key; root keys unchanged.
        assert whoami(server, old).endswith(f"/{role}/{inst}")
        new = imds_credentials(server, inst, role)
        assert new["AccessKeyId"] != old["AccessKeyId"]
        assert whoami(server, new).endswith(f"/{role}/{inst}")
        assert server.env()["AWS_SECRET_ACCESS_KEY"] == root_env["AWS_SECRET_ACCESS_KEY"]

        # Retire key 1: the root secret was re-sealed, new credentials live on, old ones end.
        server.stop()
        key_file = server.data_dir / "master.key"
        key_file.write_text("".join(l for l in key_file.read_text().splitlines(keepends=True) if not l.startswith("1 ")))
        server.start()
        assert server.env()["AWS_ACCESS_KEY_ID"] == root_env["AWS_ACCESS_KEY_ID"]
        client_for(server, "sts").get_caller_identity()
        assert whoami(server, new).endswith(f"/{role}/{inst}")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            whoami(server, old)
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    finally:
        server.stop()
