"""What the issue routes read from a request: the repository and issue named in the path, the values of their
forms, and a file sent with the "Attach" button.

Shared by the route modules under web/routes/issue*.py so that every one of them looks the repository up (and
checks read access) the same way before anything else, which keeps a hidden repository a 404 on every URL.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from forge.accounts.models import Account
from forge.errors import Conflict, ForgeError, InvalidInput
from forge.i18n import N_
from forge.issues import attachments
from forge.issues import services as issues
from forge.issues.models import Issue
from forge.permissions import Access
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web import issue_view
from web.forms import read_form
from web.repo_context import header_context
from web.state import current_user, run_db, settings_of

# --- the repository and the issue --------------------------------------------------------------------------


def lookup(session: Session, request: Request, needed: Access = Access.READ) -> tuple[RepoRef, Access]:
    p = request.path_params
    return repos.get_visible_repo(session, current_user(request), p["owner"], p["repo"], needed)


def page_context(session: Session, ref: RepoRef, level: Access) -> dict[str, Any]:
    """The repository header with the Issues tab active."""
    return header_context(ref, level, repos.fork_source(session, ref), "issues")


def issue_of(session: Session, request: Request, ref: RepoRef) -> Issue:
    return issues.get_issue(session, ref, int(request.path_params["number"]))


def looked_up_issue(session: Session, request: Request) -> Issue:
    """The issue in the path, the repository checked first (a route's first step, before reading any form)."""
    return issue_of(session, request, lookup(session, request)[0])


def conversation_url(session: Session, request: Request) -> str:
    """The page showing the issue's conversation (the pull request page for a pull request)."""
    ref, _ = lookup(session, request)
    return issue_view.page_url(ref, issue_of(session, request, ref))


# --- form values -------------------------------------------------------------------------------------------


def ids(form: FormData, name: str) -> list[int]:
    result = []
    for value in form.getlist(name):
        if isinstance(value, str) and value.strip():
            try:
                result.append(int(value))
            except ValueError as exc:
                raise InvalidInput(N_("The form was not filled in correctly.")) from exc
    return result


def optional_int(value: str) -> int | None:
    try:
        return int(value) if value else None
    except ValueError as exc:
        raise InvalidInput(N_("The form was not filled in correctly.")) from exc


def optional_date(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(N_("A date is written YYYY-MM-DD.")) from exc


def is_typed(exc: ForgeError) -> bool:
    """Errors about what was typed or chosen (shown on the page) rather than refusals (their own status)."""
    return isinstance(exc, InvalidInput | Conflict)


# --- attached files ----------------------------------------------------------------------------------------


def max_upload(request: Request) -> int:
    return settings_of(request).attachment_max_mb * 1024 * 1024


def check_length(request: Request) -> None:
    """Refuse a body far too big for any attachment before reading it. One somewhat over the limit is read, so the
    form can come back with its text kept and the attachment refused."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > 2 * max_upload(request) + 1024 * 1024:
        raise attachments.TooLarge(N_("The file is too large; attachments may be at most %(max)s MiB."),
                                   max=settings_of(request).attachment_max_mb)


async def _upload(form: FormData) -> tuple[str, bytes] | None:
    file = form.get("file")
    if not isinstance(file, UploadFile):
        return None
    try:
        return (file.filename, await file.read()) if file.filename else None
    finally:
        await file.close()


async def read_upload_form(request: Request, always: bool = False) -> tuple[FormData, tuple[str, bytes] | None]:
    """The form and, when its "Attach" button was pressed (or ``always``), the chosen file; the form's temporary
    files are closed either way."""
    form = await read_form(request)
    try:
        upload = await _upload(form) if always or "attach" in form else None
    finally:
        await form.close()
    return form, upload


async def attach(request: Request, actor: Account, upload: tuple[str, bytes] | None) -> attachments.Stored:
    """Store the file sent with the form (InvalidInput when none was chosen)."""
    if upload is None:
        raise InvalidInput(N_("Choose a file to attach."))
    name, data = upload
    settings = settings_of(request)

    def work(session: Session) -> attachments.Stored:
        ref, _ = lookup(session, request)
        return attachments.save(session, settings.data_dir, max_upload(request), actor, ref, name=name, data=data)

    return await run_db(request, work)


def with_attachment(text: str, stored: attachments.Stored) -> str:
    """The text being written with the attachment's Markdown added on a line of its own."""
    return f"{text.rstrip()}\n{stored.markdown}\n" if text.strip() else f"{stored.markdown}\n"
