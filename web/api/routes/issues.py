"""API: issues of a repository: list (with the web list's filters), read, open, edit (state, labels, assignees,
milestone, due date), lock and assign.

Pull requests are issues too (one number sequence), so ``GET /issues/{number}`` answers for both and the list can
include them (``type``). Every change goes through the same services as the web pages (forge.issues.services and
forge.issues.triage), so the timeline, notifications and webhooks see an API change exactly like a click.
Reading needs ``read:issue``, changing ``write:issue``; who may change what is the web's rule (forge.issues.access).
The helpers at the top are shared with the comment, label and milestone modules.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from forge.accounts import users
from forge.issues import metadata, search, triage
from forge.issues import services as issue_service
from forge.issues.models import CLOSED, COMPLETED, OPEN, Issue, Milestone
from forge.repos.services import RepoRef
from forge.wire.issues import IssueOut, issue_list, issue_out
from web.api.deps import Caller, CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Number, Owner, RepoName, issue_repo
from web.api.schemas.issues import NO_NUL, AssigneeLogins, IssueCreate, IssueUpdate, LockBody

router = APIRouter(tags=["issues"])

_I = "/repos/{owner}/{repo}/issues/{number:int}"


# --- shared by the issue, comment, label and milestone modules ----------------------------------------------


def base_url(request: Request) -> str:
    return settings_of(request).public_url()


def issue_in(session: Session, caller: Caller, owner: str, repo: str, number: int,
             scope: str = "read:issue") -> tuple[RepoRef, Issue]:
    ref = issue_repo(session, caller, owner, repo, scope)
    return ref, issue_service.get_issue(session, ref, number)


# --- list and read -----------------------------------------------------------------------------------------

_SORTS = {("created", "desc"): "newest", ("created", "asc"): "oldest", ("comments", "desc"): "most-commented",
          ("comments", "asc"): "least-commented", ("updated", "desc"): "recently-updated",
          ("updated", "asc"): "least-recently-updated"}


def _text(max_length: int, description: str) -> Any:
    """A text filter (no NUL: PostgreSQL text cannot hold it)."""
    return Query(max_length=max_length, pattern=NO_NUL, description=description)


def _milestone_title(session: Session, ref: RepoRef, value: str) -> str:
    """``milestone`` is an id (as GitHub clients send), ``none``, or a title."""
    if value.isdigit() and len(value) < 10:
        milestone = session.get(Milestone, int(value))
        if milestone is not None and milestone.repo_id == ref.repo.id:
            return milestone.title
    return value


@router.get("/repos/{owner}/{repo}/issues", response_model=list[IssueOut],
            responses=LIST_RESPONSES)
def list_issues(
    request: Request, response: Response, caller: CallerDep, page: PageDep, owner: Owner, repo: RepoName,
    state: Literal["open", "closed", "all"] = "open",
    labels: Annotated[str | None, _text(1000, "Comma-separated names; all must be on it.")] = None,
    milestone: Annotated[str | None, _text(128, "Milestone id or title, or none.")] = None,
    assignee: Annotated[str | None, _text(100, "A login, or none.")] = None,
    creator: Annotated[str | None, _text(100, "The author's login.")] = None,
    mentioned: Annotated[str | None, _text(100, "A login mentioned in the text.")] = None,
    q: Annotated[str | None, _text(255, "Words to find in the title or text; the web list's qualifiers "
                                   "(label:bug, no:assignee...) work too.")] = None,
    sort: Literal["created", "updated", "comments"] = "created",
    direction: Literal["asc", "desc"] = "desc",
    kind: Annotated[Literal["issues", "pulls", "all"], Query(alias="type", description="Gitea's filter.")] = "issues",
) -> list[IssueOut]:
    """Issues matching the filters, newest first by default; ``type`` also includes pull requests."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo)
        f = search.IssueFilter(
            state=state, labels=[n.strip() for n in (labels or "").split(",") if n.strip()],
            milestone=_milestone_title(session, ref, milestone) if milestone else "",
            assignee=assignee or "", author=creator or "", mentions=mentioned or "",
            sort=_SORTS[(sort, direction)], page=page.page,
        )
        if q:
            f = search.parse_query(q, f)
        is_pull = {"issues": False, "pulls": True, "all": None}[kind]
        result = search.list_issues(session, ref, f, is_pull=is_pull, per_page=page.per_page)
        link_headers(request, response, page, result.total)
        if result.page != page.page:  # past the last page: the service clamps, an API answers empty
            return []
        return issue_list(session, base_url(request), ref, [row.issue for row in result.rows])


