"""Commit statuses: the latest state of each context (the forge's own pipeline, or anything an external system
posts through the status API) on each commit, and the one combined state lists show next to a commit.
They belong to the core: branch protection requires contexts to pass, and outside systems post them.

Lists look statuses up for a whole page of commits at once (``combined_for``: one query, whatever the number of
rows), so a commit list or branch list never costs a query per row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import InvalidInput
from forge.i18n import N_
from forge.repos.models import CommitStatus

PIPELINE_CONTEXT = "ci/forge"
STATES = ("pending", "running", "success", "failed", "error", "canceled")
# What the API also accepts, so tools written for GitHub or GitLab post unchanged.
STATE_ALIASES = {"failure": "failed", "cancelled": "canceled"}
MAX_CONTEXT = 255
MAX_DESCRIPTION = 1024
MAX_TARGET_URL = 1024
SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")

# When statuses are combined, the first state (in this order) any of them has wins.
_COMBINE_ORDER = ("failed", "error", "running", "pending", "canceled", "success")


@dataclass(frozen=True)
class Combined:
    """What a list shows for one commit: the combined state and where its icon links to."""

    state: str
    statuses: tuple[CommitStatus, ...]
    pipeline_id: int | None  # the forge pipeline behind the "ci/forge" context, if any

    @property
    def count(self) -> int:
        return len(self.statuses)


def normalize_state(state: str) -> str:
    value = STATE_ALIASES.get(state.strip().lower(), state.strip().lower())
    if value not in STATES:
        raise InvalidInput(N_("“%(state)s” is not a commit status state; use one of: %(states)s."),
                           state=state, states=", ".join(STATES))
    return value


def combine(states: Iterable[str]) -> str:
    """The state a list shows for several contexts: failed if any failed, else running, pending, canceled, and
    success only when every context succeeded ("pending" for none)."""
    present = set(states)
    if not present:
        return "pending"
    return next(s for s in _COMBINE_ORDER if s in present) if present & set(_COMBINE_ORDER) else "pending"


def set_status(
    session: Session,
    repo_id: int,
    sha: str,
    *,
    state: str,
    context: str,
    description: str = "",
    target_url: str = "",
    pipeline_id: int | None = None,
    creator: Account | None = None,
) -> CommitStatus:
    """Create or update the ``context`` status of commit ``sha`` (the caller has checked the values)."""
    row = session.exec(
        select(CommitStatus).where(CommitStatus.repo_id == repo_id, CommitStatus.sha == sha,
                                   CommitStatus.context == context)
    ).first()
    now = utcnow()
    if row is None:
        row = CommitStatus(repo_id=repo_id, sha=sha, context=context, state=state, created_at=now)
    row.state = state
    row.description = description
    row.target_url = target_url
    row.pipeline_id = pipeline_id
    row.creator_id = creator.id if creator is not None else None
    row.updated_at = now
    session.add(row)
    session.flush()
    return row


def list_for(session: Session, repo_id: int, sha: str) -> list[CommitStatus]:
    """Every context's status on one commit, the forge's own first, then by context name."""
    rows = list(session.exec(
        select(CommitStatus).where(CommitStatus.repo_id == repo_id, CommitStatus.sha == sha)
        .order_by(col(CommitStatus.context))
    ))
    rows.sort(key=lambda r: r.context != PIPELINE_CONTEXT)
    return rows


def combined_for(session: Session, repo_id: int, shas: Iterable[str]) -> dict[str, Combined]:
    """sha -> Combined for the commits of one page that have any status, in one query."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    by_sha: dict[str, list[CommitStatus]] = {}
    rows = session.exec(
        select(CommitStatus).where(CommitStatus.repo_id == repo_id, col(CommitStatus.sha).in_(wanted))
        .order_by(col(CommitStatus.context))
    )
    for row in rows:
        by_sha.setdefault(row.sha, []).append(row)
    result = {}
    for sha, statuses in by_sha.items():
        statuses.sort(key=lambda r: r.context != PIPELINE_CONTEXT)
        own = next((s.pipeline_id for s in statuses if s.context == PIPELINE_CONTEXT), None)
        result[sha] = Combined(combine(s.state for s in statuses), tuple(statuses), own)
    return result


def recent_contexts(session: Session, repo_id: int, limit: int = 20) -> list[str]:
    """Status contexts reported on this repository's commits lately, newest first: what the protection form
    offers for "required status checks" (a typo there would block every merge)."""
    rows = session.exec(
        select(CommitStatus.context).where(CommitStatus.repo_id == repo_id)
        .order_by(col(CommitStatus.updated_at).desc()).limit(500)
    )
    return list(dict.fromkeys(rows))[:limit]


def validate_post(state: str, context: str, description: str, target_url: str) -> dict[str, InvalidInput]:
    """Field -> the error of each problem of a posted status (empty when it is fine); the caller translates."""
    errors: dict[str, InvalidInput] = {}
    try:
        normalize_state(state)
    except InvalidInput as exc:
        errors["state"] = exc
    if not context.strip():
        errors["context"] = InvalidInput(N_("The context must not be empty."))
    elif len(context) > MAX_CONTEXT:
        errors["context"] = InvalidInput(N_("The context is longer than %(max)s characters."), max=MAX_CONTEXT)
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = InvalidInput(N_("The description is longer than %(max)s characters."),
                                             max=MAX_DESCRIPTION)
    if target_url and not re.match(r"^https?://\S+$", target_url):
        # It becomes a link on the forge's pages: only web addresses, never javascript: or data: links.
        errors["target_url"] = InvalidInput(N_("The target URL must be an http:// or https:// address."))
    elif len(target_url) > MAX_TARGET_URL:
        errors["target_url"] = InvalidInput(N_("The target URL is longer than %(max)s characters."),
                                            max=MAX_TARGET_URL)
    return errors
