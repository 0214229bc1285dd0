"""API: branches, tags and branch protection rules.

Creating and deleting refs goes through forge.repos.refs, as the branches and tags pages do: the same protection
checks as a git push, and a push event recorded so CI, webhooks and feeds see the change. Rules are saved by
forge.repos.protection.save_rule, the settings page's service, and named by their pattern (``release/*``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from forge.errors import InvalidInput, NotFound
from forge.git.repository import CommitInfo, RefInfo
from forge.permissions import Access
from forge.repos import protection, refs
from forge.repos.models import ProtectedBranch
from forge.repos.services import RepoRef
from web.api.deps import Caller, CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Owner, RepoName, code_repo
from web.api.schemas.branches import (
    Branch,
    BranchCreate,
    CommitBrief,
    GitPerson,
    PatternPath,
    Protection,
    ProtectionCreate,
    ProtectionUpdate,
    RefPath,
    Tag,
    TagCreate,
)

router = APIRouter(tags=["branches"])

_R = "/repos/{owner}/{repo}"
_NO_CONTENT: dict[int | str, dict[str, object]] = {204: {"description": "Done."}}


def _commit(base: str, ref: RepoRef, commit: CommitInfo | None) -> CommitBrief | None:
    if commit is None:
        return None
    return CommitBrief(
        id=commit.sha,
        message=commit.message,
        author=GitPerson(name=commit.author.name, email=commit.author.email, date=commit.author.when),
        committer=GitPerson(name=commit.committer.name, email=commit.committer.email, date=commit.committer.when),
        url=f"{base}/{ref.full_name}/commit/{commit.sha}",
    )


def _branch(base: str, ref: RepoRef, info: RefInfo, protected: set[str]) -> Branch:
    return Branch(name=info.name, commit=_commit(base, ref, info.commit), protected=info.name in protected)


def _tags(repos_dir: Path, base: str, ref: RepoRef, infos: list[RefInfo]) -> list[Tag]:
    messages = refs.tag_messages(repos_dir, ref, infos)
    return [
        Tag(name=info.name, id=info.target, commit=_commit(base, ref, info.commit), message=messages.get(info.name),
            zipball_url=f"{base}/{ref.full_name}/archive/{info.name}.zip",
            tarball_url=f"{base}/{ref.full_name}/archive/{info.name}.tar.gz")
        for info in infos
    ]


def _create_ref(session: Session, repos_dir: Path, caller: Caller, ref: RepoRef, kind: str, name: str,
                start: str, message: str = "") -> None:
    try:
        refs.create_ref(session, repos_dir, caller.require_user(), ref, kind, name, start, message=message)
    except NotFound as exc:
        # The repository was found already: a missing start point is a bad field, not a missing page.
        raise InvalidInput(exc.message, **exc.params) from exc


# --- branches -------------------------------------------------------------------------------------------------


@router.get(_R + "/branches", response_model=list[Branch], responses=LIST_RESPONSES, summary="List branches")
def list_branches(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                  page: PageDep) -> list[Branch]:
    """By name, each with its tip commit and whether a protection rule covers it."""
    settings = settings_of(request)
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo)
        found = refs.list_branches(settings.repos_dir, ref)
        shown = page.slice(found)
        protected = refs.protected_names(session, ref, [b.name for b in shown])
    link_headers(request, response, page, len(found))
    return [_branch(settings.public_url(), ref, b, protected) for b in shown]


@router.get(_R + "/branches/{branch:path}", response_model=Branch, summary="Get a branch")
def get_branch(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, branch: RefPath) -> Branch:
    settings = settings_of(request)
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo)
        info = refs.get_ref(settings.repos_dir, ref, "branch", branch)
        return _branch(settings.public_url(), ref, info, refs.protected_names(session, ref, [info.name]))


@router.post(_R + "/branches", response_model=Branch, status_code=201, summary="Create a branch")
def create_branch(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                  body: BranchCreate) -> Branch:
    """Needs ``write:repo`` and push access; protection rules apply as to a push. Recorded as a push."""
    settings = settings_of(request)
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.WRITE)
        _create_ref(session, settings.repos_dir, caller, ref, "branch", body.new_branch_name, body.from_)
        info = refs.get_ref(settings.repos_dir, ref, "branch", body.new_branch_name.strip())
        return _branch(settings.public_url(), ref, info, refs.protected_names(session, ref, [info.name]))


@router.delete(_R + "/branches/{branch:path}", status_code=204, response_class=Response, responses=_NO_CONTENT,
               summary="Delete a branch")
def delete_branch(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                  branch: RefPath) -> Response:
    """Needs ``write:repo``. The default branch and branches protected against deletion are refused (403)."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.WRITE)
        refs.delete_ref(session, settings_of(request).repos_dir, caller.require_user(), ref, "branch", branch)
    return Response(status_code=204)


# --- tags -----------------------------------------------------------------------------------------------------


