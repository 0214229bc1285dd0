"""Repositories as the API and webhooks show them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from forge.issues.models import OPEN, Issue
from forge.permissions import Access
from forge.repos.models import Repository
from forge.repos.services import RepoRef, fork_source
from forge.wire.users import UserBrief, user_brief


class Permissions(BaseModel):
    """What the caller may do (absent when the caller is anonymous or the object is a webhook payload)."""

    admin: bool
    push: bool
    pull: bool


class RepositoryBrief(BaseModel):
    id: int
    name: str
    full_name: str
    owner: UserBrief
    private: bool
    html_url: str


class RepositoryOut(RepositoryBrief):
    description: str
    website: str
    fork: bool
    parent: RepositoryBrief | None = Field(description="The repository this one is a fork of, if visible.")
    clone_url: str
    default_branch: str
    topics: list[str]
    forks_count: int
    open_issues_count: int
    open_pull_requests_count: int
    created_at: datetime
    updated_at: datetime
    pushed_at: datetime | None
    permissions: Permissions | None = None


def repository_brief(ref: RepoRef, base: str) -> RepositoryBrief:
    return RepositoryBrief(
        id=ref.repo.id or 0,
        name=ref.repo.name,
        full_name=ref.full_name,
        owner=user_brief(ref.owner, base),
        private=ref.repo.is_private,
        html_url=f"{base}/{ref.full_name}",
    )


def _open_counts(session: Session, repo_id: int) -> tuple[int, int]:
    rows = session.exec(
        select(Issue.is_pull, func.count())
        .where(Issue.repo_id == repo_id, Issue.state == OPEN)
        .group_by(col(Issue.is_pull))
    ).all()
    counts = {bool(is_pull): int(n) for is_pull, n in rows}
    return counts.get(False, 0), counts.get(True, 0)


def repository(session: Session, ref: RepoRef, base: str, *, access: Access | None = None,
               show_parent: bool = True) -> RepositoryOut:
    """The full representation. ``access`` (the caller's level) fills ``permissions``; ``show_parent`` is False
    when the caller may not see the fork's source (a private source is not revealed)."""
    repo = ref.repo
    assert repo.id is not None
    parent = fork_source(session, ref) if repo.fork_of_id is not None and show_parent else None
    forks = session.exec(select(func.count()).select_from(Repository).where(Repository.fork_of_id == repo.id)).one()
    open_issues, open_pulls = _open_counts(session, repo.id)
    return RepositoryOut(
        **repository_brief(ref, base).model_dump(),
        description=repo.description,
        website=repo.website,
        fork=repo.fork_of_id is not None,
        parent=repository_brief(parent, base) if parent is not None and not parent.repo.is_private else None,
        clone_url=f"{base}/{ref.full_name}.git",
        default_branch=repo.default_branch,
        topics=repo.topic_list,
        forks_count=int(forks),
        open_issues_count=open_issues,
        open_pull_requests_count=open_pulls,
        created_at=repo.created_at,
        updated_at=repo.updated_at,
        pushed_at=repo.pushed_at,
        permissions=Permissions(admin=access >= Access.ADMIN, push=access >= Access.WRITE,
                                pull=access >= Access.READ) if access is not None else None,
    )
