"""Committing a change to one file without git: the API's contents endpoints (create, update, delete a file).

Such a commit is a push by other means, so it goes through the same gate: write access, the branch protection
rules the pre-receive hook applies (a protected branch the user may not push to, changes that must go through a
pull request, required status checks, which a brand-new commit cannot have passed), and a push event recorded
with source "web", so CI, pull requests and webhooks react exactly as to ``git push``.

The caller says which version of the file it changes (its blob id), as with GitHub's API: a stale id is a
conflict, never a silent overwrite; and the branch moves by compare-and-swap (``git update-ref``), so a push that
lands while the commit is being written makes this change fail instead of being lost.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sqlmodel import Session

from forge.accounts.models import Account
from forge.accounts.users import primary_email
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.git.edits import Identity, commit_file, entry_at
from forge.git.repository import ZERO_SHA, CommitInfo, GitRepo
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.pulls.gitops import update_ref
from forge.repos.protection import check_ref_update, list_rules, matching_rule, missing_contexts
from forge.repos.pushes import RefUpdate, record_push
from forge.repos.services import RepoRef, open_git
from forge.settings import Settings

MAX_PATH = 4096
MAX_SEGMENT = 255
MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class FileChange:
    """What to commit: ``content`` None deletes the file. ``expected_sha`` is the blob id the caller last saw
    (None: it believes the file does not exist); ``create_only`` refuses to touch an existing file."""

    path: str
    content: bytes | None
    expected_sha: str | None
    message: str = ""
    branch: str = ""  # "" for the default branch
    new_branch: str = ""  # create this branch from ``branch`` and commit there
    author: Identity | None = None
    create_only: bool = False


@dataclass(frozen=True)
class FileCommitted:
    commit: CommitInfo
    branch: str
    path: str
    blob_sha: str | None  # None after a deletion
    size: int
    created: bool  # the file did not exist before


def clean_path(path: str) -> str:
    """``path`` if it is a path a file may have in a repository; InvalidInput saying why not otherwise."""
    if not path or path.startswith("/") or path.endswith("/"):
        raise InvalidInput(N_("Give the file's path inside the repository, without a leading or trailing “/”."))
    if len(path) > MAX_PATH:
        raise InvalidInput(N_("The path is longer than %(max)s characters."), max=MAX_PATH)
    if "\0" in path or "\\" in path:
        raise InvalidInput(N_("A path may not contain NUL characters or backslashes."))
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise InvalidInput(N_("A path may not contain empty, “.” or “..” parts."))
        if part.lower() == ".git":
            # git refuses such trees: a checkout would write into its own repository directory.
            raise InvalidInput(N_("A path may not contain a “.git” part."))
        if len(part) > MAX_SEGMENT:
            raise InvalidInput(N_("A path part is longer than %(max)s characters."), max=MAX_SEGMENT)
    return path


def decode_content(text: str) -> bytes:
    """The bytes of base64 ``text`` (line breaks allowed, as some clients wrap it); InvalidInput otherwise."""
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(N_("The content must be base64-encoded.")) from exc
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(N_("A file written this way may be at most %(max)s bytes."), max=MAX_FILE_BYTES)
    return data


def _committer(session: Session, actor: Account) -> Identity:
    return Identity(actor.display_name or actor.name, primary_email(session, actor) or f"{actor.name}@users.noreply")


def _base_commit(git: GitRepo, ref: RepoRef, branch: str) -> str | None:
    """The tip of ``branch``; None for the first commit of an empty repository (on its default branch only)."""
    tip = git.ref_target(f"refs/heads/{branch}")
    if tip is not None:
        return tip
    if git.is_empty and branch == ref.repo.default_branch:
        return None
    raise NotFound(N_("There is no branch “%(branch)s” in this repository."), branch=branch)


def _check_expected(change: FileChange, current_kind: str | None, current_sha: str | None) -> None:
    """Refuse a change made against another version of the file than the one now on the branch."""
    if current_kind is not None and current_kind not in ("blob",):
        raise InvalidInput(N_("“%(path)s” is not a regular file; only files can be written here."), path=change.path)
    if change.content is None and current_sha is None:
        raise NotFound(N_("“%(path)s” does not exist on this branch."), path=change.path)
    if current_sha is None:
        if change.expected_sha:
            raise Conflict(N_("“%(path)s” does not exist on this branch any more."), path=change.path)
        return
    if change.create_only:
        raise Conflict(N_("“%(path)s” already exists."), path=change.path)
    if not change.expected_sha:
        raise InvalidInput(N_("Give the sha of the file being replaced: “%(path)s” already exists."),
                           path=change.path)
    if change.expected_sha.lower() != current_sha:
        raise Conflict(N_("“%(path)s” has changed since %(sha)s: read it again and retry."),
                       path=change.path, sha=change.expected_sha)


def _check_protection(session: Session, actor: Account, ref: RepoRef, level: Access, branch: str, new_sha: str,
                      *, creating: bool) -> None:
    """The pre-receive hook's rules for a fast-forward of ``branch`` to ``new_sha`` (or its creation)."""
    full = f"refs/heads/{branch}"
    check_ref_update(session, actor, ref, level, full, deleting=False, creating=creating)
    rule = matching_rule(list_rules(session, ref), branch)
    if rule is None:
        return
    missing = missing_contexts(session, actor, level, ref, rule, new_sha, creating=creating, deleting=False)
    if missing:
        raise PermissionDenied(N_("Branch %(branch)s requires status checks that have not passed: %(contexts)s."),
                               branch=branch, contexts=", ".join(missing))


