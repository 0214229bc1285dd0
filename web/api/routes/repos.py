"""API: repositories (read, create, update, rename, delete), lists, forks, collaborators and topics.

Every change goes through forge.repos.services, the same functions the settings pages call, so the API and the
web UI enforce one set of rules. The repository is looked up with the token's scopes (``read:repo`` reads,
``write:repo`` creates and forks, ``admin:repo`` settings, collaborators and deletion); the service then checks
the user's own permission as it does for the web UI.
"""

from __future__ import annotations

from typing import Literal, cast

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from forge.accounts import orgs, users
from forge.accounts.models import Account
from forge.errors import NotFound
from forge.i18n import N_
from forge.permissions import Access, repo_access
from forge.repos import services as repos
from forge.repos.services import RepoRef
from forge.wire.repos import RepositoryOut, repository
from forge.wire.users import user_brief
from web.api.deps import Caller, CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, Page, PageDep, link_headers
from web.api.params import AccountName, Owner, RepoName, code_repo
from web.api.schemas.repos import (
    Collaborator,
    CollaboratorPermission,
    CollaboratorPut,
    ForkCreate,
    Permission,
    RepoCreate,
    RepoUpdate,
    Topics,
)

router = APIRouter(tags=["repos"])

_R = "/repos/{owner}/{repo}"
_CREATED: dict[int | str, dict[str, object]] = {
    201: {"headers": {"Location": {"description": "The new repository's API URL.", "schema": {"type": "string"}}}}
}
_LEVEL_NAMES: dict[Access, Literal["admin", "write", "read", "none"]] = {
    Access.ADMIN: "admin", Access.WRITE: "write", Access.READ: "read", Access.NONE: "none",
}
_NO_CONTENT: dict[int | str, dict[str, object]] = {204: {"description": "Done."}}


def api_url(request: Request, path: str) -> str:
    """An absolute API URL for a Location header (the API's mount point is the request's root path)."""
    return f"{settings_of(request).public_url()}{request.scope.get('root_path', '')}{path}"


def _viewer(caller: Caller) -> Account | None:
    """Whom lists are filtered for: a token without ``read:repo`` sees what an anonymous visitor sees, as it may
    not read the private repositories its user could."""
    return caller.user if caller.allows("read:repo") else None


def _out(request: Request, session: Session, ref: RepoRef, level: Access | None) -> RepositoryOut:
    return repository(session, ref, settings_of(request).public_url(), access=level)


def _list(
    request: Request, response: Response, caller: Caller, page: Page, *, owner: Account | None = None,
    affiliated: bool = False, fork_of: int | None = None,
) -> list[RepositoryOut]:
    viewer = _viewer(caller)
    with db(request) as session:
        total = repos.count_listed_repos(session, viewer, owner=owner, affiliated=affiliated, fork_of=fork_of)
        found = repos.list_repos(session, viewer, owner=owner, affiliated=affiliated, fork_of=fork_of,
                                 offset=page.offset, limit=page.limit)
        items = [
            _out(request, session, ref,
                 repo_access(session, viewer, ref.repo, token_scopes=caller.scopes) if viewer else None)
            for ref in found
        ]
    link_headers(request, response, page, total)
    return items


def _created(request: Request, response: Response, session: Session, caller: Caller, ref: RepoRef) -> RepositoryOut:
    response.headers["Location"] = api_url(request, f"/repos/{ref.full_name}")
    # Not necessarily admin: a plain member creating in an organisation has the access its teams give.
    return _out(request, session, ref, repo_access(session, caller.user, ref.repo, token_scopes=caller.scopes))


# --- one repository -----------------------------------------------------------------------------------------


@router.get(_R, response_model=RepositoryOut, summary="Get a repository")
def get_repo(request: Request, caller: CallerDep, owner: Owner, repo: RepoName) -> RepositoryOut:
    """Public repositories are readable anonymously; a private one the caller cannot see is 404."""
    with db(request) as session:
        ref, level = repos.get_visible_repo(session, caller.user, owner, repo, token_scopes=caller.scopes)
        return _out(request, session, ref, level if caller.user else None)


