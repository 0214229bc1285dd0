"""Commits that mention issues: a "referenced this issue" timeline entry for each, and on the default branch
"closes #N" (and the other closing keywords) closes the issue. Run once per push event by forge.push_processing.

The commits are those the push added to the branch: ``old..new``, or for a new branch the commits no other branch
had, at most MAX_COMMITS of them (a huge import would otherwise write thousands of entries in one transaction).
Each (issue, commit) pair gets one ``referenced`` entry however many branches the commit later reaches.
"""

from __future__ import annotations

import contextlib
import logging

import pygit2
from sqlmodel import Session, select

from forge.accounts.models import Account
from forge.issues import references, services
from forge.issues.models import IssueEvent
from forge.issues.textrefs import find_refs
from forge.permissions import Access
from forge.repos.models import PushEvent
from forge.repos.services import RepoRef, get_repo_by_id, path_of
from forge.settings import Settings

log = logging.getLogger("forge.issues")

MAX_COMMITS = 200
ZERO = "0" * 40


def new_commits(repo: pygit2.Repository, ref: str, old: str, new: str, limit: int = MAX_COMMITS) -> list[pygit2.Commit]:
    """The commits ``new`` brings to ``ref`` that ``old`` (or, for a new branch, every other branch) lacked, oldest
    first."""
    walker = repo.walk(pygit2.Oid(hex=new), pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    if old.strip("0"):
        # The old commit may be gone (a forced push after gc): then every commit counts as new.
        with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
            walker.hide(pygit2.Oid(hex=old))
    else:
        for name in repo.references:
            if name.startswith("refs/heads/") and name != ref:
                try:
                    walker.hide(repo.references[name].resolve().target)
                except (KeyError, ValueError, pygit2.GitError):
                    continue
    commits = []
    for commit in walker:
        commits.append(commit)
        if len(commits) >= limit:
            break
    return commits


def handle_push(session: Session, settings: Settings, event: PushEvent) -> None:
    """Apply the references in the commits ``event`` added to its branch."""
    if not event.ref.startswith("refs/heads/") or not event.new_sha.strip("0"):
        return
    ref = get_repo_by_id(session, event.repo_id)
    if ref is None:
        return
    try:
        repo = pygit2.Repository(str(path_of(settings.repos_dir, ref)))
        commits = new_commits(repo, event.ref, event.old_sha, event.new_sha)
    except (KeyError, ValueError, pygit2.GitError):
        log.warning("push event %s: cannot read its commits", event.id, exc_info=True)
        return
    pusher = session.get(Account, event.pusher_id) if event.pusher_id else None
    branch = event.ref.removeprefix("refs/heads/")
    on_default = branch == ref.repo.default_branch
    for commit in commits:
        message = commit.message or ""
        sha = str(commit.id)
        _reference(session, pusher, ref, branch, sha, message)
        if on_default:
            references.close_from_text(session, pusher, ref, message, commit_sha=sha)


def _reference(session: Session, pusher: Account | None, ref: RepoRef, branch: str, sha: str, message: str) -> None:
    for target in find_refs(message)[: references.MAX_REFS]:
        found = references.resolve(session, pusher, ref, target, Access.READ)
        if found is None:
            continue
        _, issue = found
        existing = session.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id,
                                                         IssueEvent.kind == "referenced")).all()
        if any(e.data.get("sha") == sha for e in existing):
            continue
        services.add_event(session, issue, pusher.id if pusher else None, "referenced", {
            "sha": sha, "repo": ref.full_name, "repo_id": ref.repo.id, "branch": branch,
            "summary": message.split("\n", 1)[0][:200],
        })
