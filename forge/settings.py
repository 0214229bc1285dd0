"""One Settings object for the whole process.

Values come, highest priority first, from ``FORGE_*`` environment variables, then from an optional TOML file
named by ``FORGE_CONFIG`` (default ``$FORGE_HOME/forge.toml``), then from the defaults below. Nothing else in the
code base reads ``os.environ`` for configuration: the object is built once and passed down.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SignupMode = Literal["open", "approval", "closed"]


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional TOML config file; its keys are the setting names without the FORGE_ prefix."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None and path.is_file():
            with path.open("rb") as fh:
                self._data = {k.lower(): v for k, v in tomllib.load(fh).items()}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


def _default_home() -> Path:
    return Path(os.environ.get("FORGE_HOME") or Path.cwd() / "forge-data")


class Settings(BaseSettings):
    """Every setting the forge reads. Each field is documented in docs/admin-guide.md (a test checks that)."""

    model_config = SettingsConfigDict(env_prefix="FORGE_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Data directory: database, repositories, files.")
    config: Path | None = Field(default=None, description="Optional TOML config file (default $FORGE_HOME/forge.toml).")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite at $FORGE_HOME/forge.db.")
    host: str = Field(default="127.0.0.1", description="Address `forge serve` listens on.")
    port: int = Field(default=3000, description="Port `forge serve` listens on.")
    base_url: str = Field(default="", description="Public URL of the forge, used in clone URLs and links.")
    secret_key: str = Field(default="", description="Signs cookies; generated into $FORGE_HOME/secret_key if empty.")
    default_locale: str = Field(default="zh_CN", description="Locale when neither the user nor the browser picks one.")
    signup: SignupMode = Field(default="open", description="Initial sign-up mode: open, approval or closed.")
    git_bin: str = Field(default="git", description="The git executable used to serve packs.")
    max_avatar_bytes: int = Field(default=2 * 1024 * 1024, description="Largest avatar upload accepted.")
    session_days: int = Field(default=30, description="How long a web sign-in lasts without activity.")
    secure_cookies: bool = Field(default=False, description="Mark cookies Secure (set when served over HTTPS).")
    log_level: str = Field(default="info", description="Log level of `forge serve`.")
    workers: int = Field(default=1, description="Number of uvicorn worker processes for `forge serve`.")
    migrate_on_start: bool = Field(
        default=True, description="Apply database migrations when the app starts (`forge serve` does it once itself)."
    )
    # At least 30: a quiet job's only contact is the runner's heartbeat (every 10 s), and the forge stores contact
    # times at most every 5 s, so a smaller value could fail jobs whose runner is alive.
    ci_runner_lost_after: int = Field(
        default=60, ge=30, description="Seconds without a call from a runner about a running job before it fails."
    )
    ci_artifact_max_mb: int = Field(default=100, ge=1, description="Largest artifact archive or report, in MiB.")
    ci_cache_max_mb: int = Field(default=500, ge=1, description="Largest CI cache archive, in MiB.")
    ci_artifacts_expire_days: int = Field(
        default=30, ge=0, description="Days job artifacts are kept when the job gives no expire_in; 0 keeps them."
    )
    attachment_max_mb: int = Field(
        default=10, ge=1, description="Largest file attached to an issue or comment, in MiB."
    )
    # Outgoing mail (notifications). With no host, notifications stay in the forge and no mail is queued.
    smtp_host: str = Field(default="", description="SMTP server for outgoing mail; empty sends no mail.")
    smtp_port: int = Field(default=587, description="SMTP server port (587 with STARTTLS, 465 with TLS, 25 plain).")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="How the SMTP connection is secured: starttls, tls or none."
    )
    smtp_user: str = Field(default="", description="SMTP user name; empty signs in as no one.")
    smtp_password: str = Field(default="", description="SMTP password.")
    mail_from: str = Field(default="", description="From address of the forge's mail, e.g. Forge <forge@example.com>.")
    # The REST API (/api/v1). Limits are per hour, per token or signed-in user, else per client address; each
    # worker process counts on its own (see the administrator's guide, "REST API").
    api_rate_limit: int = Field(
        default=5000, ge=0, description="API requests per hour for each access token or signed-in user; 0: no limit."
    )
    api_anonymous_rate_limit: int = Field(
        default=600, ge=0, description="API requests per hour for each client address without credentials; 0: no limit."
    )
    # Webhooks. Receivers on loopback or private networks are refused unless listed here (server-side request
    # forgery: a hook must not become a way to reach the forge's own network).
    webhook_allowed_hosts: str = Field(
        default="external",
        description="Where webhooks may deliver, comma-separated: external, loopback, private, *, a host name or a "
        "CIDR such as 10.1.0.0/16.",
    )
    webhook_timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds to wait for a webhook receiver.")
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=20, description="Attempts per webhook delivery before it is marked failed."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = os.environ.get("FORGE_CONFIG")
        path = Path(config) if config else _default_home() / "forge.toml"
        return (init_settings, env_settings, _TomlFileSource(settings_cls, path))

    # --- derived locations -------------------------------------------------------------------------------
    @property
    def repos_dir(self) -> Path:
        return self.home / "repos"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def avatars_dir(self) -> Path:
        return self.data_dir / "avatars"

    @property
    def hooks_dir(self) -> Path:
        return self.home / "hooks"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'forge.db'}"

    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    def ensure_dirs(self) -> None:
        for path in (self.home, self.repos_dir, self.data_dir, self.avatars_dir, self.hooks_dir):
            path.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The cookie-signing key: the configured one, else one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret_key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip()