@router.patch(_R, response_model=RepositoryOut, summary="Update a repository's settings or rename it")
def update_repo(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                body: RepoUpdate) -> RepositoryOut:
    """Needs admin access (``admin:repo``). Only the fields sent change; ``name`` renames the repository."""
    user = caller.require_user("admin:repo")
    repos_dir = settings_of(request).repos_dir
    with db(request) as session:
        ref, level = repos.get_visible_repo(session, user, owner, repo, Access.ADMIN, token_scopes=caller.scopes)
        repos.update_settings(session, user, ref, description=body.description, website=body.website,
                              private=body.private)
        if body.default_branch is not None and body.default_branch != ref.repo.default_branch:
            repos.set_default_branch(session, repos_dir, user, ref, body.default_branch)
        if body.name is not None and body.name != ref.repo.name:
            # Last: it moves the directory on disk, after everything that could still refuse.
            ref = repos.rename_repository(session, repos_dir, user, ref, body.name)
        return _out(request, session, ref, level)


@router.delete(_R, status_code=204, response_class=Response, responses=_NO_CONTENT, summary="Delete a repository")
def delete_repo(request: Request, caller: CallerDep, owner: Owner, repo: RepoName) -> Response:
    """Needs ``admin:repo`` and ownership (the owner, or an owner of the owning organisation)."""
    user = caller.require_user("admin:repo")
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        # The API call itself is the confirmation the web form asks to type.
        repos.delete_repository(session, settings_of(request).repos_dir, user, ref, ref.full_name)
    return Response(status_code=204)


# --- creating and listing ------------------------------------------------------------------------------------


def _create(request: Request, response: Response, caller: Caller, owner_name: str | None,
            body: RepoCreate) -> RepositoryOut:
    user = caller.require_user("write:repo")
    with db(request) as session:
        owner = orgs.get_org(session, owner_name) if owner_name is not None else user
        ref = repos.create_repository(
            session, settings_of(request).repos_dir, user, owner, body.name, private=body.private,
            description=body.description, readme=body.auto_init, gitignore=body.gitignore_template,
            license=body.license_template, default_branch=body.default_branch,
        )
        return _created(request, response, session, caller, ref)


@router.post("/user/repos", response_model=RepositoryOut, status_code=201, responses=_CREATED,
             summary="Create a repository for the authenticated user")
def create_user_repo(request: Request, response: Response, caller: CallerDep, body: RepoCreate) -> RepositoryOut:
    """Needs ``write:repo``. ``auto_init`` (or a template) makes an initial commit on ``default_branch``."""
    return _create(request, response, caller, None, body)


@router.post("/orgs/{org}/repos", response_model=RepositoryOut, status_code=201, responses=_CREATED,
             summary="Create a repository in an organisation")
def create_org_repo(request: Request, response: Response, caller: CallerDep, org: AccountName,
                    body: RepoCreate) -> RepositoryOut:
    """Needs ``write:repo`` and membership of the organisation."""
    return _create(request, response, caller, org, body)


@router.get("/user/repos", response_model=list[RepositoryOut], responses=LIST_RESPONSES,
            summary="Repositories the authenticated user has access to")
def list_my_repos(request: Request, response: Response, caller: CallerDep, page: PageDep) -> list[RepositoryOut]:
    """Owned, shared as a collaborator, or through an organisation or team; most recently updated first.
    Needs ``read:repo``."""
    caller.require_user("read:repo")
    return _list(request, response, caller, page, affiliated=True)


@router.get("/users/{name}/repos", response_model=list[RepositoryOut], responses=LIST_RESPONSES,
            summary="A user's repositories")
def list_user_repos(request: Request, response: Response, caller: CallerDep, name: AccountName,
                    page: PageDep) -> list[RepositoryOut]:
    """Those the caller may see, most recently updated first."""
    with db(request) as session:
        account = users.get_account(session, name)
    return _list(request, response, caller, page, owner=account)


@router.get("/orgs/{org}/repos", response_model=list[RepositoryOut], responses=LIST_RESPONSES,
            summary="An organisation's repositories")
def list_org_repos(request: Request, response: Response, caller: CallerDep, org: AccountName,
                   page: PageDep) -> list[RepositoryOut]:
    """Those the caller may see, most recently updated first."""
    with db(request) as session:
        account = orgs.get_org(session, org)
    return _list(request, response, caller, page, owner=account)


# --- forks ----------------------------------------------------------------------------------------------------


@router.post(_R + "/forks", response_model=RepositoryOut, status_code=201, responses=_CREATED,
             summary="Fork a repository")
