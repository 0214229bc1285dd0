"""`forge ci local-runner`, which scripts/install.sh runs so a fresh install has a runner: it registers one instance
runner, writes its config (mode 0600), reuses it on the next start, and falls back to the shell executor with a
warning when Docker does not answer."""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import select

from app.cli import main
from ci.models import RegistrationToken, Runner
from forge.bootstrap import prepare
from forge.db.engine import session_scope
from forge.settings import Settings
from runners import config as runner_config


def _run(home: Path, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["ci", "local-runner"], env={"FORGE_HOME": str(home), **env})
    return result.exit_code, result.stdout, result.stderr


def _runners(home: Path) -> list[Runner]:
    engine = prepare(Settings(home=home), run_migrations=False)
    with session_scope(engine) as session:
        rows = list(session.exec(select(Runner)))
        assert list(session.exec(select(RegistrationToken))) == []  # the one-off token is gone
        session.expunge_all()
    engine.dispose()
    return rows


def test_registers_once_and_reuses(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path)
    assert code == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path == tmp_path / "runner" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = runner_config.load(path)
    assert config.url == "http://127.0.0.1:3000" and config.executor == "docker"
    assert "Registered the local runner (docker executor)" in err
    runners = _runners(tmp_path)
    assert [(r.id, r.name, r.scope, r.executor) for r in runners] == [(config.id, "local", "instance", "docker")]

    code, out, err = _run(tmp_path)
    assert code == 0 and "Using the local runner" in err
    assert runner_config.load(path).token == config.token and len(_runners(tmp_path)) == 1


def test_without_docker_it_uses_the_shell_executor_and_says_so(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, DOCKER_HOST="tcp://127.0.0.1:9")
    assert code == 0, err
    assert "warning: the Docker Engine does not answer" in err and "shell executor" in err
    assert runner_config.load(Path(out.strip().splitlines()[-1])).executor == "shell"
