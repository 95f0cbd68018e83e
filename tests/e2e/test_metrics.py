"""Health and Prometheus metrics of a running server (API and IMDS)."""

import re
import urllib.request

from support import client_for
from support import bound_get, launch, role_with_profile


def get(url):
    with urllib.request.urlopen(url) as r:
        return r.status, r.headers.get("content-type", ""), r.read().decode()


def counter(text, name, **labels):
    """The value of one labelled counter sample, 0 if absent."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_health_and_metrics(imds_server):
    status, _, body = get(f"{imds_server.endpoint}/health")
    assert (status, body.strip()) == (200, "ok")
    before = get(f"{imds_server.endpoint}/metrics")[2]
    sts = client_for(imds_server, "sts")
    for _ in range(3):
        sts.get_caller_identity()
    iam, ec2 = client_for(imds_server, "iam"), client_for(imds_server, "ec2")
    try:
        iam.get_role(RoleName="no-such-role-for-metrics")
    except iam.exceptions.NoSuchEntityException:
        pass
    role, profile, *_ = role_with_profile(iam)
    inst = launch(ec2, profile)
    ip = inst["PrivateIpAddress"]
    for _ in range(2):
        assert bound_get(ip, f"{imds_server.imds}/latest/meta-data/iam/security-credentials/{role}")[0] == 200
    assert bound_get(ip, f"{imds_server.imds}/latest/meta-data/nope")[0] == 404

    status, ctype, after = get(f"{imds_server.endpoint}/metrics")
    assert status == 200 and "openmetrics" in ctype
    delta = lambda name, **l: counter(after, name, **l) - counter(before, name, **l)
    assert delta("rolecall_api_requests_total", service="sts", action="GetCallerIdentity", status="200") == 3
    assert delta("rolecall_api_requests_total", service="iam", action="GetRole", status="404") == 1
    assert delta("rolecall_imds_requests_total", path="credentials", status="200") == 2
    assert delta("rolecall_imds_requests_total", path="metadata", status="404") == 1
    assert counter(after, "rolecall_imds_credentials_total", result="hit") + counter(after, "rolecall_imds_credentials_total", result="minted") >= 2
    assert re.search(r"^rolecall_api_request_duration_seconds_count \d+", after, re.M)
    assert re.search(r"^rolecall_imds_instances \d+", after, re.M)
    # No secrets or paths in metrics.
    assert "SecretAccessKey" not in after and "/rolecall/" not in after and role not in after
