"""Repository life cycle: create, look up, list, rename, transfer, fork, delete, settings, collaborators.

Each operation that touches both the database and the disk does the disk part last and undoes it (or the
database part) when the other fails, so a failure never leaves a row without a directory or the reverse.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, or_, true
from sqlmodel import Session, col, func, select

from forge.accounts.models import Account, AccountKind, OrgMember, Team, TeamMember, TeamRepo
from forge.accounts.orgs import orgs_of
from forge.accounts.users import find_account, get_account, primary_email
from forge.db.models_base import utcnow
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.git.repository import GitRepo, clone_bare, init_bare
from forge.i18n import N_
from forge.names import validate_repo_name, validate_topics
from forge.permissions import Access, can_create_in, repo_access, require_repo_access
from forge.repos.initial_files import initial_files
from forge.repos.models import Collaborator, ProtectedBranch, PushEvent, Repository
from forge.repos.storage import move_repo_dir, repo_path
from forge.webhooks import repo_events


@dataclass(frozen=True)
class RepoRef:
    """A repository with its owner, as most pages need both."""

    repo: Repository
    owner: Account

    @property
    def full_name(self) -> str:
        return f"{self.owner.name}/{self.repo.name}"


def path_of(repos_root: Path, ref: RepoRef) -> Path:
    return repo_path(repos_root, ref.owner.name, ref.repo.name)


def open_git(repos_root: Path, ref: RepoRef) -> GitRepo:
    return GitRepo(path_of(repos_root, ref))


def find_repo(session: Session, owner_name: str, repo_name: str) -> RepoRef | None:
    owner = find_account(session, owner_name)
    if owner is None:
        return None
    repo = session.exec(
        select(Repository).where(Repository.owner_id == owner.id, Repository.lower_name == repo_name.lower())
    ).first()
    return RepoRef(repo, owner) if repo else None


def get_visible_repo(
    session: Session,
    actor: Account | None,
    owner_name: str,
    repo_name: str,
    needed: Access = Access.READ,
    *,
    token_scopes: frozenset[str] | None = None,
) -> tuple[RepoRef, Access]:
    """Look a repository up for ``actor``: a private one they may not see is reported as not found."""
    ref = find_repo(session, owner_name, repo_name)
    if ref is None:
        raise NotFound(N_("Repository not found."))
    level = require_repo_access(session, actor, ref.repo, needed, token_scopes=token_scopes)
    return ref, level


def get_repo_by_id(session: Session, repo_id: int) -> RepoRef | None:
    repo = session.get(Repository, repo_id)
    if repo is None:
        return None
    owner = session.get(Account, repo.owner_id)
    assert owner is not None
    return RepoRef(repo, owner)


def visible_repos_filter(session: Session, actor: Account | None) -> ColumnElement[bool]:
    """A WHERE clause selecting the repositories ``actor`` may see (same rules as permissions.repo_access)."""
    if actor is None:
        return col(Repository.is_private) == False  # noqa: E712
    if actor.is_admin:
        return true()
    return or_(col(Repository.is_private) == False, affiliated_repos_filter(actor))  # noqa: E712


def affiliated_repos_filter(actor: Account) -> ColumnElement[bool]:
    """A WHERE clause selecting the repositories ``actor`` has access to of their own (owned, collaborator,
    organisation owner, team), public or not: GitHub's "your repositories"."""
    collab = select(Collaborator.repo_id).where(Collaborator.user_id == actor.id)
    owned_orgs = select(OrgMember.org_id).where(OrgMember.user_id == actor.id, OrgMember.is_owner == True)  # noqa: E712
    my_teams = select(TeamMember.team_id).where(TeamMember.user_id == actor.id)
    team_repos = select(TeamRepo.repo_id).where(col(TeamRepo.team_id).in_(my_teams))
    all_repo_orgs = select(Team.org_id).where(col(Team.id).in_(my_teams), Team.includes_all_repos == True)  # noqa: E712
    return or_(
        col(Repository.owner_id) == actor.id,
        col(Repository.id).in_(collab),
        col(Repository.owner_id).in_(owned_orgs),
        col(Repository.id).in_(team_repos),
        col(Repository.owner_id).in_(all_repo_orgs),
    )


def _listing_filters(
    session: Session, actor: Account | None, owner: Account | None, query: str, affiliated: bool,
    fork_of: int | None,
) -> list[ColumnElement[bool]]:
    where = [visible_repos_filter(session, actor)]
    if affiliated and actor is not None:
        where.append(affiliated_repos_filter(actor))
    if owner is not None:
        where.append(col(Repository.owner_id) == owner.id)
    if fork_of is not None:
        where.append(col(Repository.fork_of_id) == fork_of)
    if query:
        where.append(col(Repository.lower_name).contains(query.lower()))
    return where


