"""Commits as the API and webhooks show them.

Field names follow GitHub's commit objects where they can (``sha``, ``html_url``, ``author {name, email, date}``,
``parents``); the author and committer are git identities, not forge accounts, as in git itself.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from forge.git.repository import CommitInfo, Signature


class GitActor(BaseModel):
    """A git identity with the time it signed the commit."""

    name: str
    email: str
    date: datetime


class CommitParent(BaseModel):
    sha: str
    html_url: str


class Commit(BaseModel):
    """One commit without its diff (lists, pushes, compare)."""

    sha: str
    html_url: str
    message: str = Field(description="The whole commit message.")
    author: GitActor
    committer: GitActor
    parents: list[CommitParent]


def git_actor(signature: Signature) -> GitActor:
    return GitActor(name=signature.name, email=signature.email, date=signature.when)


def commit_url(base: str, full_name: str, sha: str) -> str:
    """The commit's page on the forge."""
    return f"{base}/{full_name}/commit/{sha}"


def commit(info: CommitInfo, full_name: str, base: str) -> Commit:
    """``info`` from repository ``full_name`` ("owner/name"); ``base`` is the forge's public URL."""
    return Commit(
        sha=info.sha,
        html_url=commit_url(base, full_name, info.sha),
        message=info.message,
        author=git_actor(info.author),
        committer=git_actor(info.committer),
        parents=[CommitParent(sha=p, html_url=commit_url(base, full_name, p)) for p in info.parents],
    )
