"""An issue's metadata (labels, assignees, milestone): what a repository offers, what issues carry, and whether a
choice belongs to the repository.

Read-only on purpose: opening an issue (forge.issues.services), changing its metadata (forge.issues.triage), the
issue list (forge.issues.search) and the pages all need the same answers, and none of them should have to import
the others to get them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlmodel import Session, col, select

from forge.accounts.models import Account, AccountKind
from forge.errors import InvalidInput
from forge.i18n import N_
from forge.issues.models import OPEN, IssueAssignee, IssueLabel, Label, Milestone
from forge.permissions import Access, repo_access
from forge.repos.services import RepoRef


def available_labels(session: Session, ref: RepoRef) -> list[Label]:
    """The repository's labels and, for an organisation's repository, the organisation's; by name."""
    scopes = [f"repo:{ref.repo.id}"]
    if ref.owner.kind == AccountKind.ORG:
        scopes.append(f"org:{ref.owner.id}")
    stmt = select(Label).where(col(Label.scope).in_(scopes)).order_by(col(Label.lower_name), col(Label.id))
    return list(session.exec(stmt))


def label_ids_named(session: Session, ref: RepoRef, names: Sequence[str]) -> list[int]:
    """Ids of the repository's (and its organisation's) labels called ``names`` (any case, spaces folded)."""
    by_name = {label.lower_name: label.id for label in available_labels(session, ref)}
    ids = []
    for name in names:
        label_id = by_name.get(" ".join(name.split()).lower())
        if label_id is None:
            raise InvalidInput(N_("A chosen label does not exist in this repository."))
        ids.append(label_id)
    return ids


def labels_of(session: Session, issue_ids: Sequence[int]) -> dict[int, list[Label]]:
    result: dict[int, list[Label]] = {i: [] for i in issue_ids}
    if not issue_ids:
        return result
    stmt = (select(IssueLabel.issue_id, Label).join(Label, col(Label.id) == IssueLabel.label_id)
            .where(col(IssueLabel.issue_id).in_(issue_ids)).order_by(col(Label.lower_name)))
    for issue_id, label in session.exec(stmt):
        result[issue_id].append(label)
    return result


def assignees_of(session: Session, issue_ids: Sequence[int]) -> dict[int, list[Account]]:
    result: dict[int, list[Account]] = {i: [] for i in issue_ids}
    if not issue_ids:
        return result
    stmt = (select(IssueAssignee.issue_id, Account).join(Account, col(Account.id) == IssueAssignee.user_id)
            .where(col(IssueAssignee.issue_id).in_(issue_ids)).order_by(col(Account.lower_name)))
    for issue_id, user in session.exec(stmt):
        result[issue_id].append(user)
    return result


def assignable_users(session: Session, ref: RepoRef) -> list[Account]:
    """Users with WRITE access: the owner (or the organisation's owners and write teams), collaborators."""
    from forge.accounts.models import OrgMember, Team, TeamMember
    from forge.repos.models import Collaborator

    ids: set[int] = set()
    if ref.owner.kind == AccountKind.USER:
        assert ref.owner.id is not None
        ids.add(ref.owner.id)
    else:
        ids |= set(session.exec(select(OrgMember.user_id).where(OrgMember.org_id == ref.owner.id)))
        for team in session.exec(select(Team).where(Team.org_id == ref.owner.id)):
            ids |= set(session.exec(select(TeamMember.user_id).where(TeamMember.team_id == team.id)))
    ids |= set(session.exec(select(Collaborator.user_id).where(Collaborator.repo_id == ref.repo.id)))
    if not ids:
        return []
    users = session.exec(select(Account).where(col(Account.id).in_(ids), Account.kind == AccountKind.USER)
                         .order_by(col(Account.lower_name))).all()
    return [u for u in users if repo_access(session, u, ref.repo) >= Access.WRITE]


def milestones_of_repo(session: Session, ref: RepoRef, state: str | None = OPEN) -> list[Milestone]:
    stmt = select(Milestone).where(Milestone.repo_id == ref.repo.id)
    if state:
        stmt = stmt.where(Milestone.state == state)
    return list(session.exec(stmt.order_by(col(Milestone.due_on).is_(None), col(Milestone.due_on),
                                           col(Milestone.lower_title))))


# --- checking what was chosen ------------------------------------------------------------------------------


def chosen_labels(session: Session, ref: RepoRef, label_ids: Iterable[int]) -> list[Label]:
    wanted = {int(i) for i in label_ids}
    found = [label for label in available_labels(session, ref) if label.id in wanted]
    if len(found) != len(wanted):
        raise InvalidInput(N_("A chosen label does not exist in this repository."))
    return found


def chosen_assignees(session: Session, ref: RepoRef, user_ids: Iterable[int]) -> list[Account]:
    wanted = {int(i) for i in user_ids}
    found = []
    for user_id in sorted(wanted):
        user = session.get(Account, user_id)
        if user is None or user.kind != AccountKind.USER or repo_access(session, user, ref.repo) < Access.WRITE:
            raise InvalidInput(N_("Only people with write access to the repository can be assigned."))
        found.append(user)
    return found


def chosen_milestone(session: Session, ref: RepoRef, milestone_id: int | None) -> Milestone | None:
    if milestone_id is None:
        return None
    milestone = session.get(Milestone, milestone_id)
    if milestone is None or milestone.repo_id != ref.repo.id:
        raise InvalidInput(N_("That milestone does not exist in this repository."))
    return milestone
