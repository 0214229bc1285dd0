"""Issue attachments: the upload the comment box's small script makes, and serving the stored files.

Served files come from anyone, so they get the raw-file CSP, ``nosniff``, and are shown inline only when their
bytes were recognised as a safe image type at upload; everything else downloads. The "Attach" button of the forms
that work without JavaScript is in web/issue_requests.py, shared with those forms' routes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from forge.errors import ForgeError
from forge.issues import attachments
from web.i18n import gettext
from web.issue_requests import attach, check_length, lookup, read_upload_form
from web.routes.repo_code import RAW_CSP
from web.state import current_user, require_user, run_db, settings_of

_R = "/{owner}/{repo}"


def _disposition(name: str) -> str:
    # An ASCII fallback plus the exact UTF-8 name (RFC 6266); quotes and control characters cannot break out.
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def upload_attachment(request: Request) -> Response:
    """The small script's upload: a JSON answer with the Markdown to insert."""
    await run_db(request, lambda s: lookup(s, request))
    try:
        check_length(request)
        _, upload = await read_upload_form(request, always=True)
        actor = require_user(request)
        stored = await attach(request, actor, upload)
    except ForgeError as exc:
        return JSONResponse({"message": gettext(exc.message, **exc.params)}, status_code=exc.status)
    return JSONResponse({"url": stored.url, "markdown": stored.markdown, "name": stored.attachment.name})


async def serve_attachment(request: Request) -> Response:
    data_dir = settings_of(request).data_dir
    viewer = current_user(request)

    def load(session: Session) -> tuple[Any, Any, bool]:
        ref, _ = lookup(session, request)
        row, path = attachments.open_for(session, data_dir, viewer, ref, request.path_params["uuid"])
        return row, path, ref.repo.is_private

    row, path, private = await run_db(request, load)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": RAW_CSP,
        "Cache-Control": "private, max-age=3600" if private else "public, max-age=86400",
    }
    # The type was recognised from the file's bytes when it was uploaded; only the safe image types are inline.
    inline = row.content_type if row.content_type.startswith("image/") else None
    if inline:
        headers["Content-Disposition"] = "inline"
        return FileResponse(path, media_type=inline, headers=headers)
    headers["Content-Disposition"] = _disposition(row.name)
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


routes: list[BaseRoute] = [
    Route(_R + "/issues/attachments", upload_attachment, methods=["POST"], name="issue_attachment_upload"),
    Route(_R + "/attachments/{uuid}", serve_attachment, methods=["GET"], name="issue_attachment"),
]
