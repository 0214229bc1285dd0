"""The installed `forge` console script, run as an operator would: a real process with its own FORGE_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import unique

FORGE = Path(sys.executable).with_name("forge")
PASSWORD = "correct-horse-42"


def forge(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Only what an operator's shell would hand over: no FORGE_* settings from the test process leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env["FORGE_HOME"] = str(home)
    db_url = os.environ.get("FORGE_TEST_DATABASE_URL", "")
    if db_url:
        # The PostgreSQL run exercises the CLI against the real server too (names are unique per session).
        env["FORGE_DATABASE_URL"] = db_url
    return subprocess.run([str(FORGE), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "forge-home"


def test_console_script_is_installed() -> None:
    assert FORGE.exists(), f"{FORGE} is missing: install the project with pip install -e '.[test]'"


def test_help_lists_the_commands(home: Path) -> None:
    result = forge(home, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "admin", "repo", "doctor"):
        assert f"  {command} " in result.stdout, f"`forge --help` does not list {command}:\n{result.stdout}"


def test_doctor_passes_on_a_migrated_home(home: Path) -> None:
    migrated = forge(home, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in migrated.stdout

    result = forge(home, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    git_lines = [line for line in result.stdout.splitlines() if line.startswith("[ok  ] git: git version")]
    assert git_lines, result.stdout
    assert "[ok  ] database:" in result.stdout


def test_migrate_check_reports_models_match(home: Path) -> None:
    assert forge(home, "migrate").returncode == 0
    result = forge(home, "migrate", "--check")
    assert result.returncode == 0, result.stderr
    assert "match" in result.stdout


def test_create_user_and_private_repository(home: Path) -> None:
    name = unique("clialice")
    created = forge(home, "admin", "create-user", name, "--password", PASSWORD, "--email", f"{name}@example.com")
    assert created.returncode == 0, created.stderr
    assert f"Created user {name}." in created.stdout

    repo = forge(home, "repo", "create", f"{name}/notes", "--private", "--readme")
    assert repo.returncode == 0, repo.stderr
    assert f"Created private repository {name}/notes" in repo.stdout
    assert list((home / "repos").rglob("notes.git")), "the bare repository was not created under FORGE_HOME/repos"

    listed = forge(home, "repo", "list", name)
    assert listed.returncode == 0, listed.stderr
    assert f"{name}/notes\tprivate" in listed.stdout

    again = forge(home, "repo", "create", f"{name}/notes")
    assert again.returncode != 0
    assert again.stderr.startswith("error: ")


@pytest.fixture(scope="module")
def home_with_user(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("forge-home")
    name = unique("clibob")
    created = forge(home, "admin", "create-user", name, "--password", PASSWORD)
    assert created.returncode == 0, created.stderr
    return home, name


@pytest.mark.parametrize("bad", ["../x", "名字", "a/b", ".hidden", "x.git"])
def test_bad_repository_names_are_refused_with_a_sentence(home_with_user: tuple[Path, str], bad: str) -> None:
    home, name = home_with_user
    result = forge(home, "repo", "create", f"{name}/{bad}")
    assert result.returncode != 0
    message = result.stderr.strip()
    assert message.startswith("error: ") and message.endswith("."), message
    assert "Traceback" not in result.stderr
    assert bad in message


def test_unknown_owner_is_refused(home_with_user: tuple[Path, str]) -> None:
    home, _ = home_with_user
    result = forge(home, "repo", "create", f"{unique('nobody')}/x")
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_short_password_is_refused(home_with_user: tuple[Path, str]) -> None:
    home, _ = home_with_user
    result = forge(home, "admin", "create-user", unique("clishort"), "--password", "short")
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
