"""Managing webhooks: who may, what a valid hook is, and the create/read/update/delete services.

A repository's hooks are managed by its admins, an organisation's hooks (which hear about every repository the
organisation owns) by the organisation's owners. The web pages and the API both go through ``repo_target`` /
``org_target`` to get a ``HookTarget`` and then the services below, so the rules live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.accounts.orgs import get_org, require_owner
from forge.db.models_base import utcnow
from forge.errors import AuthenticationRequired, InvalidInput, NotFound
from forge.i18n import N_
from forge.permissions import Access
from forge.repos.services import RepoRef, get_visible_repo
from forge.settings import Settings
from forge.webhooks import events as hook_events
from forge.webhooks import ssrf
from forge.webhooks.models import CONTENT_JSON, CONTENT_TYPES, Webhook, WebhookDelivery

URL_MAX = 2048
SECRET_MAX = 255
FILTER_MAX = 255


@dataclass(frozen=True)
class HookTarget:
    """Whose hooks: exactly one of a repository and an organisation."""

    repo: RepoRef | None = None
    org: Account | None = None

    def owns(self, hook: Webhook) -> bool:
        if self.repo is not None:
            return hook.repo_id == self.repo.repo.id
        return self.org is not None and hook.org_id == self.org.id


def repo_target(session: Session, actor: Account | None, owner_name: str, repo_name: str, *,
                token_scopes: frozenset[str] | None = None) -> HookTarget:
    """The hooks of a repository ``actor`` administers (NotFound when they may not even see it)."""
    ref, _ = get_visible_repo(session, actor, owner_name, repo_name, Access.ADMIN, token_scopes=token_scopes)
    return HookTarget(repo=ref)


def org_target(session: Session, actor: Account | None, org_name: str) -> HookTarget:
    """The hooks of an organisation ``actor`` owns (site administrators count as owners)."""
    org = get_org(session, org_name)
    if actor is None:
        raise AuthenticationRequired(N_("Sign in to do this."))
    require_owner(session, org, actor)
    return HookTarget(org=org)


# --- validation ---------------------------------------------------------------------------------------------------


def clean_url(url: str, settings: Settings) -> str:
    """An http(s) URL with a host, at most 2048 characters, not pointing where the settings forbid."""
    url = url.strip()
    if not url:
        raise InvalidInput(N_("Enter the URL the forge should post to."))
    if len(url) > URL_MAX:
        raise InvalidInput(N_("The URL may be at most %(max)s characters long."), max=URL_MAX)
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidInput(N_("The URL may not contain spaces or control characters."))
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number or out of range
    except ValueError as exc:
        raise InvalidInput(N_("This is not a valid URL.")) from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(N_("The URL must start with http:// or https://."))
    if not parts.hostname:
        raise InvalidInput(N_("The URL has no host name."))
    # A name that does not resolve yet is accepted; the sender checks again before every attempt.
    ssrf.check_url(url, settings.webhook_allowed_hosts, require_resolved=False)
    return url


def clean_content_type(content_type: str) -> str:
    if content_type not in CONTENT_TYPES:
        raise InvalidInput(N_("Unknown content type: %(value)s."), value=content_type)
    return content_type


def clean_events(names: Iterable[str]) -> list[str]:
    """Subscription names (keys of events.SUBSCRIPTIONS) in their canonical order; empty means everything."""
    chosen = set(names)
    for name in sorted(chosen):
        if name not in hook_events.SUBSCRIPTIONS:
            raise InvalidInput(N_("Unknown event: %(event)s."), event=name[:100])
    return [key for key in hook_events.SUBSCRIPTIONS if key in chosen]


def clean_secret(secret: str) -> str:
    if len(secret) > SECRET_MAX:
        raise InvalidInput(N_("The secret may be at most %(max)s characters long."), max=SECRET_MAX)
    return secret


def clean_branch_filter(branch_filter: str) -> str:
    """A glob of branch names (``main``, ``release/*``, ``{main,develop}``); empty or ``*`` means every branch."""
    branch_filter = branch_filter.strip()
    if len(branch_filter) > FILTER_MAX:
        raise InvalidInput(N_("The branch filter may be at most %(max)s characters long."), max=FILTER_MAX)
    if any(ch.isspace() or ord(ch) < 32 for ch in branch_filter) or branch_filter.count("{") != branch_filter.count(
            "}"):
        raise InvalidInput(N_("The branch filter is not a valid pattern."))
    return branch_filter


# --- services -----------------------------------------------------------------------------------------------------


def list_hooks(session: Session, target: HookTarget) -> list[Webhook]:
    stmt = select(Webhook)
    if target.repo is not None:
        stmt = stmt.where(Webhook.repo_id == target.repo.repo.id)
    else:
        assert target.org is not None
        stmt = stmt.where(Webhook.org_id == target.org.id)
    return list(session.exec(stmt.order_by(col(Webhook.id))))


def get_hook(session: Session, target: HookTarget, hook_id: int) -> Webhook:
    hook = session.get(Webhook, hook_id) if 0 < hook_id < 2**31 else None  # ids from URLs may overflow a column
    if hook is None or not target.owns(hook):
        raise NotFound(N_("Webhook not found."))
    return hook


def create_hook(
    session: Session,
    settings: Settings,
    actor: Account,
    target: HookTarget,
    *,
    url: str,
    content_type: str = CONTENT_JSON,
    secret: str = "",
    events: Sequence[str] = (),
    branch_filter: str = "",
    active: bool = True,
) -> Webhook:
    hook = Webhook(
        repo_id=target.repo.repo.id if target.repo is not None else None,
        org_id=target.org.id if target.org is not None else None,
        url=clean_url(url, settings),
        content_type=clean_content_type(content_type),
        secret=clean_secret(secret),
        events=clean_events(events),
        branch_filter=clean_branch_filter(branch_filter),
        active=active,
        created_by_id=actor.id,
    )
    session.add(hook)
    session.flush()
    return hook


def update_hook(
    session: Session,
    settings: Settings,
    hook: Webhook,
    *,
    url: str | None = None,
    content_type: str | None = None,
    secret: str | None = None,
    events: Sequence[str] | None = None,
    branch_filter: str | None = None,
    active: bool | None = None,
) -> Webhook:
    """Change what is given; ``None`` keeps a field (so a blank secret field in a form keeps the secret)."""
    if url is not None:
        hook.url = clean_url(url, settings)
    if content_type is not None:
        hook.content_type = clean_content_type(content_type)
    if secret is not None:
        hook.secret = clean_secret(secret)
    if events is not None:
        hook.events = clean_events(events)
    if branch_filter is not None:
        hook.branch_filter = clean_branch_filter(branch_filter)
    if active is not None:
        hook.active = active
    hook.updated_at = utcnow()
    session.add(hook)
    session.flush()
    return hook


def delete_hook(session: Session, hook: Webhook) -> None:
    """Remove the hook; its deliveries go with it (the foreign key cascades)."""
    session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == hook.id))  # type: ignore[call-overload]
    session.delete(hook)
    session.flush()


def last_deliveries(session: Session, hooks: Sequence[Webhook]) -> dict[int, WebhookDelivery]:
    """Each hook's newest delivery (for the status icon in the hook list)."""
    result: dict[int, WebhookDelivery] = {}
    for hook in hooks:
        row = session.exec(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)
                           .order_by(col(WebhookDelivery.id).desc()).limit(1)).first()
        if row is not None and hook.id is not None:
            result[hook.id] = row
    return result
