"""API: reading files and directories at any branch, tag or commit, raw downloads, and committing a change to one
file (GitHub's and Gitea's contents API).

Reads use the code browser's functions (forge.git.trees). Writes go through forge.repos.files, which applies the
same rules as a push (branch protection, a recorded push event for CI and webhooks) and refuses to overwrite a
version of the file the caller has not seen.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Query, Request, Response

from forge.accounts.models import Account
from forge.errors import NotFound
from forge.git import trees
from forge.git.compare import resolve_side
from forge.git.edits import Identity
from forge.git.history import History
from forge.git.repository import GitRepo
from forge.i18n import N_
from forge.permissions import Access
from forge.repos import files
from forge.repos.services import RepoRef
from forge.wire.git import commit
from web.api.deps import CallerDep, db, settings_of
from web.api.params import Owner, RepoName, open_repo
from web.api.schemas.git import ContentEntry, ContentFile, FileChange, FileCommit, FileDeletion

router = APIRouter(tags=["contents"])

FilePath = Annotated[str, Path(max_length=4096, description="The path inside the repository.")]
RefQuery = Annotated[str, Query(max_length=255, description="Branch, tag or commit id (the default branch when "
                                                             "absent).")]
# Served as bytes, never rendered: whatever a file holds, nothing in it may run as the forge.
RAW_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
RAW_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The file's bytes."},
}
_TYPES = {"tree": "dir", "blob": "file", "link": "symlink", "commit": "submodule"}


def _location(git: GitRepo, ref: RepoRef, rev: str, path: str) -> trees.Location:
    """``path`` at ``rev`` (exactly one branch, tag or commit id, as on the compare page)."""
    name = rev or ref.repo.default_branch
    if git.is_empty:
        raise NotFound(N_("This repository is empty."))
    # One name, as on the compare page: a ref in a query parameter is never split into ref and path.
    side = resolve_side(History(git), name)
    if side is None:
        raise NotFound(N_("“%(rev)s” is not a branch, tag or commit of this repository."), rev=name)
    return trees.Location(name, side.commit, path.strip("/"), side.kind)


def _urls(base: str, ref: RepoRef, rev: str, path: str, kind: str) -> tuple[str, str | None]:
    view = "tree" if kind == "dir" else "blob"
    quoted = f"{quote(rev, safe='/')}/{quote(path, safe='/')}".rstrip("/")
    download = f"{base}/{ref.full_name}/raw/{quoted}" if kind in ("file", "symlink") else None
    return f"{base}/{ref.full_name}/{view}/{quoted}", download


def _entry(base: str, ref: RepoRef, rev: str, path: str, kind: str, sha: str, size: int) -> ContentEntry:
    html_url, download_url = _urls(base, ref, rev, path, kind)
    return ContentEntry(type=kind, name=path.rsplit("/", 1)[-1], path=path, sha=sha,  # type: ignore[arg-type]
                        size=size, html_url=html_url, download_url=download_url)


def _directory(git: GitRepo, base: str, ref: RepoRef, loc: trees.Location) -> list[ContentEntry]:
    entries = trees.list_tree(git, loc)
    sizes = trees.blob_sizes(git, [e.sha for e in entries if e.kind in ("blob", "link")])
    prefix = f"{loc.path}/" if loc.path else ""
    return [_entry(base, ref, loc.ref, prefix + e.name, _TYPES.get(e.kind, "file"), e.sha, sizes.get(e.sha, 0))
            for e in entries]


def _file(git: GitRepo, base: str, ref: RepoRef, loc: trees.Location) -> ContentFile:
    info = trees.read_file(git, loc, files.MAX_FILE_BYTES)
    kind = _TYPES.get(info.kind, "file")
    entry = _entry(base, ref, loc.ref, loc.path, kind, info.sha, info.size)
    if info.data is None:
        # A submodule (its files live elsewhere) or a file too large to send as JSON: fetch it from download_url.
        return ContentFile(**entry.model_dump(), encoding="none", content="")
    return ContentFile(**entry.model_dump(), encoding="base64", content=base64.b64encode(info.data).decode())


def _read(request: Request, caller: CallerDep, owner: str, repo: str, path: str,
          rev: str) -> ContentFile | list[ContentEntry]:
    ref, git = open_repo(request, caller, owner, repo)
    loc = _location(git, ref, rev, path)
    base = settings_of(request).public_url()
    if trees.path_kind(git, loc) == "tree":
        return _directory(git, base, ref, loc)
    return _file(git, base, ref, loc)


@router.get("/repos/{owner}/{repo}/contents", response_model=list[ContentEntry],
            summary="List the root directory")
def get_root(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, ref: RefQuery = "") -> Any:
    return _read(request, caller, owner, repo, "", ref)


@router.get("/repos/{owner}/{repo}/contents/{path:path}", response_model=ContentFile | list[ContentEntry],
            summary="Get a file or list a directory")
def get_contents(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, path: FilePath,
                 ref: RefQuery = "") -> Any:
    """A file comes with its content in base64 (``encoding: none`` and no content past 10 MiB, and for
    submodules); a directory is the list of its entries."""
    return _read(request, caller, owner, repo, path, ref)


@router.get("/repos/{owner}/{repo}/raw/{path:path}", response_class=Response, responses=RAW_RESPONSE,
            summary="Download a file")
def get_raw(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, path: FilePath,
            ref: RefQuery = "") -> Response:
    """The file's bytes as stored (a symbolic link's target), always as ``application/octet-stream``."""
    repo_ref, git = open_repo(request, caller, owner, repo)
    loc = _location(git, repo_ref, ref, path)
    info = trees.read_file(git, loc, None)
    if info.kind == "commit":
        raise NotFound(N_("“%(path)s” is a submodule; its files live in another repository."), path=loc.path)
    headers = dict(RAW_HEADERS, **{"Cache-Control": "private, no-cache" if repo_ref.repo.is_private else "no-cache"})
    return Response(info.data or b"", media_type="application/octet-stream", headers=headers)


def _write(request: Request, caller: CallerDep, owner: str, repo: str,
           change: files.FileChange) -> tuple[FileCommit, bool]:
    """The commit made, and whether the file is new."""
    user: Account = caller.require_user("write:repo")
    ref, _ = open_repo(request, caller, owner, repo, Access.WRITE)
    settings = settings_of(request)
    with db(request) as session:
        done = files.commit_change(session, settings, user, ref, change)
    base = settings.public_url()
    content = None
    if done.blob_sha is not None:
        content = _entry(base, ref, done.branch, done.path, "file", done.blob_sha, done.size)
    return FileCommit(content=content, commit=commit(done.commit, ref.full_name, base)), done.created


def _identity(body: FileChange | FileDeletion) -> Identity | None:
    return Identity(body.author.name, body.author.email) if body.author is not None else None


def _change(path: str, body: FileChange, create_only: bool) -> files.FileChange:
    return files.FileChange(path=path, content=files.decode_content(body.content), expected_sha=body.sha,
                            message=body.message, branch=body.branch or "", new_branch=body.new_branch or "",
                            author=_identity(body), create_only=create_only)


@router.put("/repos/{owner}/{repo}/contents/{path:path}", response_model=FileCommit, status_code=201,
            responses={200: {"model": FileCommit, "description": "An existing file was updated."}},
            summary="Create or update a file")
def put_file(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
             path: FilePath, body: FileChange) -> FileCommit:
    """Commits the new content on ``branch`` (or ``new_branch``). Updating needs ``sha``, the blob id being
    replaced: another id is a 409, so a change made meanwhile is never overwritten. 201 when the file is new,
    200 when it was updated. Needs ``write:repo``, and the branch's protection rules must allow a push."""
    result, created = _write(request, caller, owner, repo, _change(path, body, create_only=False))
    if not created:
        response.status_code = 200
    return result


@router.post("/repos/{owner}/{repo}/contents/{path:path}", response_model=FileCommit, status_code=201,
             summary="Create a file")
def create_file(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, path: FilePath,
                body: FileChange) -> FileCommit:
    """Like PUT, but only for a new file: an existing one is a 409."""
    return _write(request, caller, owner, repo, _change(path, body, create_only=True))[0]


@router.delete("/repos/{owner}/{repo}/contents/{path:path}", response_model=FileCommit,
               summary="Delete a file")
def delete_file(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, path: FilePath,
                body: Annotated[FileDeletion, Body()]) -> FileCommit:
    """Commits the file's removal; ``sha`` must be the blob id of the file on the branch."""
    change = files.FileChange(path=path, content=None, expected_sha=body.sha, message=body.message,
                              branch=body.branch or "", new_branch=body.new_branch or "", author=_identity(body))
    return _write(request, caller, owner, repo, change)[0]
