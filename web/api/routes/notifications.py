"""API: the caller's notifications (GitHub's thread shape) and watching repositories.

Only the caller's own lines are ever shown or changed; a line of a repository the caller can no longer read is
not found. Tokens need ``read:notification`` to read and ``write:notification`` to mark read or to change what
they watch. Marking read answers ``205 Reset Content``, as GitHub does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from sqlmodel import Session

from community.notifications import inbox, threads, watches
from community.notifications.models import WATCH_ALL, WATCH_IGNORE, WATCH_PARTICIPATING
from forge.accounts.models import Account
from forge.errors import InvalidInput
from forge.i18n import N_
from forge.repos.services import RepoRef, get_visible_repo
from forge.wire.repos import repository_brief
from web.api.deps import CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Owner, RepoName
from web.api.schemas.people import MarkRead, Subject, Subscription, SubscriptionUpdate, Thread

router = APIRouter(tags=["notifications"])

MARKED: dict[int | str, dict[str, Any]] = {205: {"description": "Marked read."}}
ThreadId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The notification thread's id.")]
When = Annotated[datetime | None, Query(description="ISO 8601 time (UTC when no offset is given).")]
Flag = Annotated[bool, Query()]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # a time near year 1 or 9999 with an offset
        raise InvalidInput(N_("The time is out of range.")) from exc


def _thread(row: threads.Thread, base: str) -> Thread:
    issue, ref = row.issue, row.ref
    kind = "pulls" if issue.is_pull else "issues"
    n = row.notification
    assert n.id is not None
    return Thread(
        id=n.id, unread=n.unread, reason=n.reason, updated_at=n.updated_at, last_read_at=n.last_read_at,
        subject=Subject(
            title=issue.title, type="PullRequest" if issue.is_pull else "Issue", number=issue.number,
            state="closed" if issue.state == "closed" else "open",
            url=f"{base}/api/v1/repos/{ref.full_name}/{kind}/{issue.number}",
            html_url=f"{base}{inbox.thread_url(ref, issue)}",
        ),
        repository=repository_brief(ref, base),
        url=f"{base}/api/v1/notifications/threads/{n.id}",
    )


def _list(request: Request, response: Response, user: Account, page: PageDep, *, include_read: bool,
          participating: bool, since: datetime | None, before: datetime | None,
          repo: tuple[str, str] | None = None) -> list[Thread]:
    base = settings_of(request).public_url()
    with db(request) as session:
        repo_id = None
        if repo is not None:
            ref, _ = get_visible_repo(session, user, *repo)
            repo_id = ref.repo.id
        rows, total = threads.list_threads(session, user, include_read=include_read, participating=participating,
                                           since=_utc(since), before=_utc(before), repo_id=repo_id,
                                           offset=page.offset, limit=page.limit)
        items = [_thread(row, base) for row in rows]
    link_headers(request, response, page, total)
    return items


@router.get("/notifications", response_model=list[Thread], summary="List the caller's notifications",
            responses=LIST_RESPONSES)
def list_notifications(request: Request, response: Response, caller: CallerDep, page: PageDep,
                       all: Flag = False, participating: Flag = False, since: When = None,
                       before: When = None) -> list[Thread]:
    """Unread threads, newest activity first (``all=true`` includes read ones; ``participating=true`` leaves out
    those that only come from watching a repository). Needs ``read:notification``."""
    user = caller.require_user("read:notification")
    return _list(request, response, user, page, include_read=all, participating=participating, since=since,
                 before=before)


@router.put("/notifications", status_code=205, response_class=Response, responses=MARKED,
            summary="Mark all notifications read")
def mark_all_read(request: Request, caller: CallerDep,
                  body: Annotated[MarkRead | None, Body()] = None) -> Response:
    """Only threads whose last activity is not after ``last_read_at`` (default: now). Needs
    ``write:notification``."""
    user = caller.require_user("write:notification")
    with db(request) as session:
        threads.mark_read_until(session, user, _utc(body.last_read_at) if body else None)
    return Response(status_code=205)


@router.get("/notifications/threads/{thread_id}", response_model=Thread, summary="A notification thread")
def get_thread(request: Request, caller: CallerDep, thread_id: ThreadId) -> Thread:
    """Needs ``read:notification``."""
    user = caller.require_user("read:notification")
    with db(request) as session:
        return _thread(threads.get_thread(session, user, thread_id), settings_of(request).public_url())


@router.patch("/notifications/threads/{thread_id}", status_code=205, response_class=Response, responses=MARKED,
              summary="Mark a thread read")
def mark_thread_read(request: Request, caller: CallerDep, thread_id: ThreadId) -> Response:
    """Needs ``write:notification``."""
    user = caller.require_user("write:notification")
    with db(request) as session:
        threads.get_thread(session, user, thread_id)
        inbox.mark_read(session, user, thread_id)
    return Response(status_code=205)


@router.get("/repos/{owner}/{repo}/notifications", response_model=list[Thread], responses=LIST_RESPONSES,
            summary="List the caller's notifications of a repository")
def list_repo_notifications(request: Request, response: Response, caller: CallerDep, page: PageDep, owner: Owner,
                            repo: RepoName, all: Flag = False, participating: Flag = False, since: When = None,
                            before: When = None) -> list[Thread]:
    """As ``GET /notifications``, for one repository. Needs ``read:notification``."""
    user = caller.require_user("read:notification")
    return _list(request, response, user, page, include_read=all, participating=participating, since=since,
                 before=before, repo=(owner, repo))


@router.put("/repos/{owner}/{repo}/notifications", status_code=205, response_class=Response, responses=MARKED,
            summary="Mark a repository's notifications read")
def mark_repo_read(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                   body: Annotated[MarkRead | None, Body()] = None) -> Response:
    """Needs ``write:notification``."""
    user = caller.require_user("write:notification")
    with db(request) as session:
        ref, _ = get_visible_repo(session, user, owner, repo)
        threads.mark_read_until(session, user, _utc(body.last_read_at) if body else None, repo_id=ref.repo.id)
    return Response(status_code=205)


# --- watching -----------------------------------------------------------------------------------------------


def _subscription(session: Session, user: Account, ref: RepoRef, base: str) -> Subscription:
    level = watches.effective_level(session, user.id or 0, ref.repo)
    return Subscription(subscribed=level == WATCH_ALL, ignored=level == WATCH_IGNORE,
                        level=level,  # type: ignore[arg-type]  # one of watches.LEVELS
                        repository=repository_brief(ref, base))


def _set_level(request: Request, caller: CallerDep, owner: str, repo: str, level: str) -> Subscription:
    user = caller.require_user("write:notification")
    with db(request) as session:
        ref, _ = get_visible_repo(session, user, owner, repo)
        watches.set_watch(session, user, ref, level)
        return _subscription(session, user, ref, settings_of(request).public_url())


@router.get("/repos/{owner}/{repo}/subscription", response_model=Subscription,
            summary="How much of a repository the caller watches")
def get_subscription(request: Request, caller: CallerDep, owner: Owner, repo: RepoName) -> Subscription:
    """Needs ``read:notification``."""
    user = caller.require_user("read:notification")
    with db(request) as session:
        ref, _ = get_visible_repo(session, user, owner, repo)
        return _subscription(session, user, ref, settings_of(request).public_url())


@router.put("/repos/{owner}/{repo}/subscription", response_model=Subscription, summary="Watch a repository")
def set_subscription(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                     body: SubscriptionUpdate) -> Subscription:
    """``subscribed``: everything (level ``all``); ``ignored``: nothing, not even mentions (wins over
    ``subscribed``); neither: only threads the caller takes part in. Needs ``write:notification``."""
    level = WATCH_IGNORE if body.ignored else WATCH_ALL if body.subscribed else WATCH_PARTICIPATING
    return _set_level(request, caller, owner, repo, level)


@router.delete("/repos/{owner}/{repo}/subscription", status_code=204, response_class=Response,
               summary="Stop watching a repository")
def delete_subscription(request: Request, caller: CallerDep, owner: Owner, repo: RepoName) -> Response:
    """Back to hearing only about threads the caller takes part in (``participating``). Needs
    ``write:notification``."""
    _set_level(request, caller, owner, repo, WATCH_PARTICIPATING)
    return Response(status_code=204)
