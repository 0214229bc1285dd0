"""Push, create and delete payloads, from push events (forge.repos.models.PushEvent).

As on GitHub, a branch update is a ``push``; a branch or tag that appears is a ``create`` (and, for a branch, a
``push`` too), one that goes is a ``delete`` (and, for a branch, a ``push`` with ``deleted: true``). Tags are
``create``/``delete`` only. Other refs (pull request heads and the like) send nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from forge.accounts.models import Account, EmailAddress
from forge.accounts.users import primary_email
from forge.git.push_commits import PushedCommit, is_ancestor, pushed_commits
from forge.git.repository import ZERO_SHA, GitRepo, Signature
from forge.repos.models import PushEvent
from forge.repos.services import RepoRef, open_git
from forge.webhooks import events, queue
from forge.webhooks.payloads import envelope
from forge.wire.git import commit_url

BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"
MAX_COMMITS = 20  # GitHub lists at most 20 commits in a push payload; total_commits counts them all


class PushPerson(BaseModel):
    """A git identity in a push payload; ``username`` is the forge account with that verified address."""

    name: str
    email: str
    username: str | None = None


class PushCommit(BaseModel):
    id: str
    message: str
    timestamp: str  # ISO 8601 with the author's time
    url: str
    author: PushPerson
    committer: PushPerson
    added: list[str]
    removed: list[str]
    modified: list[str]


def _usernames(session: Session, emails: set[str]) -> dict[str, str]:
    """Verified address (lower case) -> account name, in one query."""
    lowered = {e.lower() for e in emails if e}
    if not lowered:
        return {}
    rows = session.exec(
        select(EmailAddress.lower_email, Account.name)
        .join(Account, col(Account.id) == EmailAddress.account_id)
        .where(col(EmailAddress.lower_email).in_(lowered), col(EmailAddress.is_verified).is_(True))
    )
    return {email: name for email, name in rows}


def _person(sig: Signature, names: dict[str, str]) -> PushPerson:
    return PushPerson(name=sig.name, email=sig.email, username=names.get(sig.email.lower()))


def _push_commits(session: Session, base: str, ref: RepoRef, commits: list[PushedCommit]) -> list[PushCommit]:
    names = _usernames(session, {e for c in commits for e in (c.info.author.email, c.info.committer.email)})
    return [
        PushCommit(
            id=c.info.sha,
            message=c.info.message,
            timestamp=c.info.author.when.isoformat(),
            url=commit_url(base, ref.full_name, c.info.sha),
            author=_person(c.info.author, names),
            committer=_person(c.info.committer, names),
            added=list(c.added), removed=list(c.removed), modified=list(c.modified),
        )
        for c in commits
    ]


def _pusher(session: Session, pusher: Account | None) -> dict[str, str]:
    if pusher is None:
        return {"name": "", "email": ""}
    return {"name": pusher.name, "email": primary_email(session, pusher)}


def push_payload(session: Session, base: str, git: GitRepo, ref: RepoRef, event: PushEvent,
                 pusher: Account | None) -> dict[str, Any]:
    """GitHub's push payload for a branch update (``event.ref`` is ``refs/heads/...``)."""
    created, deleted = event.old_sha == ZERO_SHA, event.new_sha == ZERO_SHA
    default = ref.repo.default_branch
    exclude: tuple[str, ...] = ()
    if created:
        # A new branch lists what the default branch does not have yet (all of it for the first push).
        default_sha = git.ref_target(BRANCH_PREFIX + default)
        if default_sha is not None and event.ref != BRANCH_PREFIX + default:
            exclude = (default_sha,)
    found = pushed_commits(git, event.old_sha, event.new_sha, exclude=exclude, limit=MAX_COMMITS)
    commits = _push_commits(session, base, ref, found.commits)
    forced = not created and not deleted and not is_ancestor(git, event.old_sha, event.new_sha)
    if created:
        compare = f"{base}/{ref.full_name}/compare/{default}...{event.new_sha[:12]}"
    else:
        compare = f"{base}/{ref.full_name}/compare/{event.old_sha[:12]}...{event.new_sha[:12]}"
    return envelope(session, base, ref, pusher, {
        "ref": event.ref, "before": event.old_sha, "after": event.new_sha,
        "created": created, "deleted": deleted, "forced": forced, "base_ref": None, "compare": compare,
        "commits": [c.model_dump(mode="json") for c in commits],
        "head_commit": commits[-1].model_dump(mode="json") if commits and not deleted else None,
        "total_commits": found.total,
        "pusher": _pusher(session, pusher),
    })


def ref_payload(session: Session, base: str, ref: RepoRef, event: PushEvent, pusher: Account | None) -> dict[str, Any]:
    """GitHub's create/delete payload (``ref`` is the short name)."""
    is_tag = event.ref.startswith(TAG_PREFIX)
    short = event.ref.removeprefix(TAG_PREFIX if is_tag else BRANCH_PREFIX)
    sha = event.new_sha if event.new_sha != ZERO_SHA else event.old_sha
    return envelope(session, base, ref, pusher, {
        "ref": short, "ref_type": "tag" if is_tag else "branch", "sha": sha,
        "master_branch": ref.repo.default_branch, "default_branch": ref.repo.default_branch,
        "description": ref.repo.description, "pusher_type": "user",
    })


def handle_push(session: Session, base: str, repos_root: Path, ref: RepoRef, event: PushEvent) -> int:
    """Queue the push/create/delete deliveries of ``event`` to the hooks that want them; returns how many. Nothing
    is read from git unless a hook wants the event."""
    is_branch, is_tag = event.ref.startswith(BRANCH_PREFIX), event.ref.startswith(TAG_PREFIX)
    if not (is_branch or is_tag):
        return 0
    branch = event.ref.removeprefix(BRANCH_PREFIX) if is_branch else None
    lifecycle = events.TAG if event.old_sha == ZERO_SHA else events.TAG_DELETE if event.new_sha == ZERO_SHA else ""
    push_hooks = queue.hooks_for(session, ref.repo, events.PUSH, branch=branch) if is_branch else []
    ref_hooks = queue.hooks_for(session, ref.repo, lifecycle, branch=branch) if lifecycle else []
    if not push_hooks and not ref_hooks:
        return 0
    pusher = session.get(Account, event.pusher_id) if event.pusher_id is not None else None
    queued = 0
    if push_hooks:
        payload = push_payload(session, base, open_git(repos_root, ref), ref, event, pusher)
        queued += len(queue.enqueue(session, push_hooks, events.PUSH, payload))
    if ref_hooks:
        queued += len(queue.enqueue(session, ref_hooks, lifecycle, ref_payload(session, base, ref, event, pusher)))
    return queued
