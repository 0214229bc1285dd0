"""What every tab of a pull request shows (the repository header, the pull request, its state, the "wants to
merge" line, the thread and commit counts), and the account lookups the pull request forms share.

It is not a route module because the list/new, conversation, files and merge routes all build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from forge.accounts import users
from forge.accounts.models import Account
from forge.errors import ForgeError
from forge.permissions import Access
from forge.pulls import diffmap, review_comments
from forge.pulls import services as pulls
from forge.pulls.models import PullRequest
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web.forms import redirect
from web.repo_context import repo_page_context
from web.state import current_user, run_db, settings_of


def _number(request: Request) -> int:
    return int(request.path_params["number"])


def pull_base_context(session: Session, request: Request, tab: str) -> dict[str, Any]:
    """What every tab of a pull request shows: the repository header, the pull request, its state and the
    "wants to merge" line."""
    ctx = repo_page_context(session, request, "pulls")
    ref: RepoRef = ctx["ref"]
    issue, pull = pulls.get_pull(session, ref, _number(request))
    head = pulls.head_repo(session, pull)
    author = session.get(Account, issue.author_id) if issue.author_id is not None else None
    viewer = current_user(request)
    level = Access(ctx["level"])
    ctx.update(
        issue=issue,
        pull=pull,
        pull_author=author,
        head_repo=head,
        head_label=head_text(ref, head, pull),
        pull_state=pulls.state_of(issue, pull),
        pull_tab=tab,
        pull_url=f"/{ref.full_name}/pulls/{issue.number}",
        may_edit=pulls.may_edit(session, viewer, ref, issue),
        may_comment=viewer is not None and (not issue.is_locked or level >= Access.WRITE),
        merged_by=session.get(Account, pull.merged_by_id) if pull.merged_by_id else None,
        thread_count=len(review_comments.threads(session, pull, viewer)),
        commit_count=commit_count(request, ref, pull),
    )
    return ctx


def commit_count(request: Request, ref: RepoRef, pull: PullRequest) -> int:
    """How many commits the pull request brings (from the merge base it had, so a merged one keeps its count)."""
    return diffmap.pull_commits(repos.open_git(settings_of(request).repos_dir, ref), pull, 0)[1]


def head_text(ref: RepoRef, head: RepoRef | None, pull: PullRequest) -> str:
    if head is None:
        return pull.head_branch
    return pulls.head_label(ref, head, pull.head_branch)


async def act_on_pull(request: Request, work: Callable[[Session], str], message: str, *,
                      tab: str = "conversation") -> Response:
    """Run a form action (``work`` returns where to go next) and redirect with ``message``. A domain error comes
    back to the pull request's ``tab`` as a message; the repository and the pull request are looked up first, so a
    hidden one stays a 404."""
    suffix = "" if tab == "conversation" else "/" + tab
    fallback = await run_db(request, lambda s: str(pull_base_context(s, request, tab)["pull_url"]) + suffix)
    try:
        url = await run_db(request, work)
    except ForgeError as exc:
        return redirect(request, fallback, exc.message, "error", **exc.params)
    return redirect(request, url, message)


def int_ids(values: list[Any]) -> list[int]:
    """The whole numbers among a form's repeated field values (ids of checkboxes); anything else is skipped."""
    return [int(x) for x in values if isinstance(x, str) and x.isdigit()]


def user_ids_named(session: Session, names: str) -> list[int]:
    """Account ids for a form's comma or space separated list of user names; InvalidInput naming an unknown one."""
    return users.user_ids_named(session, names.replace(",", " ").split())
