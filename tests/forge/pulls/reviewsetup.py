"""Pull requests for the service and review tests: a repository whose feature branch changes a file of ten numbered
lines, pushed with real git, and the pull request opened through forge.pulls.services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forge.accounts.models import Account
from forge.issues.models import Issue
from forge.pulls import services as pulls
from forge.pulls.models import PullRequest
from forge.repos import services as repos
from forge.repos.services import RepoRef
from tests.factories import Factory, unique
from tests.gitclient import GitClient, Work

TEN = "".join(f"line {n}\n" for n in range(1, 11))
# feature: line 3 and 4 rewritten, a line added after line 8 (so old 9, 10 are new 10, 11), and a new file.
FEATURE = TEN.replace("line 3\nline 4\n", "line three\nline four\n").replace("line 8\n", "line 8\nline 8b\n")


@dataclass
class Pull:
    owner: Account
    ref: RepoRef
    work: Work
    number: int

    def load(self, session: Any) -> tuple[RepoRef, Issue, PullRequest]:
        fresh = repos.get_repo_by_id(session, self.ref.repo.id)
        assert fresh is not None
        issue, pull = pulls.get_pull(session, fresh, self.number)
        return fresh, issue, pull


def feature_work(git: GitClient) -> Work:
    """main: "base" with ten.txt; feature: "feature change" (ten.txt edited, notes.md added)."""
    work = git.new_work(unique("w"))
    work.commit({"ten.txt": TEN, "README.md": "hello\n"}, "base")
    work.git("checkout", "-q", "-b", "feature")
    work.commit({"ten.txt": FEATURE, "notes.md": "notes\n"}, "feature change")
    work.git("checkout", "-q", "main")
    return work


def open_pull(factory: Factory, actor: Account, base: RepoRef, head: RepoRef | None = None, *,
              head_branch: str = "feature", base_branch: str = "main", title: str = "Feature",
              **kwargs: Any) -> int:
    with factory.session() as s:
        base_now = repos.get_repo_by_id(s, base.repo.id)
        head_now = repos.get_repo_by_id(s, (head or base).repo.id)
        assert base_now is not None and head_now is not None
        pull = pulls.open_pull(s, factory.settings, actor, base_now, base_branch=base_branch, head=head_now,
                               head_branch=head_branch, title=title, **kwargs)
        issue = s.get(Issue, pull.issue_id)
        assert issue is not None
        return issue.number


def feature_pull(git: GitClient, factory: Factory, *, private: bool = False, **kwargs: Any) -> Pull:
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    work = feature_work(git)
    git.push_to(work.path, ref, "main", "feature")
    return Pull(owner, ref, work, open_pull(factory, owner, ref, **kwargs))


def collaborator(factory: Factory, ref: RepoRef, permission: str = "write") -> Account:
    user = factory.user()
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        assert fresh is not None
        repos.set_collaborator(s, fresh.owner, fresh, user, permission)
    return user
