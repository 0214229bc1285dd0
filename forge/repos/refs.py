"""Branch and tag management from the web UI and CLI, under the same protection rules as git pushes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from forge.accounts.models import Account
from forge.accounts.users import primary_email
from forge.errors import InvalidInput, NotFound
from forge.git.graph import Divergence, ahead_behind
from forge.git.repository import ZERO_SHA, CommitInfo, RefInfo
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos.protection import check_ref_update, list_rules, matching_rule
from forge.repos.pushes import RefUpdate, record_push
from forge.repos.services import RepoRef, open_git

MAX_REF_PART_BYTES = 250


def list_branches(repos_root: Path, ref: RepoRef) -> list[RefInfo]:
    return open_git(repos_root, ref).branches()


def list_tags(repos_root: Path, ref: RepoRef) -> list[RefInfo]:
    return open_git(repos_root, ref).tags()


def get_ref(repos_root: Path, ref: RepoRef, kind: str, name: str) -> RefInfo:
    """One branch (``kind`` "branch") or tag by its short name, or NotFound."""
    found = list_branches(repos_root, ref) if kind == "branch" else list_tags(repos_root, ref)
    for info in found:
        if info.name == name:
            return info
    raise NotFound(N_("“%(name)s” does not exist."), name=name)


def tag_messages(repos_root: Path, ref: RepoRef, tags: list[RefInfo]) -> dict[str, str]:
    """The messages of the annotated ones among ``tags``, by name (lightweight tags have none)."""
    git = open_git(repos_root, ref)
    found = {t.name: git.tag_message(t.target) for t in tags}
    return {name: message for name, message in found.items() if message is not None}


def protected_names(session: Session, ref: RepoRef, names: list[str]) -> set[str]:
    rules = list_rules(session, ref)
    return {n for n in names if matching_rule(rules, n) is not None}


@dataclass(frozen=True)
class BranchRow:
    """One line of the branches page."""

    name: str
    commit: CommitInfo | None
    is_default: bool
    is_protected: bool
    # Commits ahead of and behind the default branch; None for the default branch itself, or when the repository
    # has no default branch to compare with.
    divergence: Divergence | None = None
    # A protection rule forbids deleting it, so the page offers no delete button that would only be refused.
    undeletable: bool = False


def branch_rows(session: Session, repos_root: Path, ref: RepoRef) -> list[BranchRow]:
    """Branches for the branches page: the default branch first, then the most recently changed, each with how
    far it has diverged from the default branch."""
    git = open_git(repos_root, ref)
    branches = git.branches()
    rules = list_rules(session, ref)
    default = ref.repo.default_branch
    base = next((b.commit.sha for b in branches if b.name == default and b.commit), None)
    rows = []
    for b in branches:
        rule = matching_rule(rules, b.name)
        divergence = ahead_behind(git, b.commit.sha, base) if base and b.commit and b.name != default else None
        undeletable = b.name == default or (rule is not None and not rule.allow_deletion)
        rows.append(BranchRow(b.name, b.commit, b.name == default, rule is not None, divergence, undeletable))
    oldest = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda r: r.commit.committer.when if r.commit else oldest, reverse=True)
    rows.sort(key=lambda r: not r.is_default)  # stable: keeps the date order among the others
    return rows


def _full(kind: str, name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput(N_("A name is required."))
    # Each part of a ref name is a file name on disk, written as "<part>.lock" first: longer parts than the file
    # system takes would fail inside libgit2 rather than as a refusal.
    if any(len(part.encode()) > MAX_REF_PART_BYTES for part in name.split("/")):
        raise InvalidInput(N_("“%(name)s” is not a valid name for a branch or tag."), name=name)
    return f"refs/{'heads' if kind == 'branch' else 'tags'}/{name}"


def create_ref(
    session: Session,
    repos_root: Path,
    actor: Account,
    ref: RepoRef,
    kind: str,
    name: str,
    from_rev: str,
    *,
    message: str = "",
) -> str:
    """Create branch or tag ``name`` at ``from_rev`` and record it as a push event. A tag with a ``message`` is
    annotated, signed by ``actor`` as tagger (the returned id is then the tag object's)."""
    level = require_repo_access(session, actor, ref.repo, Access.WRITE)
    full = _full(kind, name)
    check_ref_update(session, actor, ref, level, full, deleting=False, creating=True)
    git = open_git(repos_root, ref)
    start = from_rev or ref.repo.default_branch
    if kind == "tag" and message.strip():
        sha = git.create_annotated_tag(full.removeprefix("refs/tags/"), start, message.strip() + "\n",
                                       actor.display_name or actor.name, primary_email(session, actor))
    else:
        sha = git.create_ref(full, start)
    record_push(session, ref.repo, actor.id, [RefUpdate(ZERO_SHA, sha, full)], source="web")
    return sha


def delete_ref(session: Session, repos_root: Path, actor: Account, ref: RepoRef, kind: str, name: str) -> None:
    level = require_repo_access(session, actor, ref.repo, Access.WRITE)
    full = _full(kind, name)
    check_ref_update(session, actor, ref, level, full, deleting=True)
    old = open_git(repos_root, ref).delete_ref(full)
    record_push(session, ref.repo, actor.id, [RefUpdate(old, ZERO_SHA, full)], source="web")
