"""API: searching repositories, issues and pull requests, and users across the site.

Each answer is ``{total_count, items}`` with the page links in ``Link``. Only what the caller may see is searched
(the services apply the visibility rules inside their queries, so the totals reveal nothing either).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from forge.accounts.models import AccountKind
from forge.accounts.search import search_accounts
from forge.issues.site_search import search_issues
from forge.repos import search as repo_search
from forge.wire.issues import IssueOut, issue_list
from forge.wire.repos import repository
from forge.wire.users import user_profile
from web.api.deps import CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.schemas.people import IssueSearch, RepositorySearch, UserSearch

router = APIRouter(tags=["search"])

Order = Annotated[Literal["asc", "desc"], Query(description="Direction of ``sort``.")]


@router.get("/search/repositories", response_model=RepositorySearch, summary="Search repositories",
            responses=LIST_RESPONSES)
def search_repositories(
    request: Request, response: Response, caller: CallerDep, page: PageDep,
    q: Annotated[str, Query(max_length=200, description="Words to find in names, descriptions and topics; "
                                                        "``owner/name`` and ``topic:x`` work too.")] = "",
    sort: Annotated[Literal["best-match", "updated", "created", "name"], Query()] = "best-match",
    order: Order = "desc",
) -> RepositorySearch:
    """Tokens need ``read:repo`` to find private repositories (without it only public ones are searched)."""
    viewer = caller.user if caller.allows("read:repo") else None
    base = settings_of(request).public_url()
    with db(request) as session:
        found = repo_search.search_repos(session, viewer, q, page=page.page, per_page=page.per_page, sort=sort,
                                         ascending=order == "asc")
        items = [repository(session, ref, base) for ref in found.items]
    link_headers(request, response, page, found.total)
    return RepositorySearch(total_count=found.total, items=items)


@router.get("/search/issues", response_model=IssueSearch, summary="Search issues and pull requests",
            responses=LIST_RESPONSES)
def search_issues_and_pulls(
    request: Request, response: Response, caller: CallerDep, page: PageDep,
    q: Annotated[str, Query(max_length=256, description=(
        "Words and qualifiers: ``is:open``/``is:closed``, ``is:issue``/``is:pr``, ``repo:owner/name``, "
        "``user:name``/``org:name``, ``author:``, ``assignee:``, ``mentions:``, ``label:``, ``milestone:``, "
        "``no:label``, ``sort:comments-desc``..."))] = "",
) -> IssueSearch:
    """Across every repository the caller may see; both states unless ``is:open``/``is:closed``. Tokens need
    ``read:issue``."""
    caller.require_scope("read:issue")
    base = settings_of(request).public_url()
    with db(request) as session:
        found, total = search_issues(session, caller.user, q, offset=page.offset, limit=page.limit)
        # The wire builders work one repository at a time; put the page back in its order afterwards.
        out: dict[int, IssueOut] = {}
        for ref in {ref.repo.id: ref for _, ref in found}.values():
            issues = [issue for issue, r in found if r.repo.id == ref.repo.id]
            for issue, built in zip(issues, issue_list(session, base, ref, issues), strict=True):
                out[issue.id or 0] = built
        items = [out[issue.id or 0] for issue, _ in found]
    link_headers(request, response, page, total)
    return IssueSearch(total_count=total, items=items)


@router.get("/search/users", response_model=UserSearch, summary="Search users and organisations",
            responses=LIST_RESPONSES)
def search_users(
    request: Request, response: Response, page: PageDep,
    q: Annotated[str, Query(max_length=100, description="Words the name or display name must contain.")] = "",
    type: Annotated[Literal["user", "org"] | None, Query(description="Only users or only organisations.")] = None,
) -> UserSearch:
    """The exact name first, then by name."""
    kind = None if type is None else AccountKind(type)
    base = settings_of(request).public_url()
    with db(request) as session:
        found, total = search_accounts(session, q, kind=kind, offset=page.offset, limit=page.limit)
        items = [user_profile(a, base) for a in found]
    link_headers(request, response, page, total)
    return UserSearch(total_count=total, items=items)
