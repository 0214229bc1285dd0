"""API: labels of a repository and of an organisation, and the labels on an issue.

Labels are named in paths (``/labels/bug``; a name with a slash works too: the name is the rest of the path).
A repository's labels are managed by people with write access (token scope ``write:issue``), an organisation's by
its owners (``admin:org``), through the web's services (forge.issues.labels); labels on an issue need write access
too (forge.issues.triage), so the timeline and notifications record the change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlmodel import Session

from forge.accounts import orgs
from forge.accounts.models import Account
from forge.errors import NotFound
from forge.i18n import N_
from forge.issues import labels as label_service
from forge.issues import metadata, triage
from forge.issues.models import Label
from forge.repos.services import RepoRef
from forge.wire.issues import LabelOut, label_out
from web.api.deps import Caller, CallerDep, db
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Number, OrgName, Owner, RepoName, issue_repo
from web.api.routes.issues import base_url, issue_in
from web.api.schemas.issues import NO_NUL, LabelCreate, LabelNames, LabelUpdate

router = APIRouter(tags=["labels"])

LabelPath = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL,
                                description="The label's name (any case).")]
_L = "/repos/{owner}/{repo}/labels"
_OL = "/orgs/{org}/labels"
_IL = "/repos/{owner}/{repo}/issues/{number:int}/labels"


def _named(labels: list[Label], name: str) -> Label:
    wanted = " ".join(name.split()).lower()
    for label in labels:
        if label.lower_name == wanted:
            return label
    raise NotFound(N_("That label does not exist."))


# --- repository labels -------------------------------------------------------------------------------------


def _repo_labels(session: Session, ref: RepoRef) -> list[Label]:
    return label_service.list_scope(session, label_service.repo_scope(ref))


@router.get(_L, response_model=list[LabelOut], responses=LIST_RESPONSES)
def list_labels(request: Request, response: Response, caller: CallerDep, page: PageDep, owner: Owner,
                repo: RepoName) -> list[LabelOut]:
    """The repository's own labels by name (an organisation's labels are at ``/orgs/{org}/labels``)."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo)
        labels = _repo_labels(session, ref)
        link_headers(request, response, page, len(labels))
        return [label_out(label, base_url(request), ref=ref) for label in page.slice(labels)]


@router.get(_L + "/{name:path}", response_model=LabelOut)
def get_label(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, name: LabelPath) -> LabelOut:
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo)
        return label_out(_named(_repo_labels(session, ref), name), base_url(request), ref=ref)


@router.post(_L, response_model=LabelOut, status_code=201)
def create_label(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                 data: LabelCreate) -> LabelOut:
    """Create a label (write access); 409 when the name is taken."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo, "write:issue")
        label = label_service.create_label(session, caller.require_user("write:issue"), ref=ref, name=data.name,
                                           color=data.color, description=data.description)
        session.flush()
        out = label_out(label, base_url(request), ref=ref)
    response.headers["Location"] = out.url
    return out


def _updated(session: Session, actor: Account, label: Label, data: LabelUpdate, *, ref: RepoRef | None = None,
             org: Account | None = None) -> Label:
    return label_service.update_label(
        session, actor, label, ref=ref, org=org, name=data.name if data.name is not None else label.name,
        color=data.color if data.color is not None else label.color,
        description=data.description if data.description is not None else label.description,
    )


@router.patch(_L + "/{name:path}", response_model=LabelOut)
def edit_label(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, name: LabelPath,
               data: LabelUpdate) -> LabelOut:
    """Rename, recolour or redescribe a label (write access); only the fields sent change."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo, "write:issue")
        label = _named(_repo_labels(session, ref), name)
        label = _updated(session, caller.require_user("write:issue"), label, data, ref=ref)
        return label_out(label, base_url(request), ref=ref)


