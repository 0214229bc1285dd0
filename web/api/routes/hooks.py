"""API: webhooks of repositories (``admin:repo``) and organisations (``admin:org``), their delivery logs,
redelivery and test deliveries.

Repository and organisation hooks share every handler body: the route only says how to find the ``HookTarget``
(forge.webhooks.hooks.repo_target / org_target, which also check that the caller administers it), then the same
services the settings pages use do the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from forge.accounts.models import Account
from forge.webhooks import deliveries
from forge.webhooks import hooks as hook_services
from forge.webhooks.hooks import HookTarget
from forge.webhooks.models import PENDING, Webhook, WebhookDelivery
from web.api.deps import Caller, CallerDep, db, settings_of
from web.api.pagination import LIST_RESPONSES, Page, PageDep, link_headers
from web.api.params import OrgName, Owner, RepoName
from web.api.schemas.hooks import (
    MASK,
    DeliveryBrief,
    DeliveryIdPath,
    DeliveryOut,
    DeliveryRequest,
    DeliveryResponse,
    HookConfigOut,
    HookConfigUpdate,
    HookCreate,
    HookIdPath,
    HookOut,
    HookUpdate,
    LastResponse,
)

router = APIRouter(tags=["webhooks"])

_R = "/repos/{owner}/{repo}/hooks"
_O = "/orgs/{org}/hooks"
_CREATED: dict[int | str, dict[str, object]] = {
    201: {"headers": {"Location": {"description": "The new hook's API URL.", "schema": {"type": "string"}}}}
}
Resolve = Callable[[Session], tuple[Account, HookTarget]]


def _repo(caller: Caller, owner: str, repo: str) -> Resolve:
    def resolve(session: Session) -> tuple[Account, HookTarget]:
        user = caller.require_user("admin:repo")
        return user, hook_services.repo_target(session, user, owner, repo, token_scopes=caller.scopes)

    return resolve


def _org(caller: Caller, org: str) -> Resolve:
    def resolve(session: Session) -> tuple[Account, HookTarget]:
        user = caller.require_user("admin:org")
        return user, hook_services.org_target(session, user, org)

    return resolve


def _hook_url(request: Request, target: HookTarget, hook_id: int | None) -> str:
    base = f"{settings_of(request).public_url()}{request.scope.get('root_path', '')}"
    if target.repo is not None:
        return f"{base}/repos/{target.repo.full_name}/hooks/{hook_id}"
    assert target.org is not None
    return f"{base}/orgs/{target.org.name}/hooks/{hook_id}"


def _hook_out(request: Request, target: HookTarget, hook: Webhook, last: WebhookDelivery | None) -> HookOut:
    url = _hook_url(request, target, hook.id)
    if last is None:
        last_response = LastResponse(code=None, status="unused", message="")
    else:
        last_response = LastResponse(code=last.response_status, status=cast(Any, last.status),
                                     message=last.error or ("OK" if last.status != PENDING else ""))
    return HookOut(
        id=hook.id or 0,
        type="Repository" if hook.repo_id is not None else "Organization",
        active=hook.active,
        events=list(hook.events),
        config=HookConfigOut(url=hook.url, content_type=cast(Any, hook.content_type),
                             secret=MASK if hook.secret else None),
        branch_filter=hook.branch_filter,
        created_at=hook.created_at,
        updated_at=hook.updated_at,
        url=url,
        test_url=f"{url}/tests",
        deliveries_url=f"{url}/deliveries",
        last_response=last_response,
    )


def _one_out(request: Request, session: Session, target: HookTarget, hook: Webhook) -> HookOut:
    return _hook_out(request, target, hook, hook_services.last_deliveries(session, [hook]).get(hook.id or 0))


def _brief(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id or 0, "guid": row.guid, "event": row.event, "action": row.action, "status": row.status,
        "status_code": row.response_status, "attempts": row.attempts,
        "redelivery": row.redelivery_of_id is not None, "redelivery_of": row.redelivery_of_id,
        "test": row.is_test, "duration_ms": row.duration_ms, "error": row.error, "created_at": row.created_at,
        "delivered_at": row.delivered_at, "next_attempt_at": row.next_attempt_at,
    }


def _kept_secret(config: HookConfigUpdate | None) -> str | None:
    """The new secret, or None to keep it: a client that sends back the mask it read keeps the secret."""
    if config is None or config.secret is None or config.secret == MASK:
        return None
    return config.secret


def _events(names: list[str] | None) -> list[str] | None:
    """GitHub's ``["*"]`` is every event, which a hook stores as no subscription at all."""
    return None if names is None else ([] if "*" in names else names)


# --- the handlers, shared by repository and organisation routes ------------------------------------------------


def _list(request: Request, response: Response, page: Page, resolve: Resolve) -> list[HookOut]:
    with db(request) as session:
        _, target = resolve(session)
        found = hook_services.list_hooks(session, target)
        shown = page.slice(found)
        last = hook_services.last_deliveries(session, shown)
        items = [_hook_out(request, target, hook, last.get(hook.id or 0)) for hook in shown]
    link_headers(request, response, page, len(found))
    return items


