"""Files attached to issue and comment texts: stored under ``<data_dir>/attachments/<uuid>``, readable by whoever
can read the repository.

What comes back out is never active content: only PNG, JPEG, GIF and WebP images (recognised by their bytes, not
by what the uploader claimed) are served inline with their own type; everything else, SVG and HTML included, is a
download of type application/octet-stream.
"""

from __future__ import annotations

import os
import re
import uuid as uuid_module
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.errors import AuthenticationRequired, ForgeError, InvalidInput, NotFound
from forge.i18n import N_
from forge.issues.models import Attachment, Issue
from forge.permissions import Access, require_repo_access
from forge.repos.services import RepoRef

_UUID_IN_TEXT = re.compile(r"/attachments/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class TooLarge(ForgeError):
    status = 413


@dataclass(frozen=True)
class Stored:
    attachment: Attachment
    url: str
    markdown: str


def attachments_dir(data_dir: Path) -> Path:
    return data_dir / "attachments"


def file_path(data_dir: Path, attachment_uuid: str) -> Path:
    return attachments_dir(data_dir) / attachment_uuid[:2] / attachment_uuid


def sniff_image(head: bytes) -> str | None:
    """The image type of a file starting with ``head`` if it is one that is safe to show inline."""
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _clean_name(name: str) -> str:
    name = os.path.basename(name.replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>[]()`')
    return name[:200] or "file"


def save(session: Session, data_dir: Path, max_bytes: int, actor: Account | None, ref: RepoRef, *, name: str,
         data: bytes) -> Stored:
    """Store an uploaded file for the repository; a Markdown snippet (image or link) to insert in the text."""
    require_repo_access(session, actor, ref.repo, Access.READ)
    if actor is None:
        raise AuthenticationRequired(N_("Sign in to do this."))
    if len(data) > max_bytes:
        raise TooLarge(N_("The file is too large; attachments may be at most %(max)s MiB."),
                       max=max_bytes // (1024 * 1024))
    if not data:
        raise InvalidInput(N_("The file is empty."))
    name = _clean_name(name)
    image = sniff_image(data[:16])
    assert ref.repo.id is not None
    row = Attachment(uuid=str(uuid_module.uuid4()), repo_id=ref.repo.id, uploader_id=actor.id, name=name,
                     size=len(data), content_type=image or "application/octet-stream")
    target = file_path(data_dir, row.uuid)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    session.add(row)
    session.flush()
    url = f"/{ref.full_name}/attachments/{row.uuid}"
    markdown = f"![{name}]({url})" if image else f"[{name}]({url})"
    return Stored(row, url, markdown)


def open_for(session: Session, data_dir: Path, actor: Account | None, ref: RepoRef,
             attachment_uuid: str) -> tuple[Attachment, Path]:
    """The attachment and its file, for someone who can read the repository (NotFound otherwise)."""
    require_repo_access(session, actor, ref.repo, Access.READ)
    row = session.exec(select(Attachment).where(Attachment.uuid == attachment_uuid)).first()
    if row is None or row.repo_id != ref.repo.id:
        raise NotFound(N_("That file does not exist."))
    path = file_path(data_dir, row.uuid)
    if not path.is_file():
        raise NotFound(N_("That file does not exist."))
    return row, path


def claim(session: Session, ref: RepoRef, issue: Issue, text: str) -> None:
    """Link the repository's not yet linked attachments that ``text`` uses to ``issue``."""
    uuids = set(_UUID_IN_TEXT.findall(text))
    if not uuids:
        return
    stmt = select(Attachment).where(col(Attachment.uuid).in_(uuids), Attachment.repo_id == ref.repo.id,
                                    col(Attachment.issue_id).is_(None))
    for row in session.exec(stmt):
        row.issue_id = issue.id
        session.add(row)
