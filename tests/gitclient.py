"""A real git client for tests: isolated configuration, fixed author and dates, credentials in the URL.

``GitClient`` runs git for one test in its temporary directory (with or without the live server); ``Work`` is a
working repository made with it, for tests that build a history commit by commit; ``push_to`` pushes to a
repository on the live server as its owner.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from forge.accounts.models import Account
from forge.repos.services import RepoRef
from tests.factories import PASSWORD

# File name -> content to write (text or bytes), or None to delete the file.
Files = Mapping[str, str | bytes | None]


@dataclass
class GitResult:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class GitClient:
    """git with its own HOME under ``tmp``; ``base_url`` is the live server's, or "" where no test talks to one."""

    def __init__(self, tmp: Path, base_url: str = "") -> None:
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

    def run(self, *args: str, cwd: Path | None = None, check: bool = False, env: Mapping[str, str] | None = None,
            timeout: int = 120, input: str | None = None) -> GitResult:
        result = subprocess.run(
            ["git", *args], cwd=cwd or self.tmp, env={**self.env, **(env or {})}, capture_output=True,
            text=True, timeout=timeout, check=False, input=input,
        )
        res = GitResult(result.returncode, result.stdout, result.stderr)
        if check and not res.ok:
            raise AssertionError(f"git {' '.join(args)} failed ({res.code}):\n{res.err}")
        return res

    def new_work(self, name: str, branch: str = "main", clock: int | None = None) -> Work:
        """A new empty working repository ``name`` on ``branch``; see ``Work`` for ``clock``."""
        path = self.tmp / name
        self.run("init", "-q", "-b", branch, str(path), check=True)
        return Work(self, path, clock)

    def init_repo(self, name: str, files: dict[str, str] | None = None, branch: str = "main") -> Path:
        """A new working repository ``name`` with one commit, "initial commit", of ``files`` (a README if none)."""
        work = self.new_work(name, branch)
        work.commit(files or {"README.md": f"# {name}\n"}, "initial commit")
        return work.path

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

    def push_to(self, work: Path, ref: RepoRef, *refs: str, user: Account | None = None) -> None:
        """Push ``refs`` (main if none) from ``work`` to the server's repository ``ref``, signed in as ``user``
        (the repository's owner if not given); the push must succeed."""
        pusher = user or ref.owner
        url = self.url(f"{ref.full_name}.git", pusher.name, PASSWORD)
        push = self.run("push", url, *(refs or ("main",)), cwd=work)
        assert push.ok, push.err

    def commit(self, path: Path, fname: str, content: str | bytes, message: str = "change") -> str:
        """Write one file in ``path`` and commit everything there; the new commit's id."""
        return Work(self, path).commit({fname: content}, message)


class Work:
    """A working repository driven by a ``GitClient``: write files and commit them in one call, read git's output.

    Commits carry the client's fixed author and date unless ``clock`` (seconds since the epoch) is given: then each
    git command is dated a minute after the previous one, so commits are ordered by time as well as by ancestry.
    """

    def __init__(self, client: GitClient, path: Path, clock: int | None = None) -> None:
        self.client = client
        self.path = path
        self.clock = clock

    def git(self, *args: str, env: Mapping[str, str] | None = None, input: str | None = None) -> str:
        """Run git here, failing the test if it fails; its output without surrounding whitespace."""
        dated: dict[str, str] = {}
        if self.clock is not None:
            self.clock += 60
            dated = {"GIT_AUTHOR_DATE": f"{self.clock} +0000", "GIT_COMMITTER_DATE": f"{self.clock} +0000"}
        return self.client.run(*args, cwd=self.path, check=True, env={**dated, **(env or {})},
                               input=input).out.strip()

    def write(self, files: Files) -> None:
        """Write each file (making its directories), or delete it where the content is None."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def commit(self, files: Files, message: str = "change", *, author: str | None = None, when: str | None = None,
               allow_empty: bool = False) -> str:
        """Write ``files``, stage every change in the working tree and commit it; the new commit's id. ``author``
        replaces the author's name, ``when`` the author and committer dates."""
        self.write(files)
        self.git("add", "-A")
        env = {"GIT_AUTHOR_NAME": author} if author else {}
        if when:
            env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        self.git("commit", "-q", *(["--allow-empty"] if allow_empty else []), "-m", message, env=env)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def add_submodule(self, path: str, sha: str) -> None:
        """Stage a submodule at ``path`` pointing at ``sha`` without fetching it. A submodule is only an index entry,
        so ``add -A`` would stage its removal; the empty directory left in its place (an unpopulated submodule, as
        after a clone) keeps it."""
        self.git("update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
        (self.path / path).mkdir(parents=True, exist_ok=True)