@router.delete(_L + "/{name:path}", status_code=204, response_class=Response)
def delete_label(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, name: LabelPath) -> Response:
    """Delete a label; it leaves every issue (write access)."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo, "write:issue")
        label = _named(_repo_labels(session, ref), name)
        label_service.delete_label(session, caller.require_user("write:issue"), label, ref=ref)
    return Response(status_code=204)


# --- organisation labels -----------------------------------------------------------------------------------


def _org_labels(session: Session, org: Account) -> list[Label]:
    return label_service.list_scope(session, label_service.org_scope(org))


def _owned_org(session: Session, caller: Caller, name: str) -> tuple[Account, Account]:
    """The organisation and the caller, who must be one of its owners (with an ``admin:org`` token)."""
    org = orgs.get_org(session, name)
    user = caller.require_user("admin:org")
    orgs.require_owner(session, org, user)
    return org, user


@router.get(_OL, response_model=list[LabelOut], responses=LIST_RESPONSES)
def list_org_labels(request: Request, response: Response, page: PageDep, org: OrgName) -> list[LabelOut]:
    """The organisation's labels, usable in all its repositories (public, like the organisation)."""
    with db(request) as session:
        account = orgs.get_org(session, org)
        labels = _org_labels(session, account)
        link_headers(request, response, page, len(labels))
        return [label_out(label, base_url(request), org=account) for label in page.slice(labels)]


@router.post(_OL, response_model=LabelOut, status_code=201)
def create_org_label(request: Request, response: Response, caller: CallerDep, org: OrgName,
                     data: LabelCreate) -> LabelOut:
    with db(request) as session:
        account, user = _owned_org(session, caller, org)
        label = label_service.create_label(session, user, org=account, name=data.name, color=data.color,
                                           description=data.description)
        session.flush()
        out = label_out(label, base_url(request), org=account)
    response.headers["Location"] = out.url
    return out


@router.patch(_OL + "/{name:path}", response_model=LabelOut)
def edit_org_label(request: Request, caller: CallerDep, org: OrgName, name: LabelPath,
                   data: LabelUpdate) -> LabelOut:
    with db(request) as session:
        account, user = _owned_org(session, caller, org)
        label = _updated(session, user, _named(_org_labels(session, account), name), data, org=account)
        return label_out(label, base_url(request), org=account)


@router.delete(_OL + "/{name:path}", status_code=204, response_class=Response)
def delete_org_label(request: Request, caller: CallerDep, org: OrgName, name: LabelPath) -> Response:
    with db(request) as session:
        account, user = _owned_org(session, caller, org)
        label_service.delete_label(session, user, _named(_org_labels(session, account), name), org=account)
    return Response(status_code=204)


# --- labels on an issue ------------------------------------------------------------------------------------


def _issue_labels(request: Request, session: Session, ref: RepoRef, issue_id: int) -> list[LabelOut]:
    return [label_out(label, base_url(request), ref=ref) for label in metadata.labels_of(session, [issue_id])[issue_id]]


@router.get(_IL, response_model=list[LabelOut])
def list_issue_labels(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                      number: Number) -> list[LabelOut]:
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number)
        return _issue_labels(request, session, ref, issue.id or 0)


def _set(request: Request, caller: Caller, owner: str, repo: str, number: int, names: list[str] | None,
         *, add: bool = False, remove: str | None = None) -> list[LabelOut]:
    """Replace the issue's labels with ``names`` (or add them, or take ``remove`` off) through triage.set_labels."""
    with db(request) as session:
        ref, issue = issue_in(session, caller, owner, repo, number, "write:issue")
        user = caller.require_user("write:issue")
        assert issue.id is not None
        current = metadata.labels_of(session, [issue.id])[issue.id]
        current_ids = [label.id for label in current if label.id is not None]
        if remove is not None:
            gone = _named(current, remove)
            ids = [i for i in current_ids if i != gone.id]
        else:
            ids = metadata.label_ids_named(session, ref, names or [])
            if add:
                ids = current_ids + ids
        triage.set_labels(session, user, ref, issue, ids)
        return _issue_labels(request, session, ref, issue.id)


@router.post(_IL, response_model=list[LabelOut])
def add_issue_labels(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                     data: LabelNames) -> list[LabelOut]:
    """Add labels (by name) to those the issue has; the issue's labels afterwards."""
    return _set(request, caller, owner, repo, number, data.labels, add=True)


@router.put(_IL, response_model=list[LabelOut])
def replace_issue_labels(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                         data: LabelNames) -> list[LabelOut]:
    """Make the issue's labels exactly these."""
    return _set(request, caller, owner, repo, number, data.labels)


@router.delete(_IL, status_code=204, response_class=Response)
def clear_issue_labels(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                       number: Number) -> Response:
    _set(request, caller, owner, repo, number, [])
    return Response(status_code=204)


@router.delete(_IL + "/{name:path}", status_code=204, response_class=Response)
def remove_issue_label(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, number: Number,
                       name: LabelPath) -> Response:
    """Take one label off the issue (404 when the issue does not have it)."""
    _set(request, caller, owner, repo, number, None, remove=name)
    return Response(status_code=204)
