"""The conversation of an issue or pull request, shared by the issue page and the pull request page.

``conversation_context`` gathers what ``issues/_timeline.html``, ``issues/_sidebar.html``,
``issues/_comment_form.html`` and ``issues/_reactions.html`` need: timeline items with their bodies rendered, the
reactions, the sidebar's data and what the viewer may do. Every action those templates post goes to
``/{owner}/{repo}/issues/{number}/...`` (web/routes/issue_conversation.py and issue_edits.py), which sends the
browser back to the pull request page when the issue is a pull request.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request

from community.notifications import inbox
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.issues import comments, metadata, reactions, triage
from forge.issues.linkify import render_issue_markdown
from forge.issues.models import Issue, Milestone, readable_text_color
from forge.issues.timeline import TimelineItem, build_timeline
from forge.permissions import Access, repo_access
from forge.repos.services import RepoRef, get_repo_by_id
from web.state import current_user, settings_of
from web.templating import env

# Templates colour label text for contrast with any label colour: label_text_color("#d73a4a") -> "#ffffff".
env.globals["label_text_color"] = readable_text_color

# Timeline entries that point at another repository: shown only to viewers who can read it.
_CROSS_REPO_KINDS = ("cross_referenced", "referenced")


def issue_url(ref: RepoRef, issue: Issue) -> str:
    """Where the issue's actions are posted."""
    return f"/{ref.full_name}/issues/{issue.number}"


def page_url(ref: RepoRef, issue: Issue) -> str:
    """The page showing the conversation: the issue page or the pull request's conversation tab."""
    return f"/{ref.full_name}/{'pulls' if issue.is_pull else 'issues'}/{issue.number}"


def reaction_key(subject: str, comment_id: int | None) -> str:
    return f"{subject}:{comment_id or 0}"


def _visible(session: Session, viewer: Account | None, ref: RepoRef, item: TimelineItem,
             cache: dict[int, bool]) -> bool:
    event = item.event
    if event is None or event.kind not in _CROSS_REPO_KINDS:
        return True
    repo_id = event.data.get("repo_id")
    if not isinstance(repo_id, int) or repo_id == ref.repo.id:
        return True
    if repo_id not in cache:
        other = get_repo_by_id(session, repo_id)
        cache[repo_id] = other is not None and repo_access(session, viewer, other.repo) >= Access.READ
    return cache[repo_id]


def render_text(session: Session, request: Request, ref: RepoRef, text: str) -> str:
    """Markdown of an issue text for the current viewer, with references linked."""
    return render_issue_markdown(session, ref, text, viewer=current_user(request),
                                 repos_root=settings_of(request).repos_dir)


def conversation_context(session: Session, request: Request, ref: RepoRef, level: Access,
                         issue: Issue) -> dict[str, Any]:
    """Everything the conversation templates read (see the keys below)."""
    viewer = current_user(request)
    cache: dict[int, bool] = {}
    items = [item for item in build_timeline(session, issue) if _visible(session, viewer, ref, item, cache)]
    for item in items:
        if item.comment is not None:
            item.html = render_text(session, request, ref, item.comment.body)
    reaction_groups = {reaction_key(subject, cid): groups
                       for (subject, cid), groups in reactions.reactions_for(session, issue, viewer).items()}
    assert issue.id is not None
    labels = metadata.labels_of(session, [issue.id])[issue.id]
    assignees = metadata.assignees_of(session, [issue.id])[issue.id]
    can_triage = viewer is not None and level >= Access.WRITE
    is_author = viewer is not None and viewer.id == issue.author_id
    can_read_signed_in = viewer is not None and level >= Access.READ
    milestone = session.get(Milestone, issue.milestone_id) if issue.milestone_id else None
    author = session.get(Account, issue.author_id) if issue.author_id else None
    closed_by = session.get(Account, issue.closed_by_id) if issue.closed_by_id else None
    ctx: dict[str, Any] = {
        "issue": issue,
        "issue_author": author,
        "closed_by": closed_by,
        "issue_url": issue_url(ref, issue),
        "page_url": page_url(ref, issue),
        "body_html": render_text(session, request, ref, issue.body),
        "items": items,
        "reactions": reaction_groups,
        "reaction_choices": [(c, reactions.REACTION_EMOJI[c]) for c in reactions.REACTIONS],
        "issue_labels": labels,
        "issue_assignees": assignees,
        "issue_milestone": milestone,
        "participants": comments.participants(session, issue),
        "lock_reasons": [r for r in triage.LOCK_REASONS if r],
        "can_triage": can_triage,
        "can_edit_issue": can_read_signed_in and (is_author or can_triage),
        "can_close": can_read_signed_in and (is_author or can_triage),
        "can_comment": can_read_signed_in and (not issue.is_locked or can_triage),
        "can_react": can_read_signed_in and (not issue.is_locked or can_triage),
        "viewer_id": viewer.id if viewer else None,
        "today": utcnow().date(),
        "max_upload_mb": settings_of(request).attachment_max_mb,
    }
    if viewer is not None and viewer.id is not None:
        # Reading the thread reads its notification, as on GitHub.
        inbox.mark_thread_read(session, viewer.id, issue.id)
        ctx["subscribed"] = inbox.is_subscribed(session, viewer.id, issue.id)
    if can_triage:
        ctx["all_labels"] = metadata.available_labels(session, ref)
        ctx["assignable"] = metadata.assignable_users(session, ref)
        ctx["milestones"] = metadata.milestones_of_repo(session, ref)
    return ctx