def list_repos(
    session: Session,
    actor: Account | None,
    *,
    owner: Account | None = None,
    query: str = "",
    offset: int = 0,
    limit: int = 50,
    affiliated: bool = False,
    fork_of: int | None = None,
) -> list[RepoRef]:
    """Repositories ``actor`` may see, most recently updated first; ``affiliated`` keeps only those they have
    access to of their own (not merely public ones), ``fork_of`` only the forks of one repository."""
    stmt = select(Repository, Account).join(Account, col(Account.id) == Repository.owner_id)
    stmt = stmt.where(*_listing_filters(session, actor, owner, query, affiliated, fork_of))
    stmt = stmt.order_by(col(Repository.updated_at).desc(), col(Repository.id).desc()).offset(offset).limit(limit)
    return [RepoRef(r, o) for r, o in session.exec(stmt)]


def count_listed_repos(
    session: Session,
    actor: Account | None,
    *,
    owner: Account | None = None,
    query: str = "",
    affiliated: bool = False,
    fork_of: int | None = None,
) -> int:
    """How many repositories :func:`list_repos` would list with the same filters (for paging)."""
    stmt = select(func.count()).select_from(Repository)
    return session.exec(stmt.where(*_listing_filters(session, actor, owner, query, affiliated, fork_of))).one()


def count_repos(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Repository)).one()


def _check_free(session: Session, owner: Account, name: str) -> None:
    exists = session.exec(
        select(Repository).where(Repository.owner_id == owner.id, Repository.lower_name == name.lower())
    ).first()
    if exists is not None:
        raise Conflict(N_("%(owner)s already has a repository called “%(name)s”."), owner=owner.name, name=name)


def create_repository(
    session: Session,
    repos_root: Path,
    actor: Account,
    owner: Account,
    name: str,
    *,
    private: bool = False,
    description: str = "",
    readme: bool = False,
    gitignore: str = "",
    license: str = "",
    default_branch: str = "main",
) -> RepoRef:
    validate_repo_name(name)
    if not can_create_in(session, actor, owner):
        raise PermissionDenied(N_("You cannot create repositories in %(owner)s."), owner=owner.name)
    _check_free(session, owner, name)
    default_branch = default_branch.strip() or "main"
    if not GitRepo.valid_ref_name(f"refs/heads/{default_branch}"):
        raise InvalidInput(N_("“%(name)s” is not a valid branch name."), name=default_branch)
    files = initial_files(
        repo_name=name,
        description=description,
        owner=owner.display_name or owner.name,
        readme=readme,
        gitignore=gitignore,
        license=license,
    )
    assert owner.id is not None
    repo = Repository(
        owner_id=owner.id,
        name=name,
        lower_name=name.lower(),
        description=description.strip()[:1024],
        is_private=private,
        default_branch=default_branch,
    )
    session.add(repo)
    session.flush()
    ref = RepoRef(repo, owner)
    path = path_of(repos_root, ref)
    if path.exists():
        # A leftover directory without a row (e.g. a crash during delete): refuse rather than adopt its content.
        raise Conflict(N_("The storage for this repository already exists; ask an administrator to check it."))
    try:
        init_bare(path, default_branch)
        if files:
            git = GitRepo(path)
            sha = git.create_initial_commit(
                files,
                branch=default_branch,
                author_name=actor.display_name or actor.name,
                author_email=primary_email(session, actor),
                message="Initial commit",
            )
            assert repo.id is not None
            session.add(
                PushEvent(
                    repo_id=repo.id,
                    pusher_id=actor.id,
                    ref=f"refs/heads/{default_branch}",
                    old_sha="0" * 40,
                    new_sha=sha,
                    source="web",
                )
            )
        session.flush()
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    repo_events.created(session, actor, ref)
    return ref


def require_admin(session: Session, actor: Account | None, ref: RepoRef) -> None:
    require_repo_access(session, actor, ref.repo, Access.ADMIN)


