"""Shared fixtures: a real forge server on a loopback port, a real database, real git, HTTP clients.

One server runs per test session (SQLite under a temporary FORGE_HOME by default, or the PostgreSQL database
named by FORGE_TEST_DATABASE_URL). Tests keep apart by using unique names from ``tests.factories``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text

from forge.db.engine import make_engine
from forge.settings import Settings
from tests.gitclient import GitClient
from tests.webclient import WebClient


def _reset_database(url: str) -> None:
    """Start PostgreSQL runs from an empty schema so migrations run from the first revision."""
    if not url.startswith("postgresql"):
        return
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


class LiveServer:
    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        from web.app import create_app

        self.settings = settings
        self.app = create_app(settings)
        self.url = settings.public_url()
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", timeout_keep_alive=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.app.state.forge.engine

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_live_server(home: Path, **overrides: object) -> LiveServer:
    """A started server on a free loopback port using the test database (already reset by ``server``).

    Tests that need other settings (tiny API rate limits, say) start a second one with ``overrides``, passing
    ``database_url=server.settings.effective_database_url`` so it shares the first server's database (what the
    ``factory`` created is there too)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    values: dict[str, object] = {
        "home": home,
        "database_url": os.environ.get("FORGE_TEST_DATABASE_URL", ""),
        "host": "127.0.0.1",
        "port": port,
        "base_url": f"http://127.0.0.1:{port}",
        "secret_key": "test-secret-key",
        "default_locale": "en",
        # Webhook tests deliver to receivers on loopback (private ranges stay refused, as by default).
        "webhook_allowed_hosts": "external,loopback",
        # The suite and the schemathesis run make many API calls from one address; the limit is tested apart.
        "api_rate_limit": 0,
        "api_anonymous_rate_limit": 0,
        **overrides,
    }
    live = LiveServer(Settings(**values), sock)  # type: ignore[arg-type]
    live.start()
    return live


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    _reset_database(os.environ.get("FORGE_TEST_DATABASE_URL", ""))
    live = start_live_server(tmp_path_factory.mktemp("forge-home"))
    yield live
    live.stop()


@pytest.fixture
def git(tmp_path: Path, server: LiveServer) -> GitClient:
    return GitClient(tmp_path, server.url)


@pytest.fixture
def web(server: LiveServer) -> Iterator[WebClient]:
    client = WebClient(server.url)
    yield client
    client.close()


@pytest.fixture
def factory(server: LiveServer):  # type: ignore[no-untyped-def]
    from tests.factories import Factory

    return Factory(server.engine, server.settings)
