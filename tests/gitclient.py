"""A real git client for tests: isolated configuration, fixed dates, credentials in the URL."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit


@dataclass
class GitResult:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class GitClient:
    def __init__(self, tmp: Path, base_url: str) -> None:
        self.tmp = tmp
        self.base_url = base_url
        self.home = tmp / "git-home"
        self.home.mkdir(exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_COMMITTER_NAME": "Test Author",
            "GIT_COMMITTER_EMAIL": "author@example.com",
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
            "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
            "LANG": "C",
        }
        (self.home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[protocol]\n\tversion = 2\n")

    def url(self, path: str, user: str | None = None, password: str | None = None) -> str:
        parts = urlsplit(self.base_url)
        netloc = parts.netloc
        if user is not None:
            cred = quote(user, safe="")
            if password is not None:
                cred += ":" + quote(password, safe="")
            netloc = f"{cred}@{netloc}"
        return urlunsplit((parts.scheme, netloc, "/" + path.lstrip("/"), "", ""))

    def run(self, *args: str, cwd: Path | None = None, check: bool = False, env: dict[str, str] | None = None,
            timeout: int = 120) -> GitResult:
        result = subprocess.run(
            ["git", *args], cwd=cwd or self.tmp, env={**self.env, **(env or {})}, capture_output=True,
            text=True, timeout=timeout, check=False,
        )
        res = GitResult(result.returncode, result.stdout, result.stderr)
        if check and not res.ok:
            raise AssertionError(f"git {' '.join(args)} failed ({res.code}):\n{res.err}")
        return res

    def init_repo(self, name: str, files: dict[str, str] | None = None, branch: str = "main") -> Path:
        path = self.tmp / name
        self.run("init", "-q", "-b", branch, str(path), check=True)
        for fname, content in (files or {"README.md": f"# {name}\n"}).items():
            target = path / fname
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self.run("add", "-A", cwd=path, check=True)
        self.run("commit", "-q", "-m", "initial commit", cwd=path, check=True)
        return path

    def push_branches(self, name: str, url: str, *branches: str, second_commit: bool = False) -> Path:
        """A new local repository ``name`` with a README commit (and a second one if asked), the given extra
        branches at HEAD, all pushed to ``url``."""
        work = self.init_repo(name, {"README.md": "hello\n"})
        if second_commit:
            self.commit(work, "second.txt", "two\n", "second commit")
        for branch in branches:
            self.run("branch", branch, cwd=work, check=True)
        push = self.run("push", url, "main", *branches, cwd=work)
        assert push.ok, push.err
        return work

    def commit(self, path: Path, fname: str, content: str, message: str = "change") -> str:
        (path / fname).write_text(content)
        self.run("add", "-A", cwd=path, check=True)
        self.run("commit", "-q", "-m", message, cwd=path, check=True)
        return self.run("rev-parse", "HEAD", cwd=path, check=True).out.strip()