def update_settings(
    session: Session,
    actor: Account,
    ref: RepoRef,
    *,
    description: str | None = None,
    website: str | None = None,
    topics: str | None = None,
    private: bool | None = None,
) -> None:
    require_admin(session, actor, ref)
    repo = ref.repo
    if description is not None:
        if len(description) > 1024:
            raise InvalidInput(N_("The description may be at most 1024 characters long."))
        repo.description = description.strip()
    if website is not None:
        website = website.strip()
        if website and not website.startswith(("http://", "https://")):
            raise InvalidInput(N_("The website must start with http:// or https://."))
        repo.website = website[:256]
    if topics is not None:
        repo.topics = " ".join(validate_topics(topics))
    visibility_changed = private is not None and private != repo.is_private
    if private is not None:
        repo.is_private = private
    repo.updated_at = utcnow()
    session.add(repo)
    if visibility_changed:
        repo_events.visibility_changed(session, actor, ref)


def set_topics(session: Session, actor: Account, ref: RepoRef, topics: list[str]) -> None:
    """Replace the topics with a list (the API's form of the settings page's space-separated text): each item
    must be one topic, validated as the settings page validates them."""
    for topic in topics:
        if not topic.strip() or any(c.isspace() or c == "," for c in topic.strip()):
            raise InvalidInput(
                N_("“%(topic)s” is not a valid topic: use lower-case letters, digits and “-”, up to 35 long."),
                topic=topic,
            )
    update_settings(session, actor, ref, topics=" ".join(topics))


def set_default_branch(session: Session, repos_root: Path, actor: Account, ref: RepoRef, branch: str) -> None:
    require_admin(session, actor, ref)
    git = open_git(repos_root, ref)
    if not git.is_empty and not git.has_branch(branch):
        raise InvalidInput(N_("There is no branch called “%(name)s”."), name=branch)
    if not GitRepo.valid_ref_name(f"refs/heads/{branch}"):
        raise InvalidInput(N_("“%(name)s” is not a valid branch name."), name=branch)
    git.set_head(branch)
    ref.repo.default_branch = branch
    session.add(ref.repo)


def rename_repository(session: Session, repos_root: Path, actor: Account, ref: RepoRef, new_name: str) -> RepoRef:
    require_admin(session, actor, ref)
    validate_repo_name(new_name)
    if new_name.lower() != ref.repo.lower_name:
        _check_free(session, ref.owner, new_name)
    old_path = path_of(repos_root, ref)
    old_name = ref.repo.name
    ref.repo.name = new_name
    ref.repo.lower_name = new_name.lower()
    ref.repo.updated_at = utcnow()
    session.add(ref.repo)
    session.flush()
    new_path = path_of(repos_root, ref)
    if new_path != old_path:
        move_repo_dir(old_path, new_path)
    repo_events.renamed(session, actor, ref, old_name)
    return ref


def transfer_repository(
    session: Session, repos_root: Path, actor: Account, ref: RepoRef, new_owner_name: str
) -> RepoRef:
    """Give the repository to another user or organisation. Collaborators and team links are dropped, as on
    GitHub, because they were granted by the old owner."""
    if repo_access(session, actor, ref.repo) < Access.OWNER:
        raise PermissionDenied(N_("Only the owner can transfer a repository."))
    new_owner = get_account(session, new_owner_name)
    if new_owner.id == ref.owner.id:
        raise InvalidInput(N_("The repository already belongs to %(owner)s."), owner=new_owner.name)
    if not can_create_in(session, actor, new_owner):
        raise PermissionDenied(N_("You cannot create repositories in %(owner)s."), owner=new_owner.name)
    _check_free(session, new_owner, ref.repo.name)
    old_path = path_of(repos_root, ref)
    assert new_owner.id is not None
    ref.repo.owner_id = new_owner.id
    ref.repo.updated_at = utcnow()
    for row in session.exec(select(Collaborator).where(Collaborator.repo_id == ref.repo.id)):
        session.delete(row)
    for link in session.exec(select(TeamRepo).where(TeamRepo.repo_id == ref.repo.id)):
        session.delete(link)
    session.add(ref.repo)
    session.flush()
    new_ref = RepoRef(ref.repo, new_owner)
    move_repo_dir(old_path, path_of(repos_root, new_ref))
    repo_events.transferred(session, actor, new_ref, ref.owner)
    return new_ref


def delete_repository(session: Session, repos_root: Path, actor: Account, ref: RepoRef, confirm: str) -> None:
    """Delete a repository. ``confirm`` must be its full name, typed by the person deleting it."""
    if repo_access(session, actor, ref.repo) < Access.OWNER:
        raise PermissionDenied(N_("Only the owner can delete a repository."))
    if confirm.strip().lower() != ref.full_name.lower():
        raise InvalidInput(N_("Type %(name)s to confirm the deletion."), name=ref.full_name)
    repo_events.deleted(session, actor, ref)  # built while the repository still exists
    purge_repository(session, repos_root, ref)


