"""API: pull requests: list, read, open, edit, their commits and files, merging, "Update branch" and review
requests. Reviews and review comments are web.api.routes.reviews.

Pull requests are issues, so the scopes are the issue ones (``read:issue``, ``write:issue``) with the caller's own
access to the repository (not capped by repository scopes); what writes a branch (merging, updating the head)
needs ``write:repo`` too. Every change goes through the services the web uses (forge.pulls.*), so the same rules
apply and the same timeline and activity rows are written. A repository or pull request the caller may not see is
a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from forge.accounts import users
from forge.accounts.models import Account
from forge.errors import InvalidInput, NotFound
from forge.i18n import N_
from forge.issues import models as im
from forge.issues import services as issues
from forge.pulls import diffmap, merging, reviews
from forge.pulls import services as pulls
from forge.pulls.models import FAST_FORWARD, PullRequest
from forge.repos import services as repos
from forge.repos.services import RepoRef
from forge.wire.git import Commit, commit
from forge.wire.pulls import PullRequestOut, pull_list, pull_out
from web.api.deps import Caller, CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Number, Owner, RepoName, issue_repo
from web.api.schemas.git import CommitFile, commit_file
from web.api.schemas.pulls import (
    MergeRequest,
    MergeResult,
    PullCreate,
    PullUpdate,
    ReviewersRequest,
    UpdateBranchRequest,
    UpdateBranchResult,
)

router = APIRouter(tags=["pulls"])

_P = "/repos/{owner}/{repo}/pulls"
MAX_COMMITS = 250  # as GitHub: the commits list stops there


def pull_repo(session: Session, caller: Caller, owner: str, repo: str, *, write: bool = False) -> RepoRef:
    """The repository for a pull request call: reads need ``read:issue`` (anonymous callers see public ones),
    changes a signed-in caller with ``write:issue``; the user's own access decides the rest."""
    if write:
        caller.require_user("write:issue")
    return issue_repo(session, caller, owner, repo, "write:issue" if write else "read:issue")


def find_pull(session: Session, caller: Caller, owner: str, repo: str, number: int, *,
              write: bool = False) -> tuple[RepoRef, im.Issue, PullRequest]:
    ref = pull_repo(session, caller, owner, repo, write=write)
    issue, pull = pulls.get_pull(session, ref, number)
    return ref, issue, pull


@router.get(_P, response_model=list[PullRequestOut], responses=LIST_RESPONSES)
def list_pulls(
    request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName, page: PageDep,
    state: Literal["open", "closed", "all"] = "open",
    head: Annotated[str, Query(max_length=356, description="``branch`` or ``owner:branch``.")] = "",
    base: Annotated[str, Query(max_length=255, description="Only pull requests into this branch.")] = "",
    sort: Literal["created", "updated"] = "created",
    direction: Literal["asc", "desc"] = "desc",
) -> list[PullRequestOut]:
    """A repository's pull requests, newest first by default."""
    public = settings_of(request).public_url()
    with db(request) as session:
        ref = pull_repo(session, caller, owner, repo)
        head_filter: tuple[int, str] | None = None
        if head:
            try:
                head_ref, branch = pulls.resolve_head(session, caller.user, ref, head)
            except NotFound:
                link_headers(request, response, page, 0)
                return []
            head_filter = (head_ref.repo.id or 0, branch)
        found = pulls.list_pulls(session, ref, state=state, base_branch=base, head=head_filter, sort=sort,
                                 ascending=direction == "asc", page=page.page, per_page=page.per_page)
        link_headers(request, response, page, found.total)
        if page.page > found.page:  # past the last page: the service clamps, a client expects nothing
            return []
        return pull_list(session, public, ref, [(row.issue, row.pull) for row in found.items])


@router.get(_P + "/{number}", response_model=PullRequestOut)
def get_pull(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number) -> PullRequestOut:
    """One pull request, with its commit and line counts."""
    settings = settings_of(request)
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number)
        return pull_out(session, settings.public_url(), ref, pull, issue=issue,
                        git=repos.open_git(settings.repos_dir, ref))


@router.post(_P, response_model=PullRequestOut, status_code=201)
def create_pull(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, body: PullCreate) -> PullRequestOut:
    """Open a pull request from ``head`` into ``base``. 422 when a branch is missing or there is nothing to merge;
    409 when an open pull request already proposes the same head and base."""
    settings = settings_of(request)
    user = caller.require_user("write:issue")
    with db(request) as session:
        ref = pull_repo(session, caller, owner, repo, write=True)
        try:
            head_ref, head_branch = pulls.resolve_head(session, user, ref, body.head)
        except NotFound as exc:  # a fork that is not there is a bad field, not a missing resource
            raise InvalidInput(exc.message, **exc.params) from exc
        pull = pulls.open_pull(session, settings, user, ref, base_branch=body.base, head=head_ref,
                               head_branch=head_branch, title=body.title, body=body.body, draft=body.draft)
        return pull_out(session, settings.public_url(), ref, pull, git=repos.open_git(settings.repos_dir, ref))


