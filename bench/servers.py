"""The servers under test, each a child process on 127.0.0.1 that is always stopped on exit.

- ``forge serve`` (uvicorn with uvloop and httptools, as installed by uvicorn[standard]);
- nginx + fcgiwrap + ``git http-backend`` from Debian, the reference a distribution packager would deploy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # the server answers; a 404 is fine
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up in {timeout:.0f} s") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Forge:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.port = free_port()
        self.env = {**env, "FORGE_HOME": str(home), "FORGE_LOG_LEVEL": "warning", "FORGE_SIGNUP": "closed",
                    "FORGE_HOST": "127.0.0.1", "FORGE_PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        forge = str(ROOT / ".venv" / "bin" / "forge")
        res = subprocess.run([forge, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if res.returncode != 0 and "already" not in (res.stderr + res.stdout):
            raise RuntimeError(f"forge {' '.join(args)} failed: {res.stderr or res.stdout}")
        return res.stdout

    @contextlib.contextmanager
    def running(self) -> Iterator[Forge]:
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.home / "serve.log").open("wb")
        forge = str(ROOT / ".venv" / "bin" / "forge")
        self.proc = subprocess.Popen([forge, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=str(ROOT))
        try:
            wait_http(self.url + "/")
            yield self
        finally:
            _stop(self.proc)
            log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


_NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
user root root;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/client_body;
    fastcgi_temp_path {work}/fastcgi_temp;
    proxy_temp_path {work}/proxy_temp;
    uwsgi_temp_path {work}/uwsgi_temp;
    scgi_temp_path {work}/scgi_temp;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            # The configuration of git-http-backend(1), plus GIT_PROTOCOL so clients get protocol v2 as with the
            # forge (otherwise the comparison would be v2 against v0).
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param GIT_PROJECT_ROOT {root};
            fastcgi_param PATH_INFO $uri;
            fastcgi_param GIT_PROTOCOL $http_git_protocol;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_read_timeout 600s;
            fastcgi_pass unix:{work}/fcgiwrap.sock;
        }}
    }}
}}
"""


class HttpBackend:
    """nginx in front of fcgiwrap running git-http-backend over ``root`` (GIT_PROJECT_ROOT)."""

    def __init__(self, work: Path, root: Path, env: dict[str, str], children: int = 40) -> None:
        self.work = work
        self.root = root
        self.env = env
        # Debian's fcgiwrap service starts one child, which would serialise the 32 parallel clones; give it
        # enough children so the reference is the best http-backend set-up, not a queue.
        self.children = children
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[HttpBackend]:
        for tool in ("nginx", "fcgiwrap"):
            if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
                raise RuntimeError(f"{tool} is not installed: run bench/run-git-http.sh (it apt-get installs it)")
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        sock = self.work / "fcgiwrap.sock"
        conf = self.work / "nginx.conf"
        conf.write_text(_NGINX_CONF.format(work=self.work, port=self.port, backend=HTTP_BACKEND, root=self.root))
        # fcgiwrap passes its own environment to CGI scripts: HOME and GIT_CONFIG_NOSYSTEM as for the forge.
        fcgi = subprocess.Popen(["/usr/sbin/fcgiwrap", "-c", str(self.children), "-s", f"unix:{sock}"],
                                env=self.env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=(self.work / "fcgiwrap.log").open("wb"))
        nginx: subprocess.Popen[bytes] | None = None
        try:
            for _ in range(100):
                if sock.exists():
                    break
                time.sleep(0.05)
            nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", str(conf), "-p", str(self.work)],
                                     start_new_session=True, stderr=(self.work / "nginx.log").open("wb"))
            wait_http(self.url + "/")
            yield self
        finally:
            if nginx is not None:
                _stop(nginx)
            _stop(fcgi)
