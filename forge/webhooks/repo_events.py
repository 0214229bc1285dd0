"""Repository events (created, deleted, renamed, transferred, publicized, privatized), called by
forge.repos.services in the transaction that makes the change.

The services know no public URL, so this module keeps the settings the application installed for each engine
(``install``, done at start-up by forge.webhooks.fanout and by its sweep) and finds them through the session's
engine; without them (a script working on the database alone) links in the payload are relative. The payload
builders import the wire models, which import forge.repos.services, so they are imported when first used rather
than at the top, which would make that import circular.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from forge.accounts.models import Account
from forge.settings import Settings

if TYPE_CHECKING:
    from forge.repos.services import RepoRef

_lock = threading.Lock()
_settings: dict[int, Settings] = {}  # engine id -> the application's settings


def install(engine: Engine, settings: Settings) -> None:
    with _lock:
        _settings[id(engine)] = settings


def uninstall(engine: Engine) -> None:
    with _lock:
        _settings.pop(id(engine), None)


def settings_for(engine: Engine) -> Settings | None:
    with _lock:
        return _settings.get(id(engine))


def base_url(session: Session) -> str:
    """The public URL of the forge ``session`` works for ("" when no application installed its settings)."""
    bind = session.get_bind()
    settings = settings_for(bind) if isinstance(bind, Engine) else None
    return settings.public_url() if settings is not None else ""


def _send(session: Session, ref: RepoRef, actor: Account | None, action: str, **fields: Any) -> None:
    from forge.webhooks.payloads import send_repository_event

    send_repository_event(session, base_url(session), ref, actor, action, **fields)


def created(session: Session, actor: Account | None, ref: RepoRef) -> None:
    _send(session, ref, actor, "created")


def deleted(session: Session, actor: Account | None, ref: RepoRef) -> None:
    """Call before the repository's row is deleted: the payload describes it as it was."""
    _send(session, ref, actor, "deleted")


def renamed(session: Session, actor: Account | None, ref: RepoRef, old_name: str) -> None:
    _send(session, ref, actor, "renamed", changes={"repository": {"name": {"from": old_name}}})


def transferred(session: Session, actor: Account | None, ref: RepoRef, old_owner: Account) -> None:
    from forge.wire.users import user_brief

    before = user_brief(old_owner, base_url(session)).model_dump(mode="json")
    kind = "organization" if old_owner.is_org else "user"
    _send(session, ref, actor, "transferred", changes={"owner": {"from": {kind: before}}})


def visibility_changed(session: Session, actor: Account | None, ref: RepoRef) -> None:
    """Call after ``is_private`` changed: publicized or privatized."""
    _send(session, ref, actor, "privatized" if ref.repo.is_private else "publicized")
