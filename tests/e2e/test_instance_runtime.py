"""`rolecall serve --instance-runtime netns`: instances that really run (Linux, root).

Each test has its own server on the instance range 10.213.0.0/24 (the runtime's bridge is
rcbr0, one per host, so servers run one at a time). Everything the runtime creates is named
with its prefixes (netns `rc-i-...`, links `rcv...` and `rcbr0`); the fixture removes what a
failed test left, and the crash test compares the host's lists before and after."""

import base64
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

from support import WALKTHROUGH_ACCESS, WALKTHROUGH_TRUST, Cli, Server, eventually, free_port

CIDR = "10.213.0.0/24"
GATEWAY = "10.213.0.1"


def ip(*args, check=True) -> str:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True).stdout


def our_netns() -> set:
    return {l.split()[0] for l in ip("netns", "list").splitlines() if l.startswith("rc-i-")}


def our_links() -> set:
    names = {l.split(": ")[1].split("@")[0] for l in ip("-o", "link", "show").splitlines()}
    return {n for n in names if n == "rcbr0" or re.fullmatch(r"rcv[0-9a-f]{12}", n)}


def our_addresses() -> set:
    return {l.split()[3] for l in ip("-o", "-4", "addr", "show").splitlines() if l.split()[3].startswith(("10.213.", "169.254.169.254"))}


