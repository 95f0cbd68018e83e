"""The README's quick start, run as written on a fresh data directory: the `quickstart:serve` block
in one process, the `quickstart:client` block in a shell, with `cargo run ... --` standing for the
binary this suite built (building a release here would take minutes; the commands are the same).
The default ports 8690/8691 are used, as a reader would."""

import os
import re
import signal
import subprocess

import pytest

from support import BINARY, REPO, clean_env, wait_listening

CARGO_RUN = re.compile(r"cargo run (?:-q )?--release -p rolecall --")


def blocks():
    text = (REPO / "README.md").read_text()
    found = {}
    for name in ("serve", "client"):
        m = re.search(r"<!-- quickstart:" + name + r"\b[^>]*-->\s*```sh\n(.*?)```", text, re.S)
        assert m, f"README has no quickstart:{name} block"
        found[name] = CARGO_RUN.sub(str(BINARY), m.group(1))
    return found


def test_readme_quick_start(tmp_path):
    b = blocks()
    assert str(BINARY) in b["serve"] and str(BINARY) in b["client"]
    home = tmp_path / "home"
    home.mkdir()
    # A fresh machine: the default data directory under an empty home, no AWS configuration.
    env = clean_env(HOME=str(home), XDG_DATA_HOME="", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env.pop("XDG_DATA_HOME")
    log = tmp_path / "serve.log"
    serve = subprocess.Popen(["bash", "-c", "exec " + b["serve"].strip()], env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_listening(serve, 8690, log, "the quick start's server")
        work = tmp_path / "work"
        work.mkdir()
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", b["client"]], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert (home / ".local" / "share" / "rolecall" / "master.key").exists()
        arn = re.findall(r'"Arn": "([^"]+)"', p.stdout)
        assert arn and arn[0].endswith(":root"), p.stdout
        assert re.fullmatch(r"arn:aws:sts::\d{12}:assumed-role/s3access/i-[0-9a-f]{17}", arn[-1]), p.stdout
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=10)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
