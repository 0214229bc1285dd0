"""Settings come from FORGE_* variables, then the optional TOML file, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from forge.settings import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("FORGE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FORGE_HOME", str(tmp_path))
    s = Settings()
    assert s.home == tmp_path and s.port == 3000 and s.host == "127.0.0.1" and s.signup == "open"
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'forge.db'}"
    assert s.public_url() == "http://127.0.0.1:3000"


def test_toml_file_in_home_and_env_override(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "forge.toml").write_text('port = 4000\nbase_url = "https://git.example.edu"\nsignup = "approval"\n')
    clean_env.setenv("FORGE_HOME", str(tmp_path))
    s = Settings()
    assert s.port == 4000 and s.signup == "approval" and s.public_url() == "https://git.example.edu"
    clean_env.setenv("FORGE_PORT", "5000")
    assert Settings().port == 5000


def test_explicit_config_path(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('default_locale = "en"\n')
    clean_env.setenv("FORGE_HOME", str(tmp_path / "home"))
    clean_env.setenv("FORGE_CONFIG", str(cfg))
    assert Settings().default_locale == "en"


def test_bad_value_is_a_clear_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FORGE_HOME", str(tmp_path))
    clean_env.setenv("FORGE_SIGNUP", "sometimes")
    with pytest.raises(ValueError, match="signup"):
        Settings()


def test_secret_key_generated_once(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FORGE_HOME", str(tmp_path))
    first = Settings().resolved_secret_key()
    assert first == Settings().resolved_secret_key() and len(first) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_runner_lost_after_cannot_be_set_below_what_live_runners_need() -> None:
    # Live runners call every 10 s and contact is recorded at most every 5 s: a smaller limit would fail healthy jobs.
    with pytest.raises(ValidationError):
        Settings(ci_runner_lost_after=20)
    assert Settings(ci_runner_lost_after=30).ci_runner_lost_after == 30
