"""Each repository's merge settings: which merge methods its pull requests may use, the one the merge button
offers first, and whether head branches are deleted after a merge. A repository without a row allows every method.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from forge.accounts.models import Account
from forge.errors import InvalidInput
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.pulls.models import FAST_FORWARD, MERGE, MERGE_STYLES, REBASE, SQUASH, MergeSettings
from forge.repos.services import RepoRef

_ALLOW_FIELD = {MERGE: "allow_merge", SQUASH: "allow_squash", REBASE: "allow_rebase",
                FAST_FORWARD: "allow_fast_forward"}
_FIELDS = ("allow_merge", "allow_squash", "allow_rebase", "allow_fast_forward", "default_style",
           "delete_branch_on_merge")


def get_merge_settings(session: Session, repo_id: int) -> MergeSettings:
    """The saved settings, or (unsaved) defaults that allow every method."""
    row = session.get(MergeSettings, repo_id)
    return row if row is not None else MergeSettings(repo_id=repo_id)


def allowed_styles(settings: MergeSettings) -> list[str]:
    """The allowed methods in the order the merge button lists them."""
    return [s for s in MERGE_STYLES if getattr(settings, _ALLOW_FIELD[s])]


def style_allowed(settings: MergeSettings, style: str) -> bool:
    return style in _ALLOW_FIELD and bool(getattr(settings, _ALLOW_FIELD[style]))


def default_style(settings: MergeSettings) -> str:
    """The method the merge button offers first: the configured default if still allowed, else the first allowed."""
    allowed = allowed_styles(settings)
    if settings.default_style in allowed:
        return settings.default_style
    return allowed[0] if allowed else MERGE


def save_merge_settings(session: Session, actor: Account, ref: RepoRef, **fields: Any) -> MergeSettings:
    """Change some of the settings (ADMIN). At least one method must stay allowed; the default must be allowed."""
    require_repo_access(session, actor, ref.repo, Access.ADMIN)
    unknown = set(fields) - set(_FIELDS)
    if unknown:
        raise TypeError(f"unknown merge settings: {', '.join(sorted(unknown))}")
    assert ref.repo.id is not None
    row = session.get(MergeSettings, ref.repo.id) or MergeSettings(repo_id=ref.repo.id)
    for name, value in fields.items():
        setattr(row, name, value if name == "default_style" else bool(value))
    if row.default_style not in MERGE_STYLES:
        raise InvalidInput(N_("“%(style)s” is not a merge method."), style=row.default_style)
    if not allowed_styles(row):
        raise InvalidInput(N_("Allow at least one merge method."))
    if not style_allowed(row, row.default_style):
        if "default_style" in fields:
            raise InvalidInput(N_("The default merge method must be one of the allowed methods."))
        row.default_style = allowed_styles(row)[0]
    session.add(row)
    session.flush()
    return row
