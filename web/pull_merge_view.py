"""What the merge box of a pull request shows (``pulls/_merge_box.html``), built from the domain's answers.

The pull request conversation page (web/routes/pull_conversation.py) calls :func:`merge_box_context` and
includes ``pulls/_merge_box.html``; the merge page of web/routes/pull_merge.py (which shows the box again with the
reason when a merge is refused) does the same. Every rule (who may merge, which styles, whether the gate passes) is
the domain's: forge.pulls.gate, forge.pulls.settings, forge.permissions. This module only arranges their answers.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request

from forge.accounts.models import Account
from forge.errors import ForgeError
from forge.i18n import N_
from forge.issues.models import CLOSED, MERGED, Issue
from forge.permissions import Access, repo_access
from forge.pulls import gate, gitops, merging
from forge.pulls import models as pull_models
from forge.pulls import settings as merge_settings
from forge.pulls.models import MergeSettings, PullRequest
from forge.repos import services as repos
from forge.repos.services import RepoRef
from forge.settings import Settings
from web.i18n import gettext
from web.state import current_user

STYLE_LABELS = {
    pull_models.MERGE: N_("Create a merge commit"),
    pull_models.SQUASH: N_("Squash and merge"),
    pull_models.REBASE: N_("Rebase and merge"),
    pull_models.FAST_FORWARD: N_("Fast-forward only"),
}
STYLE_HINTS = {
    pull_models.MERGE: N_("All commits of the head are added to the base branch with a merge commit."),
    pull_models.SQUASH: N_("The head's commits are combined into one commit on the base branch."),
    pull_models.REBASE: N_("Each commit of the head is replayed onto the base branch, without a merge commit."),
    pull_models.FAST_FORWARD: N_("The base branch moves to the head's last commit; refused when the base branch "
                                 "has commits the head lacks."),
}
# Styles whose commit message the person merging may write (rebase and fast-forward keep the head's commits).
STYLES_WITH_MESSAGE = (pull_models.MERGE, pull_models.SQUASH)
# Commit status states that are still on their way to a verdict.
WAITING_STATES = ("pending", "running", "", "missing", "expected")
_SHOWN_ABOVE = (gate.CHECKING_KIND, gate.CONFLICTS, gate.NOTHING, gate.CLOSED)
# Most bytes a file may have for the in-browser conflict editor (GitHub's web editor has a similar limit).
MAX_EDITABLE_BYTES = 512 * 1024


def style_choices(styles: tuple[str, ...] | list[str] = pull_models.MERGE_STYLES) -> list[dict[str, str]]:
    return [{"value": s, "label": gettext(STYLE_LABELS[s]), "hint": gettext(STYLE_HINTS[s])} for s in styles]


def allowed_styles(current: MergeSettings) -> list[str]:
    """The styles a repository allows, its default first (the order the style select offers them)."""
    allowed = merge_settings.allowed_styles(current)
    default = merge_settings.default_style(current)
    return [default, *(s for s in allowed if s != default)] if default in allowed else allowed


def _head_ref(session: Session, pull: PullRequest) -> RepoRef | None:
    return repos.get_repo_by_id(session, pull.head_repo_id) if pull.head_repo_id else None


def _is_text_file(settings: Settings, ref: RepoRef, pull: PullRequest, path: str) -> bool:
    """Whether the conflicting file looks editable in a text area on both sides (no NUL byte, not huge); the
    domain (gitops.conflict_sides) decides for good when the editor opens."""
    git = repos.open_git(settings.repos_dir, ref)
    for rev in (pull.head_sha, pull.base_sha):
        if not rev:
            continue
        data = git.read_blob_at(rev, path, max_bytes=MAX_EDITABLE_BYTES + 1)  # None: absent, or larger still
        if data is not None and (b"\0" in data or len(data) > MAX_EDITABLE_BYTES):
            return False
    return True


def merge_box_context(
    session: Session,
    settings: Settings,
    request: Request,
    ref: RepoRef,
    level: Access,
    issue: Issue,
    pull: PullRequest,
    *,
    form: dict[str, Any] | None = None,
    error: ForgeError | None = None,
) -> dict[str, Any]:
    """``{"merge_box": {...}}`` for ``pulls/_merge_box.html``. ``form`` and ``error`` carry a refused merge's
    values and reason back into the box."""
    viewer = current_user(request)
    head = _head_ref(session, pull)
    url = f"/{ref.full_name}/pulls/{issue.number}"
    merged = pull.merged_at is not None or (issue.state == CLOSED and issue.state_reason == MERGED)
    state = "merged" if merged else ("closed" if issue.state == CLOSED else "open")
    can_write = viewer is not None and level >= Access.WRITE

    box: dict[str, Any] = {
        "url": url,
        "state": state,
        "status": pull.merge_status,
        "conflicts": pull.conflicts,
        "is_draft": pull.is_draft,
        "pull": pull,
        "issue": issue,
        "head_ref": head,
        "head_label": f"{head.owner.name}:{pull.head_branch}" if head and head.repo.id != ref.repo.id
        else pull.head_branch,
        "can_merge": False,
        "error": error,
        "form": form or {},
    }

    # The head branch: can it be deleted (after merge) or restored (after deletion)?
    head_exists = False
    can_write_head = False
    if head is not None:
        head_exists = repos.open_git(settings.repos_dir, head).has_branch(pull.head_branch)
        can_write_head = viewer is not None and repo_access(session, viewer, head.repo) >= Access.WRITE
        is_default_of_head = pull.head_branch == head.repo.default_branch
        box["can_delete_branch"] = can_write_head and head_exists and not is_default_of_head and state != "open"
        box["can_restore_branch"] = (can_write_head and not head_exists and bool(pull.head_sha)
                                     and state != "open")
    box["head_exists"] = head_exists

    if state == "merged":
        merger = session.get(Account, pull.merged_by_id) if pull.merged_by_id else None
        box.update(merged_by=merger, merged_at=pull.merged_at, merge_commit_sha=pull.merge_commit_sha,
                   merge_style_label=gettext(STYLE_LABELS[pull.merge_style]) if pull.merge_style in STYLE_LABELS
                   else "")
        return {"merge_box": box}
    if state == "closed":
        return {"merge_box": box}

    result = gate.evaluate(session, settings, ref, pull, viewer)
    box["gate"] = result
    # Mergeability (checking, conflicts, nothing to merge) has its own line at the top of the box.
    box["problems"] = [p for p in result.problems if p.kind not in _SHOWN_ABOVE]
    box["approvals"] = result.approvals
    box["required_approvals"] = result.required_approvals
    box["contexts"] = [{"context": c, "state": s or "missing"} for c, s in result.contexts]
    waiting = any((s or "missing") in WAITING_STATES for _, s in result.contexts)
    box["checks_waiting"] = waiting

    current = merge_settings.get_merge_settings(session, ref.repo.id or 0)
    styles = allowed_styles(current)
    box["styles"] = style_choices(styles)
    box["styles_with_message"] = STYLES_WITH_MESSAGE
    proposed = {s: merging.default_message(session, pull, s) for s in STYLES_WITH_MESSAGE}
    box["titles"] = {s: title for s, (title, _) in proposed.items()}
    box["messages"] = {s: message for s, (_, message) in proposed.items()}
    chosen = (form or {}).get("style") or (styles[0] if styles else "")
    box["style"] = chosen
    box["title"] = (form or {}).get("title", box["titles"].get(chosen, box["titles"][pull_models.MERGE]))
    box["message"] = (form or {}).get("message", box["messages"].get(chosen, box["messages"][pull_models.MERGE]))
    if form is not None:
        box["delete_branch"] = bool(form.get("delete_branch"))
    else:
        box["delete_branch"] = current.delete_branch_on_merge
    box["offer_delete_branch"] = (can_write_head and head_exists and head is not None
                                  and pull.head_branch != head.repo.default_branch)

    mergeable = pull.merge_status == pull_models.MERGEABLE
    box["can_merge"] = can_write and bool(styles)
    box["merge_ready"] = result.ok and mergeable and not pull.is_draft
    box["auto_merge"] = None
    if pull.auto_merge_style:
        by = session.get(Account, pull.auto_merge_by_id) if pull.auto_merge_by_id else None
        box["auto_merge"] = {"by": by, "style": gettext(STYLE_LABELS.get(pull.auto_merge_style,
                                                                         pull.auto_merge_style))}
    box["offer_auto_merge"] = (can_write and not result.ok and mergeable and not pull.is_draft and waiting
                               and not pull.auto_merge_style and bool(styles))
    box["can_resolve"] = (merging.resolvable_in_browser(pull) and merging.may_edit_head(session, viewer, ref, pull)
                          and _is_text_file(settings, ref, pull, pull.conflicts[0]))
    box["resolve_url"] = f"{url}/conflicts"
    # "Update branch": the head lacks base commits and the merge of the base into it is clean (a conflicting one
    # goes through "Resolve conflicts" instead).
    box["commits_behind"] = pull.commits_behind
    box["can_update_branch"] = (pull.commits_behind > 0 and pull.merge_status in (pull_models.MERGEABLE,
                                                                                  pull_models.EMPTY)
                                and merging.may_edit_head(session, viewer, ref, pull))
    return {"merge_box": box}


# --- the conflict editor -------------------------------------------------------------------------------------

def marked_text(sides: gitops.ConflictFile) -> str:
    """The conflicting file with Git's conflict markers, as the editor's starting text."""
    return sides.merged

