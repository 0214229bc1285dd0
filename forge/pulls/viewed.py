"""Files a reviewer ticked "Viewed" on a pull request's files tab.

The tick remembers the file's blob at the time, so when a push changes the file it shows as not viewed again
(GitHub's behaviour): there is something new to look at. Nothing needs resetting on a push; the comparison of blob
ids does it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.errors import InvalidInput
from forge.i18n import N_
from forge.pulls.models import PullRequest, ViewedFile

MAX_PATH = 1024


def set_viewed(session: Session, actor: Account, pull: PullRequest, path: str, blob_sha: str, viewed: bool) -> None:
    """Tick (or untick) ``path`` as viewed by ``actor`` at blob ``blob_sha`` (the caller checked read access)."""
    path = path.strip("/")
    if not path or len(path) > MAX_PATH:
        raise InvalidInput(N_("Choose a file."))
    assert pull.id is not None and actor.id is not None
    row = session.exec(select(ViewedFile).where(ViewedFile.pull_id == pull.id, ViewedFile.user_id == actor.id,
                                                ViewedFile.path == path)).first()
    if not viewed:
        if row is not None:
            session.delete(row)
            session.flush()
        return
    if row is None:
        row = ViewedFile(pull_id=pull.id, user_id=actor.id, path=path, blob_sha=blob_sha)
    row.blob_sha = blob_sha
    session.add(row)
    session.flush()


def viewed_paths(session: Session, actor: Account | None, pull: PullRequest, blobs: Mapping[str, str]) -> set[str]:
    """The paths of ``blobs`` (path -> current blob id; "" for a deleted file) ``actor`` ticked at that blob."""
    if actor is None or not blobs:
        return set()
    rows = session.exec(select(ViewedFile).where(ViewedFile.pull_id == pull.id, ViewedFile.user_id == actor.id,
                                                 col(ViewedFile.path).in_(list(blobs))))
    return {row.path for row in rows if row.blob_sha == blobs.get(row.path)}