def remove_ours():
    """Whatever a failed test left behind (only rolecall's names)."""
    for ns in our_netns():
        for pid in ip("netns", "pids", ns, check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        ip("netns", "del", ns, check=False)
    for link in our_links():
        ip("link", "del", link, check=False)


# Not under /tmp: an instance has a private /tmp.
INSTANCE_VENV = "/var/tmp/rolecall-instance-venv"


def nobody_runs_aws() -> bool:
    """As user data runs it: a shell's PATH search, as nobody (execvp alone may fall through to
    another `aws` later on PATH where the shell stops at the first it cannot run)."""
    run_as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--no-new-privs"]
    return subprocess.run([*run_as_nobody, "sh", "-c", "aws --version"], capture_output=True).returncode == 0


def instance_aws_cli() -> str:
    """A virtualenv the instances' unprivileged user can run: the test's own may sit in a checkout,
    or be made by an interpreter, that only root may enter (e.g. pyenv under /root). It is made
    from the system's Python with the same pinned aws CLI (tests/requirements.txt)."""
    bin_dir = f"{INSTANCE_VENV}/bin"
    if not os.access(f"{bin_dir}/aws", os.X_OK):
        pin = next(l.strip() for l in open(os.path.join(os.path.dirname(__file__), "..", "requirements.txt")) if l.startswith("awscli=="))
        subprocess.run(["/usr/bin/python3", "-m", "venv", INSTANCE_VENV], check=True)
        subprocess.run([f"{bin_dir}/pip", "install", "-q", "--disable-pip-version-check", pin], check=True)
        subprocess.run(["chmod", "-R", "a+rX", INSTANCE_VENV], check=True)
    return bin_dir


@pytest.fixture
def netns_server(tmp_path, monkeypatch):
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("the netns runtime's tests run as root with iproute2 installed (scripts/test.sh installs it)")
    # User data runs as nobody with the server's PATH: the aws CLI there must be usable by it.
    if not nobody_runs_aws():
        monkeypatch.setenv("PATH", f"{instance_aws_cli()}:{os.environ['PATH']}")
        if not nobody_runs_aws():
            pytest.fail("user `nobody` cannot run the aws CLI, even from a virtualenv open to it")
    before = (our_netns(), our_links(), our_addresses())
    s = Server(tmp_path / "data", extra_args=["--instance-runtime", "netns", "--instance-cidr", CIDR])
    s.start()
    s.before = before
    try:
        yield s
    finally:
        s.stop()
        remove_ours()


def cli_for(server, tmp_path) -> Cli:
    return Cli(server, tmp_path)


def profile_with_role(cli, name: str):
    cli.run("iam", "create-role", "--role-name", name, "--assume-role-policy-document", WALKTHROUGH_TRUST)
    cli.run("iam", "put-role-policy", "--role-name", name, "--policy-name", "s3", "--policy-document", WALKTHROUGH_ACCESS)
    cli.run("iam", "create-instance-profile", "--instance-profile-name", f"{name}-profile")
    cli.run("iam", "add-role-to-instance-profile", "--instance-profile-name", f"{name}-profile", "--role-name", name)


def run_instance(cli, profile=None, user_data_file=None) -> dict:
    args = ["ec2", "run-instances", "--image-id", "ami-11aa22bb", "--count", "1"]
    if profile:
        args += ["--iam-instance-profile", f"Name={profile}"]
    if user_data_file:
        args += ["--user-data", f"file://{user_data_file}"]
    return cli.json(*args)["Instances"][0]


def console(cli, instance_id: str) -> str:
    out = cli.json("ec2", "get-console-output", "--instance-id", instance_id, "--latest")
    assert out["InstanceId"] == instance_id
    return out.get("Output", "")


def wait_console(cli, instance_id: str, text: str) -> str:
    eventually(lambda: text in console(cli, instance_id), f"{text!r} in {instance_id}'s console output")
    return console(cli, instance_id)


def inside(server, instance_id: str, *command) -> str:
    """`rolecall exec INSTANCE -- command` (inside the instance's namespaces)."""
    return server.exec(instance_id, *command).stdout


def curl(server, instance_id, path, token=None, code=False) -> str:
    args = ["curl", "-s", "--max-time", "10"]
    if token:
        args += ["-H", f"X-aws-ec2-metadata-token: {token}"]
    if code:
        args += ["-o", "/dev/null", "-w", "%{http_code}"]
    return inside(server, instance_id, *args, f"http://169.254.169.254{path}")


def token(server, instance_id) -> str:
    return inside(server, instance_id, "curl", "-s", "--max-time", "10", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 300", "http://169.254.169.254/latest/api/token")


BOOT = """#!/bin/sh
echo "whoami: $(id -un) host: $(hostname)"
TOKEN=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")
echo "token length: ${#TOKEN}"
ROLE=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/iam/security-credentials/)
echo "role: $ROLE"
curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/iam/security-credentials/$ROLE | grep -o '"Code" : "Success"'
aws sts get-caller-identity --query Arn --output text
echo "tmp: $(ls -A /tmp | tr '\\n' ' ')"
"""


def test_walkthrough_runs_inside_a_real_instance(netns_server, tmp_path):
    cli = cli_for(netns_server, tmp_path)
    account = netns_server.account()
    profile_with_role(cli, "s3access")
    (tmp_path / "boot.sh").write_text(BOOT)
    inst = run_instance(cli, "s3access-profile", tmp_path / "boot.sh")
    iid, ipaddr = inst["InstanceId"], inst["PrivateIpAddress"]
    out = wait_console(cli, iid, "user data exited")
    assert f"whoami: nobody host: ip-{ipaddr.replace('.', '-')}.ec2.internal" in out, out
    assert "token length: 0" not in out and "token length:" in out, out
    assert "role: s3access\n" in out, out
    assert '"Code" : "Success"' in out, out
    assert f"arn:aws:sts::{account}:assumed-role/s3access/{iid}\n" in out, out
    assert "user data exited with status 0" in out, out
    # A private /tmp: only the boot script is there, none of the host's files.
    assert "tmp: .rolecall-user-data \n" in out, out
    # The instance reaches the bridge's listeners only: no default route, no NAT.
    # `rolecall exec` runs as the instance's user too (root there could take another's address).
    assert inside(netns_server, iid, "id", "-un") == "nobody\n"
    routes = inside(netns_server, iid, "ip", "route")
    assert "default" not in routes, routes
    assert f"169.254.169.254 via {GATEWAY}" in routes, routes
    host_loopback = netns_server.exec(iid, "curl", "-s", "--max-time", "3", f"http://127.0.0.1:{netns_server.port}/", check=False)
    assert host_loopback.returncode == 7, host_loopback  # couldn't connect
    # ...while the API is at the gateway (the boot script's `aws sts` went there).
    assert f"AWS_ENDPOINT_URL=http://{GATEWAY}:{netns_server.port}" in inside(netns_server, iid, "env")
    # The output is EC2's: base64 on the wire (the CLI decodes it).
    raw = subprocess.run(
        ["aws", "ec2", "get-console-output", "--instance-id", iid, "--output", "json", "--no-paginate", "--debug"],
        env=cli.env, capture_output=True, text=True, check=True,
    ).stderr
    encoded = re.search(r"<output>([^<]+)</output>", raw)
    assert encoded and "assumed-role/s3access" in base64.b64decode(encoded.group(1)).decode(), raw[-2000:]


def test_association_metadata_options_and_isolation_apply_to_running_instances(netns_server, tmp_path):
    cli = cli_for(netns_server, tmp_path)
    profile_with_role(cli, "alpha")
    profile_with_role(cli, "beta")
    a = run_instance(cli, "alpha-profile")["InstanceId"]
    b = run_instance(cli, "beta-profile")["InstanceId"]
    creds = "/latest/meta-data/iam/security-credentials/"
    assert curl(netns_server, a, creds, token(netns_server, a)) == "alpha"
    assert curl(netns_server, b, creds, token(netns_server, b)) == "beta"
    key_a = json.loads(curl(netns_server, a, creds + "alpha", token(netns_server, a)))["AccessKeyId"]
    key_b = json.loads(curl(netns_server, b, creds + "beta", token(netns_server, b)))["AccessKeyId"]
    assert key_a != key_b
    # Neither instance sees the other's role, by name or with the other's token.
    assert curl(netns_server, b, creds + "alpha", token(netns_server, b), code=True) == "404"
    assert curl(netns_server, b, creds + "alpha", token(netns_server, a), code=True) == "401"

    assoc = cli.json("ec2", "describe-iam-instance-profile-associations", "--filters", f"Name=instance-id,Values={a}")
    assoc_id = assoc["IamInstanceProfileAssociations"][0]["AssociationId"]
    cli.run("ec2", "replace-iam-instance-profile-association", "--association-id", assoc_id, "--iam-instance-profile", "Name=beta-profile")
    assert curl(netns_server, a, creds, token(netns_server, a)) == "beta"

    assert curl(netns_server, a, creds, code=True) == "200"  # IMDSv1 while tokens are optional
    cli.run("ec2", "modify-instance-metadata-options", "--instance-id", a, "--http-tokens", "required")
    assert curl(netns_server, a, creds, code=True) == "401"
    assert curl(netns_server, a, creds, token(netns_server, a)) == "beta"


def test_stop_start_terminate_and_a_crashed_server_leave_nothing_behind(netns_server, tmp_path):
    cli = cli_for(netns_server, tmp_path)
    (tmp_path / "once.sh").write_text("#!/bin/sh\necho booted-once\n")
    iid = run_instance(cli, user_data_file=tmp_path / "once.sh")["InstanceId"]
    other = run_instance(cli)["InstanceId"]
    wait_console(cli, iid, "booted-once")
    assert {f"rc-{iid}", f"rc-{other}"} <= our_netns()
    veth = "rcv" + iid[-12:]
    assert veth in our_links()

    cli.run("ec2", "stop-instances", "--instance-ids", iid)
    state = cli.json("ec2", "describe-instances", "--instance-ids", iid)["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "stopped"
    assert f"rc-{iid}" not in our_netns() and veth not in our_links()
    assert netns_server.exec(iid, "true", check=False).returncode != 0

    cli.run("ec2", "start-instances", "--instance-ids", iid)
    assert f"rc-{iid}" in our_netns() and veth in our_links()
    assert inside(netns_server, iid, "hostname").startswith("ip-10-213-0-")
    # User data ran at the first launch only.
    assert console(cli, iid).count("booted-once") == 1

    # A crash: the namespaces stay behind, the processes die with the server.
    netns_server.stop(kill=True)
    assert f"rc-{iid}" in our_netns()
    netns_server.start()
    assert our_netns() == netns_server.before[0] | {f"rc-{iid}", f"rc-{other}"}
    assert inside(netns_server, iid, "hostname").startswith("ip-10-213-0-")
    assert console(cli, iid).count("booted-once") == 1

    cli.run("ec2", "terminate-instances", "--instance-ids", iid, other)
    assert our_netns() == netns_server.before[0]
    assert our_links() == netns_server.before[1] | {"rcbr0"}
    netns_server.stop()
    assert (our_netns(), our_links(), our_addresses()) == netns_server.before


NESTED = "rct-hop"  # the test's own "container" namespace (not an instance's: no rc-i- prefix)


def test_hop_limit_counts_a_container_routed_through_the_instance(netns_server, tmp_path):
    """As on EC2 with Docker's bridge networking: a namespace one hop behind the instance (its
    traffic forwarded and masqueraded by the instance) gets no IMDSv2 token with
    HttpPutResponseHopLimit 1, and gets one with 2."""
    if shutil.which("nft") is None:
        pytest.fail("the hop-limit test needs nftables (scripts/test.sh installs it)")
    cli = cli_for(netns_server, tmp_path)
    profile_with_role(cli, "hop")
    iid = run_instance(cli, "hop-profile")["InstanceId"]
    ns = f"rc-{iid}"

    def in_nested(*command):
        return subprocess.run(["ip", "netns", "exec", NESTED, *command], capture_output=True, text=True)

    def nested_token():
        return in_nested("curl", "-s", "--max-time", "3", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60", "http://169.254.169.254/latest/api/token")

    try:
        ip("netns", "add", NESTED)
        ip("-n", ns, "link", "add", "rct0", "type", "veth", "peer", "name", "eth0", "netns", NESTED)
        ip("-n", ns, "addr", "add", "10.213.1.1/30", "dev", "rct0")
        ip("-n", ns, "link", "set", "rct0", "up")
        ip("-n", NESTED, "addr", "add", "10.213.1.2/30", "dev", "eth0")
        ip("-n", NESTED, "link", "set", "eth0", "up")
        ip("-n", NESTED, "route", "add", "169.254.169.254/32", "via", "10.213.1.1")
        for cmd in (
            ["sysctl", "-qw", "net.ipv4.ip_forward=1"],
            ["nft", "add", "table", "ip", "rctnat"],
            ["nft", "add chain ip rctnat post { type nat hook postrouting priority 100 ; }"],
            ["nft", "add", "rule", "ip", "rctnat", "post", "oifname", "eth0", "masquerade"],
        ):
            subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True)

        cli.run("ec2", "modify-instance-metadata-options", "--instance-id", iid, "--http-put-response-hop-limit", "1", "--http-endpoint", "enabled")
        assert len(token(netns_server, iid)) > 20  # the instance itself gets one
        one_hop = nested_token()
        assert one_hop.returncode == 28 and one_hop.stdout == "", one_hop  # no answer reached it

        cli.run("ec2", "modify-instance-metadata-options", "--instance-id", iid, "--http-put-response-hop-limit", "2")
        two_hops = nested_token()
        assert two_hops.returncode == 0 and len(two_hops.stdout) > 20, two_hops
        creds = in_nested("curl", "-s", "--max-time", "10", "-H", f"X-aws-ec2-metadata-token: {two_hops.stdout}", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
        assert creds.stdout == "hop", creds
    finally:
        for pid in ip("netns", "pids", NESTED, check=False).split():
            os.kill(int(pid), signal.SIGKILL)
        ip("netns", "del", NESTED, check=False)


def test_netns_without_root_is_refused_at_start_up():
    import tempfile
    from support import BINARY
    if os.geteuid() != 0:
        pytest.fail("this test drops from root to nobody")
    with tempfile.TemporaryDirectory(prefix="rc-nonroot-") as d:
        os.chmod(d, 0o777)
        binary = shutil.copy(BINARY, f"{d}/rolecall")  # the checkout may be closed to nobody
        os.chmod(binary, 0o755)
        p = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", binary, "serve", "--data-dir", f"{d}/data", "--listen", "127.0.0.1:0", "--instance-runtime", "netns"],
            capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"], "RUST_BACKTRACE": "0"},
        )
    assert p.returncode != 0
    assert "--instance-runtime netns needs root" in p.stderr, p.stderr