def create_fork(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                body: ForkCreate | None = None) -> RepositoryOut:
    """Into the caller's account, or ``organization``; needs ``write:repo`` and read access to the source."""
    user = caller.require_user("write:repo")
    body = body or ForkCreate()
    settings = settings_of(request)
    with db(request) as session:
        source, _ = repos.get_visible_repo(session, user, owner, repo, token_scopes=caller.scopes)
        target = orgs.get_org(session, body.organization) if body.organization else user
        ref = repos.fork_repository(session, settings.repos_dir, settings.git_bin, user, source, owner=target,
                                    name=body.name)
        return _created(request, response, session, caller, ref)


@router.get(_R + "/forks", response_model=list[RepositoryOut], responses=LIST_RESPONSES, summary="List forks")
def list_forks(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
               page: PageDep) -> list[RepositoryOut]:
    """The forks the caller may see, most recently updated first."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo)
        assert ref.repo.id is not None
        source_id = ref.repo.id
    return _list(request, response, caller, page, fork_of=source_id)


# --- topics ---------------------------------------------------------------------------------------------------


@router.get(_R + "/topics", response_model=Topics, summary="A repository's topics")
def get_topics(request: Request, caller: CallerDep, owner: Owner, repo: RepoName) -> Topics:
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo)
        return Topics(topics=ref.repo.topic_list)


@router.put(_R + "/topics", response_model=Topics, summary="Replace a repository's topics")
def put_topics(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, body: Topics) -> Topics:
    """Needs ``admin:repo``. Topics are lower-cased; repeats are dropped; at most 20."""
    user = caller.require_user("admin:repo")
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        repos.set_topics(session, user, ref, body.topics)
        return Topics(topics=ref.repo.topic_list)


# --- collaborators --------------------------------------------------------------------------------------------
# Reading who collaborates needs push access (as on GitHub); changing it needs admin access.


@router.get(_R + "/collaborators", response_model=list[Collaborator], responses=LIST_RESPONSES,
            summary="List collaborators")
def list_collaborators(request: Request, response: Response, caller: CallerDep, owner: Owner,
                       repo: RepoName, page: PageDep) -> list[Collaborator]:
    """Users given access directly, with their permission; needs write access to the repository."""
    base = settings_of(request).public_url()
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.WRITE)
        rows = repos.list_collaborators(session, ref)
        items = [Collaborator(**user_brief(account, base).model_dump(), permission=cast(Permission, row.permission))
                 for row, account in page.slice(rows)]
    link_headers(request, response, page, len(rows))
    return items


@router.get(_R + "/collaborators/{user}", status_code=204, response_class=Response, responses=_NO_CONTENT,
            summary="Check whether a user is a collaborator")
def check_collaborator(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                       user: AccountName) -> Response:
    """204 when ``user`` is a collaborator, 404 otherwise."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.WRITE)
        if not any(account.lower_name == user.lower() for _, account in repos.list_collaborators(session, ref)):
            raise NotFound(N_("%(user)s is not a collaborator."), user=user)
    return Response(status_code=204)


@router.put(_R + "/collaborators/{user}", status_code=204, response_class=Response, responses=_NO_CONTENT,
            summary="Add a collaborator or change their permission")
def put_collaborator(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, user: AccountName,
                     body: CollaboratorPut | None = None) -> Response:
    """Needs ``admin:repo``; ``permission`` is read, write (the default) or admin."""
    body = body or CollaboratorPut()
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        actor = caller.require_user()
        repos.set_collaborator(session, actor, ref, users.get_user(session, user), body.permission)
    return Response(status_code=204)


@router.delete(_R + "/collaborators/{user}", status_code=204, response_class=Response, responses=_NO_CONTENT,
               summary="Remove a collaborator")
def delete_collaborator(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                        user: AccountName) -> Response:
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        repos.remove_collaborator(session, caller.require_user(), ref, users.get_user(session, user))
    return Response(status_code=204)


@router.get(_R + "/collaborators/{user}/permission", response_model=CollaboratorPermission,
            summary="A user's permission on the repository")
def collaborator_permission(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                            user: AccountName) -> CollaboratorPermission:
    """The user's effective access (ownership, collaboration, teams, or none); needs write access."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.WRITE)
        account = users.get_user(session, user)
        level = repo_access(session, account, ref.repo)
        return CollaboratorPermission(permission=_LEVEL_NAMES[min(level, Access.ADMIN)],
                                      user=user_brief(account, settings_of(request).public_url()))
