"""Branch, tag and protection commands of the `forge` CLI, against a real data directory and real git."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FORGE = str(Path(sys.executable).with_name("forge"))


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FORGE_HOME": str(home)}
    env.pop("FORGE_TEST_DATABASE_URL", None)
    env.pop("FORGE_DATABASE_URL", None)
    return subprocess.run([FORGE, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-home")
    assert run(home, "admin", "create-user", "carol", "--password", "secret-pass-1").returncode == 0
    res = run(home, "repo", "create", "carol/tools", "--readme")
    assert res.returncode == 0, res.stderr
    return home


def test_branch_create_list_protect_delete(home: Path) -> None:
    res = run(home, "branch", "create", "carol/tools", "dev", "--from", "main")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Created branch dev at ")
    listing = run(home, "branch", "list", "carol/tools").stdout
    assert "main\t" in listing and "default" in listing and "dev\t" in listing

    assert run(home, "branch", "protect", "carol/tools", "dev").returncode == 0
    assert "protected" in [line for line in run(home, "branch", "list", "carol/tools").stdout.splitlines()
                           if line.startswith("dev")][0]
    res = run(home, "branch", "delete", "carol/tools", "dev")
    assert res.returncode == 1
    assert "Branch dev is protected: it cannot be deleted." in res.stderr

    assert run(home, "branch", "unprotect", "carol/tools", "dev").returncode == 0
    assert run(home, "branch", "delete", "carol/tools", "dev").returncode == 0
    assert "dev\t" not in run(home, "branch", "list", "carol/tools").stdout


def test_default_branch_cannot_be_deleted_and_can_be_changed(home: Path) -> None:
    res = run(home, "branch", "delete", "carol/tools", "main")
    assert res.returncode == 1 and "default branch main cannot be deleted" in res.stderr
    assert run(home, "branch", "create", "carol/tools", "trunk").returncode == 0
    assert run(home, "branch", "set-default", "carol/tools", "trunk").returncode == 0
    head = (home / "repos" / "carol" / "tools.git" / "HEAD").read_text()
    assert head.strip() == "ref: refs/heads/trunk"
    res = run(home, "branch", "set-default", "carol/tools", "missing")
    assert res.returncode == 1 and "There is no branch called “missing”." in res.stderr


def test_tags(home: Path) -> None:
    assert run(home, "tag", "create", "carol/tools", "v1.0").returncode == 0
    assert "v1.0\t" in run(home, "tag", "list", "carol/tools").stdout
    res = run(home, "tag", "create", "carol/tools", "v1.0")
    assert res.returncode == 1 and "already exists" in res.stderr
    assert run(home, "tag", "delete", "carol/tools", "v1.0").returncode == 0
    assert run(home, "tag", "list", "carol/tools").stdout == ""


def test_unknown_repository_and_bad_names(home: Path) -> None:
    res = run(home, "branch", "list", "carol/nope")
    assert res.returncode == 1 and "repository carol/nope does not exist" in res.stderr
    res = run(home, "branch", "create", "carol/tools", "bad..name")
    assert res.returncode == 1 and "not a valid name" in res.stderr


def test_bad_setting_is_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "FORGE_HOME": str(tmp_path), "FORGE_SIGNUP": "sometimes"}
    res = subprocess.run([FORGE, "doctor"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert res.returncode == 2
    expected = "error: FORGE_SIGNUP: Input should be 'open', 'approval' or 'closed' (got 'sometimes')."
    assert res.stderr.strip() == expected


def test_branch_protect_with_pull_request_rules(home: Path) -> None:
    res = run(home, "branch", "protect", "carol/tools", "main", "--require-pull-request", "--approvals", "2",
              "--require-context", "ci/forge", "--require-context", "lint", "--require-up-to-date")
    assert res.returncode == 0, res.stderr
    from forge.db.engine import make_engine, session_scope
    from forge.repos import protection
    from forge.repos import services as repos
    from forge.settings import Settings

    engine = make_engine(Settings(home=home).effective_database_url)
    try:
        with session_scope(engine) as session:
            ref = repos.find_repo(session, "carol", "tools")
            assert ref is not None
            rule = protection.list_rules(session, ref)[0]
            assert (rule.require_pull_request, rule.required_approvals, rule.contexts, rule.require_up_to_date) == (
                True, 2, ["ci/forge", "lint"], True)
    finally:
        engine.dispose()
    res = run(home, "branch", "protect", "carol/tools", "main", "--approvals", "99")
    assert res.returncode == 1 and "between 0 and 20" in res.stderr
