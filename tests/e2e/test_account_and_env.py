"""A chosen account id (test suites written for moto or LocalStack hardcode theirs), and
`rolecall env` against a server whose state is in PostgreSQL."""

import subprocess

import pytest

from support import BINARY, TRUST_EC2, Server, client_for


def serve_fails(data_dir, *args):
    p = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", *args],
        capture_output=True, text=True, timeout=60,
    )
    assert p.returncode != 0, p.stdout + p.stderr
    return p.stderr


@pytest.mark.parametrize("account", ["123456789012", "000000000000"])
def test_chosen_account_id(tmp_path, account):
    s = Server(tmp_path / "data", extra_args=["--account-id", account]).start()
    try:
        assert client_for(s, "sts").get_caller_identity()["Account"] == account
        arn = client_for(s, "iam").create_role(RoleName="r", AssumeRolePolicyDocument=TRUST_EC2)["Role"]["Arn"]
        assert arn == f"arn:aws:iam::{account}:role/r"
    finally:
        s.stop()
    # The account of a deployment cannot change...
    other = "111122223333"
    err = serve_fails(tmp_path / "data", "--account-id", other)
    assert f"--account-id {other}: this deployment was created with account {account}, which cannot change" in err, err
    # ...and later starts need not repeat it (or may repeat the same).
    for extra in ([], ["--account-id", account]):
        s = Server(tmp_path / "data", extra_args=extra).start()
        try:
            assert client_for(s, "sts").get_caller_identity()["Account"] == account
        finally:
            s.stop()


@pytest.mark.parametrize("bad", ["12345", "12345678901a", "1234567890123", ""])
def test_account_id_must_be_12_digits(tmp_path, bad):
    err = serve_fails(tmp_path / "data", "--account-id", bad)
    assert "--account-id must be 12 digits" in err, err
    assert not (tmp_path / "data" / "rolecall.db").exists()


def test_default_account_is_random(tmp_path):
    accounts = set()
    for n in range(2):
        s = Server(tmp_path / f"d{n}").start()
        try:
            accounts.add(client_for(s, "sts").get_caller_identity()["Account"])
        finally:
            s.stop()
    assert len(accounts) == 2 and all(len(a) == 12 and a.isdigit() for a in accounts)


def test_env_against_postgresql(tmp_path, database_url):
    s = Server(tmp_path / "data", database_url=database_url).start()
    try:
        # Without the database URL: a clear error, and no second (SQLite) database appears.
        p = subprocess.run([str(BINARY), "env", "--data-dir", str(s.data_dir)], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert "keeps its state in PostgreSQL: pass the same --database-url" in p.stderr, p.stderr
        assert not (s.data_dir / "rolecall.db").exists()
        p = subprocess.run(
            [str(BINARY), "exec", "--data-dir", str(s.data_dir), "i-0123456789abcdef0", "--", "true"],
            capture_output=True, text=True, timeout=60,
        )
        assert p.returncode != 0 and "PostgreSQL" in p.stderr, p.stderr
        assert not (s.data_dir / "rolecall.db").exists()
        # With it (the fixture's env() passes it): working root credentials.
        assert client_for(s, "sts").get_caller_identity()["Arn"].endswith(":root")
    finally:
        s.stop()


def test_env_before_any_server(tmp_path):
    """`rolecall env` on a directory no server created fails and creates nothing."""
    (tmp_path / "data").mkdir(mode=0o700)
    p = subprocess.run([str(BINARY), "env", "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert list((tmp_path / "data").iterdir()) == []
