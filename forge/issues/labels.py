"""Labels of a repository (WRITE access manages them) and of an organisation (its owners manage them; usable in
all the organisation's repositories)."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from forge.accounts import orgs
from forge.accounts.models import Account
from forge.errors import Conflict, InvalidInput, NotFound
from forge.i18n import N_
from forge.issues.models import IssueLabel, Label
from forge.permissions import Access, require_repo_access
from forge.repos.services import RepoRef

# GitHub's default labels and colours.
DEFAULT_LABELS = (
    ("bug", "#d73a4a", N_("Something isn't working")),
    ("documentation", "#0075ca", N_("Improvements or additions to documentation")),
    ("duplicate", "#cfd3d7", N_("This issue or pull request already exists")),
    ("enhancement", "#a2eeef", N_("New feature or request")),
    ("good first issue", "#7057ff", N_("Good for newcomers")),
    ("help wanted", "#008672", N_("Extra attention is needed")),
    ("question", "#d876e3", N_("Further information is requested")),
    ("wontfix", "#ffffff", N_("This will not be worked on")),
)
_COLOR_RE = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
MAX_NAME = 64
MAX_DESCRIPTION = 255


def normalize_color(color: str) -> str:
    match = _COLOR_RE.match(color.strip())
    if not match:
        raise InvalidInput(N_("A colour is written #rrggbb, for example #d73a4a."))
    value = match.group(1).lower()
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    return "#" + value


def _clean(name: str, description: str) -> tuple[str, str]:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput(N_("The label needs a name."))
    if len(name) > MAX_NAME:
        raise InvalidInput(N_("A label name may be at most %(max)s characters long."), max=MAX_NAME)
    if "," in name:
        raise InvalidInput(N_("A label name cannot contain a comma."))
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(N_("The description may be at most %(max)s characters long."), max=MAX_DESCRIPTION)
    return name, description


def repo_scope(ref: RepoRef) -> str:
    return f"repo:{ref.repo.id}"


def org_scope(org: Account) -> str:
    return f"org:{org.id}"


def list_scope(session: Session, scope: str) -> list[Label]:
    return list(session.exec(select(Label).where(Label.scope == scope).order_by(col(Label.lower_name))))


def open_issue_counts(session: Session, label_ids: list[int], repo_id: int | None = None) -> dict[int, int]:
    """How many open issues carry each label (in one repository when given)."""
    from forge.issues.models import OPEN, Issue

    if not label_ids:
        return {}
    stmt = (select(IssueLabel.label_id, func.count()).join(Issue, col(Issue.id) == IssueLabel.issue_id)
            .where(col(IssueLabel.label_id).in_(label_ids), Issue.state == OPEN, Issue.is_pull == False)  # noqa: E712
            .group_by(col(IssueLabel.label_id)))
    if repo_id is not None:
        stmt = stmt.where(Issue.repo_id == repo_id)
    return {label_id: int(n) for label_id, n in session.exec(stmt)}


def _check_manager(session: Session, actor: Account | None, *, ref: RepoRef | None, org: Account | None) -> None:
    if ref is not None:
        require_repo_access(session, actor, ref.repo, Access.WRITE)
    else:
        assert org is not None
        orgs.require_owner(session, org, actor)


def _insert(session: Session, label: Label) -> Label:
    try:
        with session.begin_nested():
            session.add(label)
    except IntegrityError as exc:
        raise Conflict(N_("There is already a label called “%(name)s”."), name=label.name) from exc
    return label


def create_label(session: Session, actor: Account | None, *, ref: RepoRef | None = None, org: Account | None = None,
                 name: str, color: str, description: str = "") -> Label:
    _check_manager(session, actor, ref=ref, org=org)
    name, description = _clean(name, description)
    color = normalize_color(color)
    scope = repo_scope(ref) if ref is not None else org_scope(org)  # type: ignore[arg-type]
    if session.exec(select(Label).where(Label.scope == scope, Label.lower_name == name.lower())).first():
        raise Conflict(N_("There is already a label called “%(name)s”."), name=name)
    return _insert(session, Label(
        repo_id=ref.repo.id if ref else None, org_id=org.id if org else None, scope=scope, name=name,
        lower_name=name.lower(), color=color, description=description,
    ))


def get_label(session: Session, label_id: int, *, ref: RepoRef | None = None, org: Account | None = None) -> Label:
    label = session.get(Label, label_id)
    scope = repo_scope(ref) if ref is not None else org_scope(org)  # type: ignore[arg-type]
    if label is None or label.scope != scope:
        raise NotFound(N_("That label does not exist."))
    return label


def update_label(session: Session, actor: Account | None, label: Label, *, ref: RepoRef | None = None,
                 org: Account | None = None, name: str, color: str, description: str = "") -> Label:
    _check_manager(session, actor, ref=ref, org=org)
    name, description = _clean(name, description)
    color = normalize_color(color)
    clash = session.exec(select(Label).where(Label.scope == label.scope, Label.lower_name == name.lower(),
                                             Label.id != label.id)).first()
    if clash is not None:
        raise Conflict(N_("There is already a label called “%(name)s”."), name=name)
    label.name, label.lower_name, label.color, label.description = name, name.lower(), color, description
    session.add(label)
    session.flush()
    return label


def delete_label(session: Session, actor: Account | None, label: Label, *, ref: RepoRef | None = None,
                 org: Account | None = None) -> None:
    """Delete a label; it leaves every issue (their timelines keep the name and colour)."""
    _check_manager(session, actor, ref=ref, org=org)
    for row in session.exec(select(IssueLabel).where(IssueLabel.label_id == label.id)):
        session.delete(row)
    session.delete(label)
    session.flush()


def create_default_labels(session: Session, actor: Account | None, ref: RepoRef) -> int:
    """Add GitHub's default labels the repository lacks; how many were added."""
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    have = {label.lower_name for label in list_scope(session, repo_scope(ref))}
    added = 0
    for name, color, description in DEFAULT_LABELS:
        if name not in have:
            session.add(Label(repo_id=ref.repo.id, scope=repo_scope(ref), name=name, lower_name=name,
                              color=color, description=description))
            added += 1
    session.flush()
    return added