@router.get(_R + "/tags", response_model=list[Tag], responses=LIST_RESPONSES, summary="List tags")
def list_tags(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
              page: PageDep) -> list[Tag]:
    """Newest commit first."""
    settings = settings_of(request)
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo)
    found = refs.list_tags(settings.repos_dir, ref)
    link_headers(request, response, page, len(found))
    return _tags(settings.repos_dir, settings.public_url(), ref, page.slice(found))


@router.get(_R + "/tags/{tag:path}", response_model=Tag, summary="Get a tag")
def get_tag(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, tag: RefPath) -> Tag:
    settings = settings_of(request)
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo)
    return _tags(settings.repos_dir, settings.public_url(), ref, [refs.get_ref(settings.repos_dir, ref, "tag", tag)])[0]


@router.post(_R + "/tags", response_model=Tag, status_code=201, summary="Create a tag")
def create_tag(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, body: TagCreate) -> Tag:
    """At ``target``, annotated if a ``message`` is given; needs ``write:repo``. Recorded as a push."""
    settings = settings_of(request)
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.WRITE)
        _create_ref(session, settings.repos_dir, caller, ref, "tag", body.tag_name, body.target, body.message)
    info = refs.get_ref(settings.repos_dir, ref, "tag", body.tag_name.strip())
    return _tags(settings.repos_dir, settings.public_url(), ref, [info])[0]


@router.delete(_R + "/tags/{tag:path}", status_code=204, response_class=Response, responses=_NO_CONTENT,
               summary="Delete a tag")
def delete_tag(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, tag: RefPath) -> Response:
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.WRITE)
        refs.delete_ref(session, settings_of(request).repos_dir, caller.require_user(), ref, "tag", tag)
    return Response(status_code=204)


# --- branch protection ----------------------------------------------------------------------------------------


def _protection(session: Session, rule: ProtectedBranch) -> Protection:
    user_names, team_names = protection.allowance_names(session, rule)
    return Protection(
        pattern=rule.pattern, allow_force_push=rule.allow_force_push, allow_deletion=rule.allow_deletion,
        restrict_push=rule.restrict_push, push_users=user_names, push_teams=team_names,
        require_pull_request=rule.require_pull_request, required_approvals=rule.required_approvals,
        dismiss_stale_approvals=rule.dismiss_stale_approvals, required_contexts=rule.contexts,
        require_up_to_date=rule.require_up_to_date, created_at=rule.created_at,
    )


def _save(session: Session, caller: Caller, ref: RepoRef, fields: ProtectionCreate,
          rule_id: int | None = None) -> Protection:
    user_ids, team_ids = protection.resolve_push_allowances(session, ref, fields.push_users, fields.push_teams)
    rule = protection.save_rule(
        session, caller.require_user(), ref, fields.pattern, allow_force_push=fields.allow_force_push,
        allow_deletion=fields.allow_deletion, restrict_push=fields.restrict_push, push_user_ids=user_ids,
        push_team_ids=team_ids, rule_id=rule_id, require_pull_request=fields.require_pull_request,
        required_approvals=fields.required_approvals, dismiss_stale_approvals=fields.dismiss_stale_approvals,
        required_contexts=fields.required_contexts, require_up_to_date=fields.require_up_to_date,
    )
    return _protection(session, rule)


_P = _R + "/branch_protections"


@router.get(_P, response_model=list[Protection], summary="List branch protection rules")
def list_protections(request: Request, caller: CallerDep, owner: Owner, repo: RepoName) -> list[Protection]:
    """Needs ``admin:repo`` and admin access, as the settings page."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        return [_protection(session, rule) for rule in protection.list_rules(session, ref)]


@router.post(_P, response_model=Protection, status_code=201, summary="Create a branch protection rule")
def create_protection(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                      body: ProtectionCreate) -> Protection:
    """``pattern`` is a branch name or a glob (``release/*``); an exact name wins over globs, then the longest."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        return _save(session, caller, ref, body)


@router.get(_P + "/{pattern:path}", response_model=Protection, summary="Get a branch protection rule")
def get_protection(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                   pattern: PatternPath) -> Protection:
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        return _protection(session, protection.rule_for_pattern(session, ref, pattern))


@router.patch(_P + "/{pattern:path}", response_model=Protection, summary="Change a branch protection rule")
def update_protection(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                      pattern: PatternPath, body: ProtectionUpdate) -> Protection:
    """Only the fields sent change; ``pattern`` renames the rule."""
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        rule = protection.rule_for_pattern(session, ref, pattern)
        current = _protection(session, rule).model_dump(exclude={"created_at"})
        fields = ProtectionCreate(**{**current, **body.model_dump(exclude_none=True)})
        return _save(session, caller, ref, fields, rule.id)


@router.delete(_P + "/{pattern:path}", status_code=204, response_class=Response, responses=_NO_CONTENT,
               summary="Delete a branch protection rule")
def delete_protection(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                      pattern: PatternPath) -> Response:
    with db(request) as session:
        ref = code_repo(session, caller, owner, repo, Access.ADMIN)
        rule = protection.rule_for_pattern(session, ref, pattern)
        assert rule.id is not None
        protection.delete_rule(session, caller.require_user(), ref, rule.id)
    return Response(status_code=204)
