"""What a notification says about an activity: the headline ("alice commented on #3."), the text quoted under it
(the comment, review or description, as Markdown) and the anchor on the thread's page it links to.

Written in English like the mail it goes into (community.notifications.mail); apart from the fan-out because it
is the one place that knows every kind of activity by its wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from community.notifications import mail as notification_mail
from forge import activity as act
from forge.accounts.models import Account
from forge.activity import Activity
from forge.issues.models import Issue, IssueComment
from forge.pulls.models import PullRequest, PullReview, ReviewComment


@dataclass
class Content:
    """What the inbox and the mail say: the headline, the Markdown quoted under it, the anchor to link to."""

    headline: str
    body: str
    anchor: str = ""


def _closed_headline(who: str, issue: Issue, data: dict[str, Any]) -> str:
    thing = f"#{issue.number}"
    if data.get("by_commit"):
        return f"{who} closed {thing} in commit {str(data['by_commit'])[:10]}."
    if data.get("by_pull"):
        return f"{who} closed {thing} with pull request #{data['by_pull']}."
    if data.get("reason") == "not_planned":
        return f"{who} closed {thing} as not planned."
    return f"{who} closed {thing} as completed."


def content_for(session: Session, activity: Activity, issue: Issue, actor: Account | None) -> Content:
    """The wording of ``activity`` on ``issue`` by ``actor`` (None: someone since deleted)."""
    who = notification_mail.actor_name(actor)
    thing = f"#{issue.number}"
    kind = activity.kind
    if kind == act.ISSUE_OPENED:
        return Content(f"{who} opened issue {thing}.", issue.body)
    if kind == act.PULL_OPENED:
        return Content(f"{who} opened pull request {thing}.", issue.body)
    if kind == act.ISSUE_COMMENTED:
        comment = session.get(IssueComment, activity.comment_id) if activity.comment_id else None
        return Content(f"{who} commented on {thing}.", comment.body if comment else "",
                       f"#comment-{activity.comment_id}" if comment else "")
    if kind == act.ISSUE_MENTIONED:
        comment = session.get(IssueComment, activity.comment_id) if activity.comment_id else None
        if comment is not None:
            return Content(f"{who} mentioned you in {thing}.", comment.body, f"#comment-{comment.id}")
        return Content(f"{who} mentioned you in {thing}.", issue.body)
    if kind == act.ISSUE_ASSIGNED:
        return Content(f"{who} assigned {thing} to you.", "")
    if kind == act.PULL_REVIEW_REQUESTED:
        return Content(f"{who} requested your review on {thing}.", issue.body)
    if kind == act.PULL_REVIEWED:
        review = session.get(PullReview, int(activity.data.get("review_id") or 0)) \
            if activity.data.get("review_id") else None
        state = activity.data.get("state") or (review.state if review else "")
        verb = {"approved": "approved these changes", "changes_requested": "requested changes"}.get(
            state, "reviewed")
        return Content(f"{who} {verb} on {thing}.", review.body if review else "",
                       f"#review-{review.id}" if review else "")
    if kind == act.PULL_REVIEW_COMMENTED:
        rc = session.get(ReviewComment, activity.comment_id) if activity.comment_id else None
        where = f" ({rc.path})" if rc is not None else ""
        return Content(f"{who} commented on {thing}{where}.", rc.body if rc else "",
                       f"#review-comment-{rc.id}" if rc else "")
    if kind == act.PULL_MERGED:
        pull = session.exec(select(PullRequest).where(PullRequest.issue_id == issue.id)).first()
        into = f" into {pull.base_branch}" if pull is not None else ""
        return Content(f"{who} merged {thing}{into}.", "")
    if kind == act.ISSUE_CLOSED:
        return Content(_closed_headline(who, issue, activity.data), "")
    if kind == act.ISSUE_REOPENED:
        return Content(f"{who} reopened {thing}.", "")
    if kind == act.PULL_READY:
        return Content(f"{who} marked {thing} as ready for review.", "")
    return Content(f"{who} updated {thing}.", "")