def _create(request: Request, response: Response, body: HookCreate, resolve: Resolve) -> HookOut:
    with db(request) as session:
        user, target = resolve(session)
        hook = hook_services.create_hook(
            session, settings_of(request), user, target, url=body.config.url, content_type=body.config.content_type,
            secret=body.config.secret, events=_events(list(body.events)) or [], branch_filter=body.branch_filter,
            active=body.active)
        response.headers["Location"] = _hook_url(request, target, hook.id)
        return _hook_out(request, target, hook, None)


def _get(request: Request, hook_id: int, resolve: Resolve) -> HookOut:
    with db(request) as session:
        _, target = resolve(session)
        return _one_out(request, session, target, hook_services.get_hook(session, target, hook_id))


def _update(request: Request, hook_id: int, body: HookUpdate, resolve: Resolve) -> HookOut:
    config = body.config
    with db(request) as session:
        _, target = resolve(session)
        hook = hook_services.get_hook(session, target, hook_id)
        hook_services.update_hook(
            session, settings_of(request), hook, url=config.url if config else None,
            content_type=config.content_type if config else None, secret=_kept_secret(config),
            events=_events(cast(list[str] | None, body.events)), branch_filter=body.branch_filter, active=body.active)
        return _one_out(request, session, target, hook)


def _delete(request: Request, hook_id: int, resolve: Resolve) -> Response:
    with db(request) as session:
        _, target = resolve(session)
        hook_services.delete_hook(session, hook_services.get_hook(session, target, hook_id))
    return Response(status_code=204)


def _test(request: Request, hook_id: int, resolve: Resolve) -> Response:
    with db(request) as session:
        user, target = resolve(session)
        hook = hook_services.get_hook(session, target, hook_id)
        deliveries.send_test(session, target, hook, user, settings_of(request).public_url())
    return Response(status_code=204)


def _deliveries(request: Request, response: Response, page: Page, hook_id: int,
                resolve: Resolve) -> list[DeliveryBrief]:
    with db(request) as session:
        _, target = resolve(session)
        hook = hook_services.get_hook(session, target, hook_id)
        total = deliveries.count_deliveries(session, hook)
        rows = deliveries.list_deliveries(session, hook, offset=page.offset, limit=page.limit)
        items = [DeliveryBrief(**_brief(row)) for row in rows]
    link_headers(request, response, page, total)
    return items


def _delivery(request: Request, hook_id: int, delivery_id: int, resolve: Resolve) -> DeliveryOut:
    with db(request) as session:
        _, target = resolve(session)
        row = deliveries.get_delivery(session, hook_services.get_hook(session, target, hook_id), delivery_id)
        return DeliveryOut(
            **_brief(row),
            request=DeliveryRequest(url=row.request_url, headers=row.request_headers, payload=row.payload,
                                    body=row.request_body),
            response=DeliveryResponse(headers=row.response_headers, body=row.response_body),
        )


def _redeliver(request: Request, hook_id: int, delivery_id: int, resolve: Resolve) -> DeliveryBrief:
    with db(request) as session:
        _, target = resolve(session)
        hook = hook_services.get_hook(session, target, hook_id)
        again = deliveries.redeliver(session, hook, deliveries.get_delivery(session, hook, delivery_id))
        return DeliveryBrief(**_brief(again))


# --- repository hooks -----------------------------------------------------------------------------------------


@router.get(_R, response_model=list[HookOut], summary="List a repository's webhooks", responses=LIST_RESPONSES)
def list_repo_hooks(request: Request, response: Response, caller: CallerDep, page: PageDep, owner: Owner,
                    repo: RepoName) -> list[HookOut]:
    """Needs admin access to the repository (``admin:repo``)."""
    return _list(request, response, page, _repo(caller, owner, repo))


@router.post(_R, response_model=HookOut, status_code=201, summary="Create a repository webhook", responses=_CREATED)
def create_repo_hook(request: Request, response: Response, caller: CallerDep, owner: Owner, repo: RepoName,
                     body: HookCreate) -> HookOut:
    """The URL must be http(s) and may not point at an address the administrator has not allowed (422)."""
    return _create(request, response, body, _repo(caller, owner, repo))


@router.get(_R + "/{hook_id}", response_model=HookOut, summary="Get a repository webhook")
def get_repo_hook(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                  hook_id: HookIdPath) -> HookOut:
    return _get(request, hook_id, _repo(caller, owner, repo))


@router.patch(_R + "/{hook_id}", response_model=HookOut, summary="Change a repository webhook")
def update_repo_hook(request: Request, caller: CallerDep, owner: Owner, repo: RepoName, hook_id: HookIdPath,
                     body: HookUpdate) -> HookOut:
    """Only the fields sent change; omit ``config.secret`` to keep the secret."""
    return _update(request, hook_id, body, _repo(caller, owner, repo))


@router.delete(_R + "/{hook_id}", status_code=204, response_class=Response, summary="Delete a repository webhook")
def delete_repo_hook(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                     hook_id: HookIdPath) -> Response:
    return _delete(request, hook_id, _repo(caller, owner, repo))


