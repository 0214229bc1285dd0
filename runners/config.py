"""The runner's configuration file: where the forge is, who this runner is, and how it runs jobs.

``forge-runner register`` writes it (TOML, mode 0600 because it holds the runner token); ``forge-runner run``
reads it. The default place is ``$XDG_CONFIG_HOME/forge-runner/config.toml`` (``~/.config/...``); ``--config``
names another. Only the standard library is used: TOML is read with ``tomllib`` and written by hand, since the
file is flat and small.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXECUTORS = ("docker", "shell")


class ConfigError(Exception):
    """The configuration file is missing or wrong; the message is one sentence for the operator."""


@dataclass
class RunnerConfig:
    url: str  # the forge's base URL, e.g. https://forge.example
    id: int
    token: str  # the runner token (frn_...) the forge gave at registration
    name: str
    labels: list[str] = field(default_factory=list)
    concurrency: int = 1
    executor: str = "docker"
    # Where job workspaces are made; "" is the system's temporary directory. With the docker executor it must be a
    # path the Docker Engine sees the same way (the runner and the engine on one host), since it is bind-mounted.
    work_dir: str = ""
    # The image for jobs whose pipeline file names none; "" fails such jobs with a clear message.
    default_image: str = ""

    def validate(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"The forge URL must start with http:// or https://, not {self.url!r}.")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"The executor must be one of {', '.join(EXECUTORS)}, not {self.executor!r}.")
        if not 1 <= self.concurrency <= 256:
            raise ConfigError(f"The concurrency must be between 1 and 256, not {self.concurrency}.")
        if not self.token:
            raise ConfigError("The runner token is empty; register the runner again.")


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "forge-runner" / "config.toml"


_TYPES: dict[str, type] = {
    "url": str, "id": int, "token": str, "name": str, "labels": list, "concurrency": int, "executor": str,
    "work_dir": str, "default_image": str,
}
_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list"}
_REQUIRED = ("url", "id", "token", "name")


def load(path: Path) -> RunnerConfig:
    """Read and check the file at ``path``; ``ConfigError`` says what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; run `forge-runner register` first.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    unknown = sorted(set(data) - set(_TYPES))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {', '.join(unknown)}.")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ConfigError(f"{path} has no {', '.join(missing)}; run `forge-runner register` again.")
    for key, value in data.items():
        wanted = _TYPES[key]
        # bool is an int in Python; a TOML `true` is never a valid id or concurrency.
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: {key} must be {_TYPE_NAMES[wanted]}.")
    labels: list[Any] = data.get("labels", [])
    if not all(isinstance(label, str) for label in labels):
        raise ConfigError(f"{path}: labels must be a list of strings.")
    config = RunnerConfig(**data)
    try:
        config.validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config


def _toml_value(value: object) -> str:
    # JSON's string and integer syntax is valid TOML for the values written here (strings are escaped the same way).
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(item, ensure_ascii=False) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def dumps(config: RunnerConfig) -> str:
    lines = [
        "# forge-runner configuration, written by `forge-runner register`.",
        "# It holds the runner token: keep it readable by the runner's user only (mode 0600).",
    ]
    for key in _TYPES:
        lines.append(f"{key} = {_toml_value(getattr(config, key))}")
    return "\n".join(lines) + "\n"


def save(path: Path, config: RunnerConfig) -> None:
    """Write ``config`` to ``path`` atomically with mode 0600 (the token must not be readable by others at any
    moment, so the temporary file is created with that mode rather than changed afterwards)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(dumps(config))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
