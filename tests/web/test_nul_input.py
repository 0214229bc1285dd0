"""A NUL byte in a form or a URL is the sender's mistake: a clear 422, never a 500 (PostgreSQL refuses NUL in text,
which used to surface as a server error), and nothing is stored."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from forge.issues.models import Issue
from tests.factories import PASSWORD


def test_a_form_with_a_nul_byte_is_refused_and_nothing_is_saved(factory: Any, web: Any) -> None:
    owner = factory.user()
    ref = factory.repo(owner)
    web.login(owner.name, PASSWORD)
    base = f"/{ref.full_name}"
    resp = web.submit(f"{base}/issues/new", f"{base}/issues/new", {"title": "bad\x00title", "body": "text"})
    assert resp.status_code == 422
    assert "Text must not contain NUL characters." in resp.text
    with factory.session() as session:
        assert session.exec(select(Issue).where(Issue.repo_id == ref.repo.id)).first() is None


def test_a_url_with_a_nul_byte_is_not_a_server_error(factory: Any, web: Any) -> None:
    owner = factory.user()
    ref = factory.repo(owner)
    for path in (f"/{owner.name}%00/{ref.repo.name}", f"/{ref.full_name}/issues?q=%00",
                 f"/api/v1/repos/{owner.name}%00/{ref.repo.name}"):
        resp = web.get(path)
        # SQLite takes NUL and finds nothing (404, or an empty list); PostgreSQL refuses it (422). Never a 500.
        assert resp.status_code in (200, 404, 422), (path, resp.status_code, resp.text[:300])
        if resp.status_code == 422:
            assert "NUL" in resp.text