def commit_change(session: Session, settings: Settings, actor: Account, ref: RepoRef,
                  change: FileChange) -> FileCommitted:
    """Commit ``change`` on its branch as ``actor`` (the committer, and the author unless one is given) and
    record it as a push. Raises NotFound (branch or file missing), Conflict (stale sha, existing file, a lost
    race), PermissionDenied (access or branch protection) and InvalidInput."""
    level = require_repo_access(session, actor, ref.repo, Access.WRITE)
    path = clean_path(change.path)
    git = open_git(settings.repos_dir, ref)
    branch = change.branch or ref.repo.default_branch
    parent = _base_commit(git, ref, branch)
    target = branch
    if change.new_branch:
        target = change.new_branch
        if not git.valid_ref_name(f"refs/heads/{target}"):
            raise InvalidInput(N_("“%(name)s” is not a valid name for a branch or tag."), name=target)
        if git.has_branch(target):
            raise Conflict(N_("“%(name)s” already exists."), name=target)
    current = entry_at(git, parent, path)
    _check_expected(change, current.kind if current else None, current.sha if current else None)
    committer = _committer(session, actor)
    verb = "Delete" if change.content is None else "Update" if current is not None else "Create"
    written = commit_file(git, parent, path, change.content, message=change.message.strip() or f"{verb} {path}",
                          author=change.author or committer, committer=committer)
    creating = parent is None or bool(change.new_branch)
    new_sha = written.commit.sha
    _check_protection(session, actor, ref, level, target, new_sha, creating=creating)
    full = f"refs/heads/{target}"
    old = None if creating else parent
    # The event is flushed before the branch moves and committed after, so a lost race rolls it back with the
    # request, and consumers never see an event for a commit that is not on the branch.
    record_push(session, ref.repo, actor.id, [RefUpdate(old or ZERO_SHA, new_sha, full)], source="web")
    if not update_ref(git, full, new_sha, old or "", git_bin=settings.git_bin):
        raise Conflict(N_("Branch %(branch)s changed while the file was being written; try again."), branch=target)
    if parent is None:
        git.set_head(target)  # the first commit of the repository: its branch is what a clone checks out
    return FileCommitted(written.commit, target, path, written.blob_sha, written.size, created=current is None)