@router.get(_I, response_model=IssueOut)
def get_issue(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number) -> IssueOut:
    """One issue (or pull request, seen as an issue)."""
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number)
        return issue_out(session, base_url(request), ref, issue)


# --- open and edit -----------------------------------------------------------------------------------------


@router.post("/repos/{owner}/{repo}/issues", response_model=IssueOut, status_code=201)
def create_issue(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                 data: IssueCreate) -> IssueOut:
    """Open an issue. Labels, assignees, milestone and due date are kept only from people with write access."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo, "write:issue")
        user = caller.require_user("write:issue")
        issue = issue_service.create_issue(
            session, user, ref, title=data.title, body=data.body,
            label_ids=metadata.label_ids_named(session, ref, data.labels),
            assignee_ids=users.user_ids_named(session, data.assignees),
            milestone_id=data.milestone, due_date=data.due_date,
        )
        out = issue_out(session, base_url(request), ref, issue)
    response.headers["Location"] = out.url
    return out


@router.patch(_I, response_model=IssueOut)
def edit_issue(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
               data: IssueUpdate) -> IssueOut:
    """Change what is sent: the author may edit the title and text and close or reopen; labels, assignees,
    milestone and due date need write access (as on the web)."""
    sent = data.model_fields_set
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number, "write:issue")
        user = caller.require_user("write:issue")
        if data.title is not None or data.body is not None:
            issue_service.edit_issue(session, user, ref, issue, title=data.title, body=data.body)
        if data.labels is not None:
            triage.set_labels(session, user, ref, issue, metadata.label_ids_named(session, ref, data.labels))
        if data.assignees is not None:
            triage.set_assignees(session, user, ref, issue, users.user_ids_named(session, data.assignees))
        if "milestone" in sent:
            triage.set_milestone(session, user, ref, issue, data.milestone)
        if "due_date" in sent:
            triage.set_due_date(session, user, ref, issue, data.due_date)
        if data.state == CLOSED:
            issue_service.close_issue(session, user, ref, issue, reason=data.state_reason or COMPLETED)
        elif data.state == OPEN:
            issue_service.reopen_issue(session, user, ref, issue)
        session.flush()
        return issue_out(session, base_url(request), ref, issue)


# --- lock and assignees ------------------------------------------------------------------------------------


@router.put(_I + "/lock", status_code=204, response_class=Response)
def lock_issue(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
               data: LockBody | None = None) -> Response:
    """Lock the conversation: only people with write access may comment (needs write access)."""
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number, "write:issue")
        user = caller.require_user("write:issue")
        triage.lock_issue(session, user, ref, issue, (data.lock_reason if data else None) or "")
    return Response(status_code=204)


@router.delete(_I + "/lock", status_code=204, response_class=Response)
def unlock_issue(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number) -> Response:
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number, "write:issue")
        triage.unlock_issue(session, caller.require_user("write:issue"), ref, issue)
    return Response(status_code=204)


def _change_assignees(request: Request, caller: Caller, owner: str, repo: str, number: int, logins: list[str],
                      add: bool) -> IssueOut:
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number, "write:issue")
        user = caller.require_user("write:issue")
        current = {a.id for a in metadata.assignees_of(session, [issue.id or 0])[issue.id or 0]}
        named = set(users.user_ids_named(session, logins))
        wanted = current | named if add else current - named
        triage.set_assignees(session, user, ref, issue, [i for i in wanted if i is not None])
        return issue_out(session, base_url(request), ref, issue)


@router.post(_I + "/assignees", response_model=IssueOut, status_code=201)
def add_assignees(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                  data: AssigneeLogins) -> IssueOut:
    """Assign people (with write access to the repository); those already assigned stay."""
    return _change_assignees(request, caller, owner, repo, number, data.assignees, add=True)


@router.delete(_I + "/assignees", response_model=IssueOut)
def remove_assignees(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                     data: AssigneeLogins) -> IssueOut:
    """Unassign people; the issue as it is afterwards."""
    return _change_assignees(request, caller, owner, repo, number, data.assignees, add=False)
