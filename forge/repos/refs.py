"""Branch and tag management from the web UI and CLI, under the same protection rules as git pushes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from forge.accounts.models import Account
from forge.errors import InvalidInput
from forge.git.graph import Divergence, ahead_behind
from forge.git.repository import ZERO_SHA, CommitInfo, RefInfo
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos.protection import check_ref_update, list_rules, matching_rule
from forge.repos.pushes import RefUpdate, record_push
from forge.repos.services import RepoRef, open_git


def list_branches(repos_root: Path, ref: RepoRef) -> list[RefInfo]:
    return open_git(repos_root, ref).branches()


def list_tags(repos_root: Path, ref: RepoRef) -> list[RefInfo]:
    return open_git(repos_root, ref).tags()


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
    return f"refs/{'heads' if kind == 'branch' else 'tags'}/{name}"


def create_ref(
    session: Session,
    repos_root: Path,
    actor: Account,
    ref: RepoRef,
    kind: str,
    name: str,
    from_rev: str,
) -> str:
    """Create branch or tag ``name`` at ``from_rev`` and record it as a push event."""
    level = require_repo_access(session, actor, ref.repo, Access.WRITE)
    full = _full(kind, name)
    check_ref_update(session, actor, ref, level, full, deleting=False, creating=True)
    git = open_git(repos_root, ref)
    sha = git.create_ref(full, from_rev or ref.repo.default_branch)
    record_push(session, ref.repo, actor.id, [RefUpdate(ZERO_SHA, sha, full)], source="web")
    return sha


def delete_ref(session: Session, repos_root: Path, actor: Account, ref: RepoRef, kind: str, name: str) -> None:
    level = require_repo_access(session, actor, ref.repo, Access.WRITE)
    full = _full(kind, name)
    check_ref_update(session, actor, ref, level, full, deleting=True)
    old = open_git(repos_root, ref).delete_ref(full)
    record_push(session, ref.repo, actor.id, [RefUpdate(old, ZERO_SHA, full)], source="web")
