"""Milestones: a title, a description, an optional due date, open or closed, and the issues and pull requests
that belong to them (their open/closed counts make the progress bar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, func, select

from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import Conflict, InvalidInput, NotFound
from forge.i18n import N_
from forge.issues.models import CLOSED, OPEN, Issue, Milestone
from forge.permissions import Access, require_repo_access
from forge.repos.services import RepoRef

MAX_TITLE = 128
MAX_DESCRIPTION = 65_536


@dataclass(frozen=True)
class MilestoneRow:
    milestone: Milestone
    open: int
    closed: int

    @property
    def total(self) -> int:
        return self.open + self.closed

    @property
    def percent(self) -> int:
        return round(100 * self.closed / self.total) if self.total else 0

    @property
    def overdue(self) -> bool:
        m = self.milestone
        return m.state == OPEN and m.due_on is not None and m.due_on < utcnow().date()


def _clean(title: str, description: str) -> tuple[str, str]:
    title = " ".join(title.split())
    if not title:
        raise InvalidInput(N_("The milestone needs a title."))
    if len(title) > MAX_TITLE:
        raise InvalidInput(N_("A milestone title may be at most %(max)s characters long."), max=MAX_TITLE)
    description = description.replace("\r\n", "\n").strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(N_("The description may be at most %(max)s characters long."), max=MAX_DESCRIPTION)
    return title, description


def _check_free(session: Session, ref: RepoRef, title: str, milestone_id: int | None = None) -> None:
    stmt = select(Milestone).where(Milestone.repo_id == ref.repo.id, Milestone.lower_title == title.lower())
    if milestone_id is not None:
        stmt = stmt.where(Milestone.id != milestone_id)
    if session.exec(stmt).first() is not None:
        raise Conflict(N_("There is already a milestone called “%(title)s”."), title=title)


def counts(session: Session, milestone_ids: list[int]) -> dict[int, tuple[int, int]]:
    """milestone id -> (open, closed) issues and pull requests."""
    result = {i: (0, 0) for i in milestone_ids}
    if not milestone_ids:
        return result
    stmt = (select(Issue.milestone_id, Issue.state, func.count()).where(col(Issue.milestone_id).in_(milestone_ids))
            .group_by(col(Issue.milestone_id), col(Issue.state)))
    for milestone_id, state, n in session.exec(stmt):
        assert milestone_id is not None
        o, c = result[milestone_id]
        result[milestone_id] = (o + int(n), c) if state == OPEN else (o, c + int(n))
    return result


def list_milestones(session: Session, ref: RepoRef, state: str = OPEN) -> list[MilestoneRow]:
    stmt = select(Milestone).where(Milestone.repo_id == ref.repo.id)
    if state in (OPEN, CLOSED):
        stmt = stmt.where(Milestone.state == state)
    stmt = stmt.order_by(col(Milestone.due_on).is_(None), col(Milestone.due_on), col(Milestone.lower_title))
    rows = list(session.exec(stmt))
    by_id = counts(session, [m.id for m in rows if m.id is not None])
    return [MilestoneRow(m, *by_id[m.id or 0]) for m in rows]


def count_by_state(session: Session, ref: RepoRef) -> dict[str, int]:
    stmt = (select(Milestone.state, func.count()).where(Milestone.repo_id == ref.repo.id)
            .group_by(col(Milestone.state)))
    result = {OPEN: 0, CLOSED: 0}
    for state, n in session.exec(stmt):
        result[state] = int(n)
    return result


def get_milestone(session: Session, ref: RepoRef, milestone_id: int) -> Milestone:
    milestone = session.get(Milestone, milestone_id)
    if milestone is None or milestone.repo_id != ref.repo.id:
        raise NotFound(N_("That milestone does not exist."))
    return milestone


def row_for(session: Session, milestone: Milestone) -> MilestoneRow:
    assert milestone.id is not None
    return MilestoneRow(milestone, *counts(session, [milestone.id])[milestone.id])


def create_milestone(session: Session, actor: Account | None, ref: RepoRef, *, title: str, description: str = "",
                     due_on: date | None = None) -> Milestone:
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    title, description = _clean(title, description)
    _check_free(session, ref, title)
    assert ref.repo.id is not None
    milestone = Milestone(repo_id=ref.repo.id, title=title, lower_title=title.lower(), description=description,
                          due_on=due_on)
    session.add(milestone)
    session.flush()
    return milestone


def update_milestone(session: Session, actor: Account | None, ref: RepoRef, milestone: Milestone, *, title: str,
                     description: str = "", due_on: date | None = None) -> None:
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    title, description = _clean(title, description)
    _check_free(session, ref, title, milestone.id)
    milestone.title, milestone.lower_title = title, title.lower()
    milestone.description, milestone.due_on = description, due_on
    milestone.updated_at = utcnow()
    session.add(milestone)
    session.flush()


def set_state(session: Session, actor: Account | None, ref: RepoRef, milestone: Milestone, state: str) -> None:
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    if state not in (OPEN, CLOSED):
        raise InvalidInput(N_("Unknown milestone state."))
    milestone.state = state
    milestone.closed_at = utcnow() if state == CLOSED else None
    milestone.updated_at = utcnow()
    session.add(milestone)


def delete_milestone(session: Session, actor: Account | None, ref: RepoRef, milestone: Milestone) -> None:
    """Delete a milestone; its issues keep everything else (and their timelines its title)."""
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    for issue in session.exec(select(Issue).where(Issue.milestone_id == milestone.id)):
        issue.milestone_id = None
        session.add(issue)
    session.delete(milestone)
    session.flush()
