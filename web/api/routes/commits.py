"""API: commit history, one commit with its diff, and comparisons, read with the code pages' own git functions
(forge.git.history and forge.git.compare), so the API and the web pages always agree and share their limits.

History is paged without a total (counting a long history would cost as much as walking it): the ``Link`` header
has ``next`` while older commits exist, and ``first``/``prev`` past the first page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from forge.errors import InvalidInput, NotFound
from forge.git import compare as comparing
from forge.git.diffs import CommitDiff
from forge.git.history import History
from forge.git.repository import GitRepo
from forge.i18n import N_
from forge.wire.git import Commit, commit
from web.api.deps import CallerDep, settings_of
from web.api.pagination import LIST_HEADERS, Page, PageDep
from web.api.params import Owner, RepoName, open_repo
from web.api.schemas.git import CommitDetail, CommitFile, CommitStats, Comparison, commit_file

router = APIRouter(tags=["commits"])

RefSpec = Annotated[str, Path(max_length=1024, description="A commit id, or a branch or tag name.")]


def _aware(when: datetime | None) -> datetime | None:
    # A date without a zone ("2026-01-01T00:00:00") is taken as UTC, as commit dates are shown.
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _start(history: History, git: GitRepo, name: str, default_branch: str) -> str | None:
    """The commit id the history starts from; None for an empty repository's default branch."""
    if not name:
        tip = git.ref_target(f"refs/heads/{default_branch}")
        if tip is None and git.is_empty:
            return None
        name = default_branch
    side = comparing.resolve_side(history, name)
    if side is None:
        raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=name)
    return side.commit.sha


def _history_links(request: Request, response: Response, page: Page, has_older: bool) -> None:
    url = request.url
    links = []
    if has_older:
        links.append(f'<{url.include_query_params(page=page.page + 1, per_page=page.per_page)}>; rel="next"')
    if page.page > 1:
        links.append(f'<{url.include_query_params(page=1, per_page=page.per_page)}>; rel="first"')
        links.append(f'<{url.include_query_params(page=page.page - 1, per_page=page.per_page)}>; rel="prev"')
    if links:
        response.headers["Link"] = ", ".join(links)


@router.get("/repos/{owner}/{repo}/commits", response_model=list[Commit], summary="List commits",
            responses={200: {"headers": {"Link": LIST_HEADERS["Link"]}}})
def list_commits(
    request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName, page: PageDep,
    sha: Annotated[str, Query(max_length=255, description="Branch, tag or commit id to start from "
                                                          "(the default branch when absent).")] = "",
    path: Annotated[str, Query(max_length=4096, description="Only commits that changed this path.")] = "",
    since: Annotated[datetime | None, Query(description="Only commits committed at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="Only commits committed at or before this time.")] = None,
) -> list[Commit]:
    """Newest first (a commit always before its parents). An empty repository has no commits."""
    ref, git = open_repo(request, caller, owner, repo)
    history = History(git)
    start = _start(history, git, sha, ref.repo.default_branch)
    if start is None:
        _history_links(request, response, page, False)
        return []
    found = history.log(start, path=path.strip("/"), page=page.page, per_page=page.per_page,
                        since=_aware(since), until=_aware(until))
    _history_links(request, response, page, found.has_older)
    base = settings_of(request).public_url()
    return [commit(c, ref.full_name, base) for c in found.commits]


def _files(diff: CommitDiff | None) -> list[CommitFile]:
    if diff is None:
        return []
    return [commit_file(f) for f in diff.files]


@router.get("/repos/{owner}/{repo}/commits/{ref:path}", response_model=CommitDetail, summary="Get a commit")
def get_commit(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, ref: RefSpec) -> CommitDetail:
    """The commit with its diff against its first parent, bounded like the commit page (200 files, 5,000
    lines; ``truncated`` says when something was left out)."""
    repo_ref, git = open_repo(request, caller, owner, repo)
    history = History(git)
    info = history.commit(ref)
    diff = history.diff(info.sha)
    return CommitDetail(
        **commit(info, repo_ref.full_name, settings_of(request).public_url()).model_dump(),
        stats=CommitStats(additions=diff.additions, deletions=diff.deletions, total=diff.additions + diff.deletions),
        files=_files(diff),
        truncated=diff.truncated,
    )


@router.get("/repos/{owner}/{repo}/compare/{basehead:path}", response_model=Comparison,
            summary="Compare two commits")
def compare(
    request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
    basehead: Annotated[str, Path(max_length=2048, description="`base...head` (from their merge base) or "
                                                               "`base..head` (tree against tree).")],
) -> Comparison:
    """The commits on head that base lacks (at most 250, newest first) and the diff head would bring, as on the
    compare page. Each side is a branch, tag or commit id."""
    repo_ref, git = open_repo(request, caller, owner, repo)
    if ".." not in basehead:
        raise InvalidInput(N_("A comparison needs both sides, written as base...head or base..head."))
    base_name, head_name, three_dot = comparing.parse_spec(basehead)
    found = comparing.compare(git, base_name, head_name, three_dot=three_dot)
    history = History(git)
    base_sha, head_sha = found.base.commit.sha, found.head.commit.sha
    # commits_between with no room to list counts them: here the commits base has and head lacks.
    _, behind = history.commits_between(head_sha, base_sha, 0) if not found.identical else ([], 0)
    ahead = found.total_commits
    status = "identical" if found.identical else "behind" if not ahead else "ahead" if not behind else "diverged"
    url = settings_of(request).public_url()
    name = repo_ref.full_name
    return Comparison(
        status=status,  # type: ignore[arg-type]
        ahead_by=ahead,
        behind_by=behind,
        total_commits=ahead,
        base_commit=commit(found.base.commit, name, url),
        merge_base_commit=commit(history.commit(found.merge_base), name, url) if found.merge_base else None,
        html_url=f"{url}/{name}/compare/{base_name}{found.operator}{head_name}",
        commits=[commit(c, name, url) for c in found.commits],
        files=_files(found.diff),
        truncated=found.diff.truncated if found.diff is not None else False,
    )