@router.patch(_P + "/{number}", response_model=PullRequestOut)
def update_pull(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                body: PullUpdate) -> PullRequestOut:
    """Change the title, body, state (close or reopen), base branch or draft state. The author or anyone with write
    access may; a merged pull request cannot be reopened. 409 when another open pull request already proposes the
    head to the new base."""
    settings = settings_of(request)
    user = caller.require_user("write:issue")
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number, write=True)
        if body.title is not None or body.body is not None:
            issues.edit_issue(session, user, ref, issue, title=body.title, body=body.body)
        if body.state == "open":
            issues.reopen_issue(session, user, ref, issue)
        if body.base is not None:
            pulls.change_base(session, settings, user, ref, pull, body.base)
        if body.draft is not None:
            pulls.set_draft(session, user, ref, pull, body.draft)
        if body.state == "closed":
            issues.close_issue(session, user, ref, issue)
        return pull_out(session, settings.public_url(), ref, pull, issue=issue,
                        git=repos.open_git(settings.repos_dir, ref))


# --- commits and files ---------------------------------------------------------------------------------------


@router.get(_P + "/{number}/commits", response_model=list[Commit], responses=LIST_RESPONSES)
def list_commits(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                 number: Number, page: PageDep) -> list[Commit]:
    """The commits the pull request brings, oldest first (at most 250)."""
    settings = settings_of(request)
    with db(request) as session:
        ref, _, pull = find_pull(session, caller, owner, repo, number)
    found, _ = diffmap.pull_commits(repos.open_git(settings.repos_dir, ref), pull, MAX_COMMITS)
    link_headers(request, response, page, len(found))
    return [commit(info, ref.full_name, settings.public_url()) for info in page.slice(found)]


@router.get(_P + "/{number}/files", response_model=list[CommitFile], responses=LIST_RESPONSES)
def list_files(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
               number: Number, page: PageDep) -> list[CommitFile]:
    """The files the pull request changes (from the merge base to the head), with their patches."""
    settings = settings_of(request)
    with db(request) as session:
        ref, _, pull = find_pull(session, caller, owner, repo, number)
    files = []
    if pull.head_sha and pull.merge_base:
        git = repos.open_git(settings.repos_dir, ref)
        files = diffmap.pull_diff(git, pull.merge_base, pull.head_sha).files
    link_headers(request, response, page, len(files))
    return [commit_file(f) for f in page.slice(files)]


# --- merging -------------------------------------------------------------------------------------------------


@router.get(_P + "/{number}/merge", status_code=204, response_class=Response,
            responses={204: {"description": "The pull request was merged."}})
def check_merged(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number) -> Response:
    """204 when the pull request was merged, 404 when not (GitHub's check)."""
    with db(request) as session:
        _, _, pull = find_pull(session, caller, owner, repo, number)
        if pull.merged_at is None:
            raise NotFound(N_("Pull request #%(number)s is not merged."), number=number)
    return Response(status_code=204)


@router.put(_P + "/{number}/merge", response_model=MergeResult)
def merge_pull(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
               body: MergeRequest) -> MergeResult:
    """Merge the pull request into its base branch, as the web's merge button does. 409 with the reason when it
    cannot be merged now (conflicts, a draft, missing approvals or checks, the head moved past ``sha``); 422 when
    the repository does not allow the method. Needs ``write:repo`` too: it writes the base branch."""
    settings = settings_of(request)
    user = caller.require_user("write:issue")
    caller.require_scope("write:repo")
    style = FAST_FORWARD if body.merge_method == "fast-forward" else body.merge_method
    with db(request) as session:
        ref, _, pull = find_pull(session, caller, owner, repo, number, write=True)
        sha = merging.merge_pull(session, settings, user, ref, pull, style=style, title=body.commit_title,
                                 message=body.commit_message, delete_branch=body.delete_branch_after_merge,
                                 expected_head=(body.sha or "").lower())
    return MergeResult(merged=True, sha=sha, message="Pull request successfully merged")


@router.put(_P + "/{number}/update-branch", response_model=UpdateBranchResult, status_code=202)
def update_branch(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                  body: UpdateBranchRequest | None = None) -> UpdateBranchResult:
    """Merge the base branch into the head branch ("Update branch"). 409 when the head is up to date, conflicts
    with the base or moved past ``expected_head_sha``; 403 when the caller may not push to the head branch."""
    settings = settings_of(request)
    user = caller.require_user("write:issue")
    caller.require_scope("write:repo")
    with db(request) as session:
        ref, _, pull = find_pull(session, caller, owner, repo, number, write=True)
        sha = merging.update_branch(session, settings, user, ref, pull,
                                    expected_head=(body.expected_head_sha or "").lower() if body else "")
    return UpdateBranchResult(message="Updating pull request branch.", sha=sha)


# --- review requests -----------------------------------------------------------------------------------------


def _change_reviewers(request: Request, caller: Caller, owner: str, repo: str, number: int, logins: list[str],
                      change: Callable[[Session, Account, RepoRef, PullRequest, list[int]], object]) -> PullRequestOut:
    user = caller.require_user("write:issue")
    with db(request) as session:
        ref, issue, pull = find_pull(session, caller, owner, repo, number, write=True)
        change(session, user, ref, pull, users.user_ids_named(session, logins))
        return pull_out(session, settings_of(request).public_url(), ref, pull, issue=issue)


@router.post(_P + "/{number}/requested_reviewers", response_model=PullRequestOut, status_code=201)
def request_reviewers(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                      body: ReviewersRequest) -> PullRequestOut:
    """Ask users for a review (the author or anyone with write access may)."""
    return _change_reviewers(request, caller, owner, repo, number, body.reviewers, reviews.request_review)


@router.delete(_P + "/{number}/requested_reviewers", response_model=PullRequestOut)
def remove_reviewers(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                     body: ReviewersRequest) -> PullRequestOut:
    """Withdraw review requests."""
    return _change_reviewers(request, caller, owner, repo, number, body.reviewers, reviews.remove_review_request)
