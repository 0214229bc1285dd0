"""`forge doctor`: checks the installation and says what is wrong in a sentence."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from sqlalchemy import text

from forge.db import migrate
from forge.db.engine import make_engine
from forge.settings import Settings

MIN_GIT = (2, 30)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    fatal: bool = True  # a failed non-fatal check is a warning


def check_git(settings: Settings) -> Check:
    path = shutil.which(settings.git_bin)
    if path is None:
        return Check("git", False, f"The git executable “{settings.git_bin}” was not found; install git "
                     "(apt-get install git) or set FORGE_GIT_BIN.")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)\.(\d+)", out)
    version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if version < MIN_GIT:
        return Check("git", False, f"{out.strip()} is too old: the forge needs git "
                     f"{MIN_GIT[0]}.{MIN_GIT[1]} or newer.")
    return Check("git", True, f"{out.strip()} at {path}.")


def check_data_dir(settings: Settings) -> Check:
    home = settings.home
    try:
        settings.ensure_dirs()
    except OSError as exc:
        return Check("data directory", False, f"Cannot create the data directory {home}: {exc.strerror}.")
    if not os.access(home, os.W_OK):
        return Check("data directory", False, f"The data directory {home} is not writable by this user.")
    free = shutil.disk_usage(home).free
    if free < 512 * 1024 * 1024:
        return Check("data directory", False, f"Only {free // (1024 * 1024)} MiB free under {home}.")
    return Check("data directory", True, f"{home} is writable, {free // (1024**3)} GiB free.")


def check_database(settings: Settings) -> Check:
    url = settings.effective_database_url
    shown = re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:
                current = None
        engine.dispose()
    except Exception as exc:
        return Check("database", False, f"Cannot connect to the database {shown}: {str(exc).splitlines()[0]}")
    heads = migrate.heads(url)
    if current not in heads:
        return Check("database", False, f"The database {shown} is not up to date (at {current or 'nothing'}, "
                     f"code expects {', '.join(heads)}); run `forge migrate`.")
    return Check("database", True, f"{shown} is reachable and up to date.")


def check_docker() -> Check:
    try:
        import docker

        client = docker.from_env(timeout=5)
        version = client.version().get("Version", "?")
        client.close()
    except Exception as exc:
        return Check("docker", False, "The Docker Engine is not reachable (CI jobs will need it): "
                     f"{str(exc).splitlines()[0][:200]}", fatal=False)
    return Check("docker", True, f"Docker Engine {version} is reachable.", fatal=False)


def run_checks(settings: Settings) -> list[Check]:
    return [check_git(settings), check_data_dir(settings), check_database(settings), check_docker()]