@router.post(_R + "/{hook_id}/tests", status_code=204, response_class=Response,
             summary="Send a test (ping) delivery to a repository webhook")
def test_repo_hook(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                   hook_id: HookIdPath) -> Response:
    """Queues a ``ping`` event, sent right away; its outcome appears in the deliveries."""
    return _test(request, hook_id, _repo(caller, owner, repo))


@router.get(_R + "/{hook_id}/deliveries", response_model=list[DeliveryBrief], responses=LIST_RESPONSES,
            summary="List a repository webhook's deliveries")
def list_repo_hook_deliveries(request: Request, response: Response, caller: CallerDep, page: PageDep,
                              owner: Owner, repo: RepoName, hook_id: HookIdPath) -> list[DeliveryBrief]:
    """Newest first; the last 100 deliveries of each hook are kept."""
    return _deliveries(request, response, page, hook_id, _repo(caller, owner, repo))


@router.get(_R + "/{hook_id}/deliveries/{delivery_id}", response_model=DeliveryOut,
            summary="Get a repository webhook delivery with its request and response")
def get_repo_hook_delivery(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                           hook_id: HookIdPath, delivery_id: DeliveryIdPath) -> DeliveryOut:
    return _delivery(request, hook_id, delivery_id, _repo(caller, owner, repo))


@router.post(_R + "/{hook_id}/deliveries/{delivery_id}/attempts", response_model=DeliveryBrief, status_code=202,
             summary="Redeliver a repository webhook delivery")
def redeliver_repo_hook(request: Request, caller: CallerDep, owner: Owner, repo: RepoName,
                        hook_id: HookIdPath, delivery_id: DeliveryIdPath) -> DeliveryBrief:
    """Queues a new delivery with the same event and payload (and a new GUID), sent right away."""
    return _redeliver(request, hook_id, delivery_id, _repo(caller, owner, repo))


# --- organisation hooks -----------------------------------------------------------------------------------------


@router.get(_O, response_model=list[HookOut], summary="List an organisation's webhooks", responses=LIST_RESPONSES)
def list_org_hooks(request: Request, response: Response, caller: CallerDep, page: PageDep,
                   org: OrgName) -> list[HookOut]:
    """Needs an owner of the organisation (``admin:org``). Organisation hooks hear about all its repositories."""
    return _list(request, response, page, _org(caller, org))


@router.post(_O, response_model=HookOut, status_code=201, summary="Create an organisation webhook",
             responses=_CREATED)
def create_org_hook(request: Request, response: Response, caller: CallerDep, org: OrgName,
                    body: HookCreate) -> HookOut:
    return _create(request, response, body, _org(caller, org))


@router.get(_O + "/{hook_id}", response_model=HookOut, summary="Get an organisation webhook")
def get_org_hook(request: Request, caller: CallerDep, org: OrgName, hook_id: HookIdPath) -> HookOut:
    return _get(request, hook_id, _org(caller, org))


@router.patch(_O + "/{hook_id}", response_model=HookOut, summary="Change an organisation webhook")
def update_org_hook(request: Request, caller: CallerDep, org: OrgName, hook_id: HookIdPath,
                    body: HookUpdate) -> HookOut:
    return _update(request, hook_id, body, _org(caller, org))


@router.delete(_O + "/{hook_id}", status_code=204, response_class=Response,
               summary="Delete an organisation webhook")
def delete_org_hook(request: Request, caller: CallerDep, org: OrgName, hook_id: HookIdPath) -> Response:
    return _delete(request, hook_id, _org(caller, org))


@router.post(_O + "/{hook_id}/tests", status_code=204, response_class=Response,
             summary="Send a test (ping) delivery to an organisation webhook")
def test_org_hook(request: Request, caller: CallerDep, org: OrgName, hook_id: HookIdPath) -> Response:
    return _test(request, hook_id, _org(caller, org))


@router.get(_O + "/{hook_id}/deliveries", response_model=list[DeliveryBrief], responses=LIST_RESPONSES,
            summary="List an organisation webhook's deliveries")
def list_org_hook_deliveries(request: Request, response: Response, caller: CallerDep, page: PageDep,
                             org: OrgName, hook_id: HookIdPath) -> list[DeliveryBrief]:
    return _deliveries(request, response, page, hook_id, _org(caller, org))


@router.get(_O + "/{hook_id}/deliveries/{delivery_id}", response_model=DeliveryOut,
            summary="Get an organisation webhook delivery with its request and response")
def get_org_hook_delivery(request: Request, caller: CallerDep, org: OrgName, hook_id: HookIdPath,
                          delivery_id: DeliveryIdPath) -> DeliveryOut:
    return _delivery(request, hook_id, delivery_id, _org(caller, org))


@router.post(_O + "/{hook_id}/deliveries/{delivery_id}/attempts", response_model=DeliveryBrief, status_code=202,
             summary="Redeliver an organisation webhook delivery")
def redeliver_org_hook(request: Request, caller: CallerDep, org: OrgName, hook_id: HookIdPath,
                       delivery_id: DeliveryIdPath) -> DeliveryBrief:
    return _redeliver(request, hook_id, delivery_id, _org(caller, org))
