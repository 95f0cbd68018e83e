"""Fixtures that run a real `rolecall serve` on 127.0.0.1 and point real AWS clients at it.
Helpers are in support.py.

`--store=postgres` runs the shared servers (`server`, `imds_server`, `fresh_server`) on
PostgreSQL (each on a database of its own on the server of $ROLECALL_TEST_DATABASE_URL) instead
of SQLite; scripts/test.sh runs the API modules both ways. With $ROLECALL_TEST_REQUIRE_POSTGRES
set (scripts/test.sh sets it), a missing PostgreSQL fails the tests that need it instead of
skipping them."""

import os
import shutil

import pytest

from support import Cli, Server, client_for, create_database, drop_database, postgres_base_url


def pytest_addoption(parser):
    parser.addoption("--store", choices=("sqlite", "postgres"), default="sqlite", help="the store of the shared server fixtures")


def pytest_report_header(config):
    return f"rolecall store for the shared servers: {config.getoption('--store')}"


def _postgres_base():
    base = postgres_base_url()
    if not base:
        why = "ROLECALL_TEST_DATABASE_URL is not set (run under scripts/with-postgres.sh)"
        if os.environ.get("ROLECALL_TEST_REQUIRE_POSTGRES") or os.environ.get("CI"):
            pytest.fail(why + ", and PostgreSQL is required here")
        pytest.skip(why)
    return base


@pytest.fixture(scope="session")
def databases(request):
    """Makes fresh PostgreSQL databases for the shared servers under --store=postgres (None under
    SQLite); drops them at the end of the session."""
    if request.config.getoption("--store") != "postgres":
        yield lambda: None
        return
    base = _postgres_base()
    made = []

    def make():
        made.append(create_database(base))
        return made[-1]

    yield make
    for url in made:
        drop_database(base, url)


def _started(server):
    server.start()
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory, databases):
    s = _started(Server(tmp_path_factory.mktemp("rolecall") / "data", database_url=databases()))
    yield s
    s.stop()


@pytest.fixture
def database_url():
    """A fresh PostgreSQL database (the suite runs under scripts/with-postgres.sh)."""
    base = _postgres_base()
    url = create_database(base)
    yield url
    drop_database(base, url)


@pytest.fixture(scope="session")
def imds_server(tmp_path_factory, databases):
    """A server with IMDS; instances get 127.88.x.y addresses so tests can act as them."""
    s = _started(Server(tmp_path_factory.mktemp("imds") / "data", imds=True, extra_args=["--instance-cidr", "127.88.0.0/16"], database_url=databases()))
    yield s
    s.stop()


@pytest.fixture
def fresh_server(tmp_path, databases):
    s = _started(Server(tmp_path / "data", database_url=databases()))
    yield s
    s.stop()


@pytest.fixture
def cli(server, tmp_path):
    return Cli(server, tmp_path)


@pytest.fixture
def iam(server):
    return client_for(server, "iam")


@pytest.fixture
def ec2(server):
    return client_for(server, "ec2")


@pytest.fixture
def sts(server):
    return client_for(server, "sts")


@pytest.fixture(params=["sqlite", "postgres"])
def nodes(request, tmp_path):
    """Two API nodes (with IMDS) on one database, not started: a shared SQLite file, or
    PostgreSQL with each node's own data directory holding a copy of the key ring (as deployed)."""
    if request.param == "sqlite":
        yield Server(tmp_path / "data", imds=True), Server(tmp_path / "data", imds=True)
        return
    url = request.getfixturevalue("database_url")
    a = Server(tmp_path / "a", imds=True, database_url=url).start()
    a.stop()
    (tmp_path / "b").mkdir(mode=0o700)
    shutil.copy2(tmp_path / "a" / "master.key", tmp_path / "b" / "master.key")
    yield a, Server(tmp_path / "b", imds=True, database_url=url)
