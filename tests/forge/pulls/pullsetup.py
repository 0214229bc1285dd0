"""Pull requests on the live server for the merge, gate and sync tests: histories pushed with real git, pull
requests opened through the service, reviews and statuses written through theirs, histories read back with
``git log --graph`` from a clone of the server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.accounts.models import Account
from forge.issues.models import Issue
from forge.pulls import services as pulls
from forge.pulls.models import PullRequest
from forge.repos import services as repos
from forge.repos.services import RepoRef
from tests.factories import PASSWORD, Factory, unique
from tests.gitclient import GitClient, Work


@dataclass
class Setup:
    owner: Account
    ref: RepoRef
    work: Work
    number: int
    head_ref: RepoRef  # the base itself or a fork


def diverged(git: GitClient, *, conflict: bool = False, name: str | None = None) -> Work:
    """main: "base", then "main moves on"; topic (from base): "topic one" (closes nothing), "topic two"."""
    work = git.new_work(name or unique("w"))
    work.commit({"shared.txt": "one\ntwo\nthree\n", "README.md": "hi\n"}, "base")
    work.git("checkout", "-q", "-b", "topic")
    work.commit({"topic.txt": "t1\n"}, "topic one", author="Tess Topic")
    work.commit({"topic.txt": "t1\nt2\n", **({"shared.txt": "one\nTWO (topic)\nthree\n"} if conflict else {})},
                "topic two", author="Tess Topic")
    work.git("checkout", "-q", "main")
    work.commit({"main.txt": "m\n", **({"shared.txt": "one\nTWO (main)\nthree\n"} if conflict else {})},
                "main moves on")
    return work


def open_pull(factory: Factory, actor: Account, base: RepoRef, head: RepoRef, *, head_branch: str = "topic",
              base_branch: str = "main", title: str = "Topic work", body: str = "", **kwargs: Any) -> int:
    with factory.session() as s:
        base_now = repos.get_repo_by_id(s, base.repo.id)
        head_now = repos.get_repo_by_id(s, head.repo.id)
        assert base_now is not None and head_now is not None
        pull = pulls.open_pull(s, factory.settings, actor, base_now, base_branch=base_branch, head=head_now,
                               head_branch=head_branch, title=title, body=body, **kwargs)
        issue = s.get(Issue, pull.issue_id)
        assert issue is not None
        return issue.number


def setup(git: GitClient, factory: Factory, *, conflict: bool = False, body: str = "", **kwargs: Any) -> Setup:
    """A repository with main and topic pushed, and a pull request topic -> main opened by its owner."""
    owner = factory.user()
    ref = factory.repo(owner)
    work = diverged(git, conflict=conflict)
    git.push_to(work.path, ref, "main", "topic")
    number = open_pull(factory, owner, ref, ref, body=body, **kwargs)
    return Setup(owner, ref, work, number, ref)


def load(session: Any, ref: RepoRef, number: int) -> tuple[RepoRef, Issue, PullRequest]:
    """The repository, issue and pull request again, in ``session``."""
    fresh = repos.get_repo_by_id(session, ref.repo.id)
    assert fresh is not None
    issue, pull = pulls.get_pull(session, fresh, number)
    return fresh, issue, pull


def graph(git: GitClient, ref: RepoRef, branch: str = "main", user: Account | None = None) -> list[str]:
    """``git log --graph --format=%s`` of ``branch``, read from a fresh clone of the server's repository."""
    target = git.tmp / unique("clone")
    pusher = user or ref.owner
    git.run("clone", "-q", git.url(f"{ref.full_name}.git", pusher.name, PASSWORD), str(target), check=True)
    out = git.run("log", "--graph", "--format=%s", f"origin/{branch}", cwd=target, check=True).out
    return [line.rstrip() for line in out.splitlines()]


def remote_sha(git: GitClient, ref: RepoRef, name: str) -> str | None:
    out = git.run("ls-remote", git.url(f"{ref.full_name}.git", ref.owner.name, PASSWORD), name).out.split()
    return out[0] if out else None


def clone_path(git: GitClient, ref: RepoRef) -> Path:
    target = git.tmp / unique("clone")
    git.run("clone", "-q", git.url(f"{ref.full_name}.git", ref.owner.name, PASSWORD), str(target), check=True)
    return target
