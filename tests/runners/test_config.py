"""The runner's configuration file: written 0600, read back the same, and every mistake named in one sentence."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from runners.config import ConfigError, RunnerConfig, default_config_path, load, save


def sample() -> RunnerConfig:
    return RunnerConfig(url="https://forge.example", id=7, token='frn_a"b\\c', name="build-01 ü",
                        labels=["docker", "linux"], concurrency=3, executor="shell", work_dir="/var/tmp/runs")


def test_saved_config_reads_back_and_only_its_owner_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "config.toml"
    save(path, sample())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(path) == sample()
    # Saving again replaces it (also when the old file had looser permissions).
    path.chmod(0o644)
    changed = sample()
    changed.concurrency = 1
    save(path, changed)
    assert load(path).concurrency == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_default_path_follows_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "forge-runner" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_config_path() == Path.home() / ".config" / "forge-runner" / "config.toml"


@pytest.mark.parametrize(("text", "message"), [
    (None, "does not exist; run `forge-runner register` first"),
    ("url = ", "is not valid TOML"),
    ('url = "https://f"\nid = 1\ntoken = "t"\n', "has no name"),
    ('url = "https://f"\nid = "1"\ntoken = "t"\nname = "n"\n', "id must be an integer"),
    ('url = "https://f"\nid = true\ntoken = "t"\nname = "n"\n', "id must be an integer"),
    ('url = "https://f"\nid = 1\ntoken = "t"\nname = "n"\ncolour = "red"\n', "unknown setting colour"),
    ('url = "ftp://f"\nid = 1\ntoken = "t"\nname = "n"\n', "must start with http:// or https://"),
    ('url = "https://f"\nid = 1\ntoken = "t"\nname = "n"\nexecutor = "k8s"\n', "executor must be one of docker, shell"),
    ('url = "https://f"\nid = 1\ntoken = "t"\nname = "n"\nconcurrency = 0\n', "between 1 and 256"),
    ('url = "https://f"\nid = 1\ntoken = "t"\nname = "n"\nlabels = [1]\n', "labels must be a list of strings"),
])
def test_a_wrong_file_is_named_with_the_problem(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "config.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        load(path)
    assert str(path) in str(info.value)
