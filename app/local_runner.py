"""``forge ci local-runner``: register this machine's own runner so a fresh install runs pipelines at once.

``scripts/install.sh`` calls it before starting the forge and then starts ``forge-runner run`` with the config it
writes, so a new user's first push gets a pipeline that really runs. The runner uses Docker when the engine answers;
otherwise the shell executor, with a warning, because jobs then run directly on this machine as this user.
Running it again reuses the registered runner as long as its token is still valid.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import docker
from docker.errors import DockerException

from ci import dispatch, tokens
from ci.tokens import Scope
from forge.bootstrap import prepare
from forge.db.engine import session_scope
from forge.settings import Settings
from runners import config as runner_config

LOCAL_NAME = "local"


def docker_answers() -> bool:
    try:
        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (DockerException, OSError):
        return False


def config_path(settings: Settings) -> Path:
    return settings.home / "runner" / "config.toml"


def _still_registered(settings: Settings, path: Path) -> bool:
    if not path.exists():
        return False
    try:
        existing = runner_config.load(path)
    except runner_config.ConfigError:
        return False
    engine = prepare(settings, run_migrations=False)
    with session_scope(engine) as session:
        return tokens.find_runner(session, existing.token) is not None and existing.url == settings.public_url()


def ensure_local_runner(settings: Settings) -> tuple[Path, str, bool]:
    """(config path, executor, newly registered). Registers an instance runner named "local" unless the config
    already holds a runner this forge knows."""
    path = config_path(settings)
    engine = prepare(settings, run_migrations=True)
    if _still_registered(settings, path):
        return path, runner_config.load(path).executor, False
    executor = "docker" if docker_answers() else "shell"
    with session_scope(engine) as session:
        registration, secret = tokens.create_system_registration_token(session, Scope.instance())
        runner, runner_token = dispatch.register_runner(
            session, secret, name=LOCAL_NAME, labels=[LOCAL_NAME, executor], concurrency=2, executor=executor,
        )
        # The token served its one purpose; nobody else may register with it.
        session.delete(registration)
        assert runner.id is not None
        runner_id = runner.id
    work_dir = settings.home / "runner" / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    runner_config.save(path, runner_config.RunnerConfig(
        url=settings.public_url(), id=runner_id, token=runner_token, name=LOCAL_NAME,
        labels=[LOCAL_NAME, executor], concurrency=2, executor=executor, work_dir=str(work_dir),
    ))
    return path, executor, True


@click.command("local-runner")
def local_runner() -> None:
    """Register this machine's own runner (Docker if the engine answers, else the shell executor) and print the
    path of its config file, for `forge-runner run --config PATH`."""
    settings = Settings()
    path, executor, new = ensure_local_runner(settings)
    if executor == "shell":
        click.echo("warning: the Docker Engine does not answer, so the local runner uses the shell executor: jobs "
                   "run directly on this machine, as this user, without a container. Start Docker and remove "
                   f"{path} to switch to containers.", err=True)
    verb = "Registered" if new else "Using"
    click.echo(f"{verb} the local runner ({executor} executor) for {settings.public_url()}.", err=True)
    click.echo(str(path))
    sys.stdout.flush()
