"""Request bodies and API-only answers of the code endpoints: commits with their diffs, comparisons, file contents
and commit statuses. The commit shape itself is shared with webhooks (forge.wire.git)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from forge.git.diffs import FileDiff, patch_text
from forge.repos import statuses
from forge.wire.git import Commit

MAX_MESSAGE = 64 * 1024
# A file written through the API travels base64-encoded in JSON: 10 MiB of content is about 13.4 MiB of text.
MAX_CONTENT_B64 = 14 * 1024 * 1024
MAX_BRANCH = 255
MAX_PATCH = 256 * 1024  # a longer patch is left out of a file's entry


# --- commits and comparisons -----------------------------------------------------------------------------------

class CommitStats(BaseModel):
    additions: int
    deletions: int
    total: int


class CommitFile(BaseModel):
    filename: str = Field(description="The path after the change (before it, for a deleted file).")
    previous_filename: str | None = Field(default=None, description="The old path of a renamed or copied file.")
    status: Literal["added", "modified", "deleted", "renamed", "copied", "typechange"]
    additions: int
    deletions: int
    changes: int
    binary: bool
    patch: str | None = Field(default=None, description="The unified diff; absent for binary or very large files.")


def commit_file(f: FileDiff) -> CommitFile:
    """One changed file of a commit, comparison or pull request. The patch is left out for binary files, files
    without hunks (renamed only, or collapsed for their size) and patches longer than ``MAX_PATCH``."""
    patch = patch_text(f) if f.hunks and not f.binary else None
    return CommitFile(
        filename=f.path, previous_filename=f.old_path if f.status in ("renamed", "copied") else None,
        status=f.status,  # type: ignore[arg-type]  # one of forge.git.diffs' statuses
        additions=f.additions, deletions=f.deletions, changes=f.additions + f.deletions, binary=f.binary,
        patch=patch if patch is not None and len(patch) <= MAX_PATCH else None)


class CommitDetail(Commit):
    """One commit with its diff against its first parent."""

    stats: CommitStats
    files: list[CommitFile]
    truncated: bool = Field(description="Some changed files or lines were left out (the diff is too large).")


class Comparison(BaseModel):
    status: Literal["identical", "ahead", "behind", "diverged"]
    ahead_by: int = Field(description="Commits on head that base lacks.")
    behind_by: int = Field(description="Commits on base that head lacks.")
    total_commits: int
    base_commit: Commit
    merge_base_commit: Commit | None = Field(description="Absent when the histories are unrelated.")
    html_url: str
    commits: list[Commit] = Field(description="Commits on head that base lacks, newest first (at most 250).")
    files: list[CommitFile]
    truncated: bool


# --- contents ---------------------------------------------------------------------------------------------------

EntryType = Literal["file", "dir", "symlink", "submodule"]


class ContentEntry(BaseModel):
    """One entry of a directory listing."""

    type: EntryType
    name: str
    path: str
    sha: str = Field(description="The blob, tree or (submodule) commit id.")
    size: int = Field(description="Bytes of a file or symbolic link; 0 for directories and submodules.")
    html_url: str
    download_url: str | None = Field(description="The raw content's address; absent for directories and submodules.")


class ContentFile(ContentEntry):
    """A file (or symbolic link, whose content is its target) with its content."""

    encoding: Literal["base64", "none"] = Field(description="\"none\" for a submodule, which has no content here.")
    content: str


class FileAuthor(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    email: str = Field(min_length=3, max_length=255, pattern=r"^[^<>\s@]+@[^<>\s@]+$")


class FileChange(BaseModel):
    """Create or update one file with a new commit."""

    message: str = Field(default="", max_length=MAX_MESSAGE,
                         description="The commit message; \"Create <path>\" or \"Update <path>\" when empty.")
    content: str = Field(max_length=MAX_CONTENT_B64, description="The new content, base64-encoded.")
    sha: str | None = Field(default=None, max_length=64,
                            description="The blob id being replaced: required to update an existing file.")
    branch: str | None = Field(default=None, max_length=MAX_BRANCH,
                               description="The branch to commit to (the default branch when absent).")
    new_branch: str | None = Field(default=None, max_length=MAX_BRANCH,
                                   description="Create this branch from `branch` and commit there.")
    author: FileAuthor | None = Field(default=None, description="The commit's author; the caller when absent.")


class FileDeletion(BaseModel):
    message: str = Field(default="", max_length=MAX_MESSAGE)
    sha: str = Field(max_length=64, description="The blob id of the file being deleted.")
    branch: str | None = Field(default=None, max_length=MAX_BRANCH)
    new_branch: str | None = Field(default=None, max_length=MAX_BRANCH)
    author: FileAuthor | None = None


class FileCommit(BaseModel):
    content: ContentEntry | None = Field(description="The file as written; absent after a deletion.")
    commit: Commit


# --- commit statuses ----------------------------------------------------------------------------------------------

class StatusIn(BaseModel):
    """A status to set. ``state`` also takes GitHub's and GitLab's names (failure, cancelled)."""

    state: str = Field(max_length=32, description="pending, running, success, failed, error or canceled.")
    context: str = Field(default="", max_length=statuses.MAX_CONTEXT + 1,
                         description="What reports the status; \"default\" when empty.")
    description: str = Field(default="", max_length=statuses.MAX_DESCRIPTION + 1)
    target_url: str = Field(default="", max_length=statuses.MAX_TARGET_URL + 1)


class StatusCreator(BaseModel):
    id: int
    login: str


class StatusOut(BaseModel):
    id: int
    state: Literal["pending", "running", "success", "failed", "error", "canceled"]
    context: str
    description: str
    target_url: str = Field(description="The details' address; a forge pipeline's page for the forge's own status.")
    created_at: datetime
    updated_at: datetime
    creator: StatusCreator | None
    url: str


class CombinedStatus(BaseModel):
    state: Literal["pending", "running", "success", "failed", "error", "canceled"]
    sha: str
    total_count: int
    statuses: list[StatusOut]
