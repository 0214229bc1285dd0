"""API: a repository's milestones: list (by state), read, create, edit (including closing and reopening), delete.

Reading needs ``read:issue``; changing needs write access to the repository and ``write:issue``, as on the web
(forge.issues.milestones enforces the access).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response

from forge.issues import milestones as milestone_service
from forge.issues.models import CLOSED, OPEN
from forge.wire.issues import MilestoneOut, milestone_list, milestone_out
from web.api.deps import CallerDep, db
from web.api.pagination import LIST_RESPONSES, PageDep, link_headers
from web.api.params import Owner, RepoName, issue_repo
from web.api.routes.issues import base_url
from web.api.schemas.issues import MilestoneCreate, MilestoneUpdate

router = APIRouter(tags=["milestones"])

MilestoneId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The milestone's id.")]
_M = "/repos/{owner}/{repo}/milestones"


@router.get(_M, response_model=list[MilestoneOut], responses=LIST_RESPONSES)
def list_milestones(request: Request, response: Response, caller: CallerDep, page: PageDep, owner: Owner,
                    repo: RepoName, state: Literal["open", "closed", "all"] = "open") -> list[MilestoneOut]:
    """Milestones by due date (those without one last), then title."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo)
        rows = milestone_service.list_milestones(session, ref, state)
        link_headers(request, response, page, len(rows))
        return milestone_list(session, base_url(request), ref, [row.milestone for row in page.slice(rows)])


@router.get(_M + "/{milestone_id}", response_model=MilestoneOut)
def get_milestone(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                  milestone_id: MilestoneId) -> MilestoneOut:
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo)
        milestone = milestone_service.get_milestone(session, ref, milestone_id)
        return milestone_out(session, base_url(request), ref, milestone)


@router.post(_M, response_model=MilestoneOut, status_code=201)
def create_milestone(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                     data: MilestoneCreate) -> MilestoneOut:
    """Create a milestone (write access); 409 when the title is taken."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo, "write:issue")
        user = caller.require_user("write:issue")
        milestone = milestone_service.create_milestone(session, user, ref, title=data.title,
                                                       description=data.description, due_on=data.due_on)
        if data.state == CLOSED:
            milestone_service.set_state(session, user, ref, milestone, CLOSED)
        session.flush()
        out = milestone_out(session, base_url(request), ref, milestone)
    response.headers["Location"] = out.url
    return out


@router.patch(_M + "/{milestone_id}", response_model=MilestoneOut)
def edit_milestone(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, milestone_id: MilestoneId,
                   data: MilestoneUpdate) -> MilestoneOut:
    """Change what is sent; ``state`` closes or reopens it."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo, "write:issue")
        user = caller.require_user("write:issue")
        milestone = milestone_service.get_milestone(session, ref, milestone_id)
        milestone_service.update_milestone(
            session, user, ref, milestone, title=data.title if data.title is not None else milestone.title,
            description=data.description if data.description is not None else milestone.description,
            due_on=data.due_on if "due_on" in data.model_fields_set else milestone.due_on,
        )
        if data.state is not None and data.state != milestone.state:
            milestone_service.set_state(session, user, ref, milestone, OPEN if data.state == OPEN else CLOSED)
        session.flush()
        return milestone_out(session, base_url(request), ref, milestone)


@router.delete(_M + "/{milestone_id}", status_code=204, response_class=Response)
def delete_milestone(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                     milestone_id: MilestoneId) -> Response:
    """Delete a milestone; its issues stay, without it."""
    with db(request) as session:
        ref = issue_repo(session, caller, owner, repo, "write:issue")
        milestone = milestone_service.get_milestone(session, ref, milestone_id)
        milestone_service.delete_milestone(session, caller.require_user("write:issue"), ref, milestone)
    return Response(status_code=204)