def purge_repository(session: Session, repos_root: Path, ref: RepoRef) -> None:
    """Remove a repository's rows and directory (no permission check: callers have done it)."""
    path = path_of(repos_root, ref)
    for fork in session.exec(select(Repository).where(Repository.fork_of_id == ref.repo.id)):
        fork.fork_of_id = None
        session.add(fork)
    for model in (Collaborator, ProtectedBranch, PushEvent, TeamRepo):
        for row in session.exec(select(model).where(model.repo_id == ref.repo.id)):
            session.delete(row)
    session.delete(ref.repo)
    session.flush()
    # Move the directory aside first so a crash half-way through rmtree cannot leave a repository that looks
    # valid; a leftover *.deleted directory is garbage an operator can remove.
    if path.exists():
        trash = path.with_name(path.name + f".deleted-{ref.repo.id}")
        path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)


def fork_repository(
    session: Session,
    repos_root: Path,
    git_bin: str,
    actor: Account,
    source: RepoRef,
    *,
    owner: Account | None = None,
    name: str | None = None,
) -> RepoRef:
    require_repo_access(session, actor, source.repo, Access.READ)
    target_owner = owner or actor
    target_name = name or source.repo.name
    validate_repo_name(target_name)
    if not can_create_in(session, actor, target_owner):
        raise PermissionDenied(N_("You cannot create repositories in %(owner)s."), owner=target_owner.name)
    if target_owner.id == source.owner.id:
        raise InvalidInput(N_("A repository cannot be forked into its own owner."))
    _check_free(session, target_owner, target_name)
    assert target_owner.id is not None
    repo = Repository(
        owner_id=target_owner.id,
        name=target_name,
        lower_name=target_name.lower(),
        description=source.repo.description,
        topics=source.repo.topics,
        is_private=source.repo.is_private,
        default_branch=source.repo.default_branch,
        fork_of_id=source.repo.id,
    )
    session.add(repo)
    session.flush()
    ref = RepoRef(repo, target_owner)
    dst = path_of(repos_root, ref)
    clone_bare(git_bin, path_of(repos_root, source), dst)
    return ref


def fork_source(session: Session, ref: RepoRef) -> RepoRef | None:
    return get_repo_by_id(session, ref.repo.fork_of_id) if ref.repo.fork_of_id else None


def count_forks(session: Session, ref: RepoRef) -> int:
    return session.exec(
        select(func.count()).select_from(Repository).where(Repository.fork_of_id == ref.repo.id)
    ).one()


# --- collaborators -------------------------------------------------------------------------------------------


def list_collaborators(session: Session, ref: RepoRef) -> list[tuple[Collaborator, Account]]:
    stmt = (
        select(Collaborator, Account)
        .join(Account, col(Account.id) == Collaborator.user_id)
        .where(Collaborator.repo_id == ref.repo.id)
        .order_by(col(Account.lower_name))
    )
    return [(c, a) for c, a in session.exec(stmt)]


def set_collaborator(session: Session, actor: Account, ref: RepoRef, user: Account, permission: str) -> None:
    require_admin(session, actor, ref)
    if permission not in ("read", "write", "admin"):
        raise InvalidInput(N_("Permission must be read, write or admin."))
    if user.kind != AccountKind.USER:
        raise InvalidInput(N_("Only users can be collaborators."))
    if user.id == ref.owner.id:
        raise InvalidInput(N_("The owner already has full access."))
    row = session.exec(
        select(Collaborator).where(Collaborator.repo_id == ref.repo.id, Collaborator.user_id == user.id)
    ).first()
    if row is None:
        assert ref.repo.id is not None and user.id is not None
        row = Collaborator(repo_id=ref.repo.id, user_id=user.id)
    row.permission = permission
    session.add(row)
    session.flush()


def remove_collaborator(session: Session, actor: Account, ref: RepoRef, user: Account) -> None:
    require_admin(session, actor, ref)
    row = session.exec(
        select(Collaborator).where(Collaborator.repo_id == ref.repo.id, Collaborator.user_id == user.id)
    ).first()
    if row is None:
        raise NotFound(N_("%(user)s is not a collaborator."), user=user.name)
    session.delete(row)


def creatable_owners(session: Session, actor: Account) -> list[Account]:
    """The accounts ``actor`` may create, fork or transfer repositories into: themselves first, then their
    organisations (the same rule as :func:`forge.permissions.can_create_in`)."""
    return [actor, *(org for org in orgs_of(session, actor) if can_create_in(session, actor, org))]
