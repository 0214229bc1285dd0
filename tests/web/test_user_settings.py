"""The signed-in user's settings pages, driven over HTTP against the live server."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from forge.accounts import sessions as web_sessions
from forge.accounts import tokens as token_service
from forge.accounts import users
from forge.accounts.models import Account
from tests.conftest import LiveServer
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient
from tests.webclient import WebClient

SECRET_RE = re.compile(r'class="token-secret" readonly value="(forge_[^"]+)"')


def _signed_in(web: WebClient, factory: Factory, **kwargs: object) -> Account:
    user = factory.user(**kwargs)  # type: ignore[arg-type]
    web.login(user.name, PASSWORD)
    return user


def _reload(factory: Factory, user: Account) -> Account:
    with factory.session() as s:
        fresh = users.get_account_by_id(s, user.id)  # type: ignore[arg-type]
        assert fresh is not None
        return fresh


def _png(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _row(page: str, css_class: str, text: str) -> str:
    """The table row of ``css_class`` that mentions ``text``."""
    rows = [r.split("</tr>")[0] for r in page.split(f'<tr class="{css_class}">')[1:]]
    found = [r for r in rows if text in r]
    assert len(found) == 1, f"{text!r} in {len(found)} rows"
    return found[0]


@pytest.fixture
def other_web(server: LiveServer) -> Iterator[WebClient]:
    """A second browser."""
    client = WebClient(server.url)
    yield client
    client.close()


def test_anonymous_is_sent_to_sign_in(web: WebClient) -> None:
    for path in ("/settings/profile", "/settings/tokens", "/settings/sessions", "/settings"):
        resp = web.get(path)
        assert resp.status_code == 303
        location = resp.headers["location"]
        assert location.startswith("/user/login?next=")
        assert path in httpx.URL(location).params["next"]


def test_settings_nav_links_every_page(web: WebClient, factory: Factory) -> None:
    _signed_in(web, factory)
    assert web.get("/settings").headers["location"] == "/settings/profile"
    for path in ("/settings/profile", "/settings/password", "/settings/emails", "/settings/tokens",
                 "/settings/sessions"):
        page = web.get(path)
        assert page.status_code == 200, path
        assert 'class="settings-nav"' in page.text
        assert f'<a href="{path}" class="active"' in page.text
        # Every form carries this browser's CSRF token (an empty field would fail in a real browser).
        tokens_on_page = set(re.findall(r'name="csrf_token" value="([^"]*)"', page.text))
        assert tokens_on_page == {web.client.cookies["forge_csrf"]}, path


def test_profile_update_shows_on_user_page(web: WebClient, factory: Factory) -> None:
    user = _signed_in(web, factory)
    resp = web.post("/settings/profile", {
        "display_name": "Ada Lovelace", "bio": "Counts <engines>", "website": "https://ada.example.org",
        "locale": "en",
    })
    assert resp.status_code == 303
    assert "Your profile has been updated." in web.follow(resp).text
    page = web.get(f"/{user.name}").text
    assert "Ada Lovelace" in page
    assert "Counts &lt;engines&gt;" in page
    assert 'href="https://ada.example.org"' in page
    assert _reload(factory, user).locale == "en"

    # Browser default is stored as no preference.
    assert web.post("/settings/profile", {"display_name": "Ada", "locale": ""}).status_code == 303
    assert _reload(factory, user).locale == ""


def test_profile_bad_input_keeps_what_was_typed(web: WebClient, factory: Factory) -> None:
    user = _signed_in(web, factory)
    resp = web.post("/settings/profile", {"display_name": "Typed Name", "bio": "typed bio",
                                          "website": "javascript:alert(1)", "locale": "en"})
    assert resp.status_code == 422
    assert "The website must start with http:// or https://." in html.unescape(resp.text)
    assert 'value="Typed Name"' in resp.text and "typed bio" in resp.text
    assert _reload(factory, user).display_name == ""

    resp = web.post("/settings/profile", {"display_name": "x", "locale": "xx_YY"})
    assert resp.status_code == 422
    assert _reload(factory, user).locale == ""


def test_preferred_language_switches_the_interface(web: WebClient, factory: Factory) -> None:
    user = _signed_in(web, factory)
    assert web.post("/settings/profile", {"locale": "zh_CN"}).status_code == 303
    assert _reload(factory, user).locale == "zh_CN"
    page = web.get("/settings/profile").text
    assert '<html lang="zh-CN">' in page
    assert '<option value="zh_CN" selected>' in page


def test_avatar_upload_replace_and_remove(web: WebClient, factory: Factory, server: LiveServer) -> None:
    user = _signed_in(web, factory)
    resp = web.post("/settings/avatar", files={"avatar": ("me.png", _png(), "image/png")})
    assert resp.status_code == 303, resp.text[:500]
    assert "Your avatar has been updated." in web.follow(resp).text
    img = web.get(f"/avatars/{user.name}")
    assert img.status_code == 200
    assert img.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(img.content)) as stored:
        assert stored.size == (users.AVATAR_SIZE, users.AVATAR_SIZE)
    first = img.content

    # Not an image: an error on the page, and the old avatar stays.
    resp = web.post("/settings/avatar", files={"avatar": ("notes.png", b"just some text", "image/png")})
    assert resp.status_code == 422
    assert "The file is not an image we can read" in resp.text
    assert web.get(f"/avatars/{user.name}").content == first

    # Too large: refused before it is decoded.
    big = b"\x89PNG" + b"\0" * server.settings.max_avatar_bytes
    resp = web.post("/settings/avatar", files={"avatar": ("big.png", big, "image/png")})
    assert resp.status_code == 422
    assert "The image is too large" in resp.text
    assert web.get(f"/avatars/{user.name}").content == first

    # No file chosen.
    resp = web.post("/settings/avatar", files={"avatar": ("", b"", "application/octet-stream")})
    assert resp.status_code == 422
    assert "Choose an image file to upload." in resp.text

    resp = web.post("/settings/avatar/delete")
    assert resp.status_code == 303
    assert web.get(f"/avatars/{user.name}").headers["content-type"].startswith("image/svg+xml")
    assert not _reload(factory, user).has_avatar


def test_password_change(web: WebClient, other_web: WebClient, factory: Factory, server: LiveServer) -> None:
    user = _signed_in(web, factory)
    new = "a-brand-new-password-7"

    # Wrong current password: nothing changes.
    resp = web.post("/settings/password", {"current_password": "wrong-password", "new_password": new,
                                           "new_password_confirm": new})
    assert resp.status_code == 422
    assert "The current password is not correct." in resp.text
    # Mismatched confirmation.
    resp = web.post("/settings/password", {"current_password": PASSWORD, "new_password": new,
                                           "new_password_confirm": new + "x"})
    assert resp.status_code == 422
    assert "The two passwords do not match." in resp.text
    # Too short.
    resp = web.post("/settings/password", {"current_password": PASSWORD, "new_password": "short",
                                           "new_password_confirm": "short"})
    assert resp.status_code == 422
    other_web.login(user.name, PASSWORD)

    resp = web.post("/settings/password", {"current_password": PASSWORD, "new_password": new,
                                           "new_password_confirm": new})
    assert resp.status_code == 303
    assert "Your password has been changed." in web.follow(resp).text
    # This browser stays signed in; the other one was signed out with the old password.
    assert web.get("/settings/profile").status_code == 200
    assert other_web.get("/settings/profile").status_code == 303

    fresh = WebClient(server.url)
    try:
        old = fresh.post("/user/login", {"login": user.name, "password": PASSWORD})
        assert old.status_code == 401
        fresh.login(user.name, new)
        assert fresh.get("/settings/profile").status_code == 200
    finally:
        fresh.close()


def test_email_rules(web: WebClient, factory: Factory) -> None:
    user = _signed_in(web, factory)
    other = factory.user()
    first = f"{user.name}@example.com"
    second = f"{user.name}.second@example.org"

    resp = web.post("/settings/emails", {"email": second})
    assert resp.status_code == 303
    page = web.follow(resp).text
    assert first in page and second in page

    with factory.session() as s:
        addrs = {a.email: a for a in users.list_emails(s, _reload(factory, user))}
    primary_id, second_id = addrs[first].id, addrs[second].id
    assert addrs[first].is_primary and not addrs[second].is_primary

    # The primary address cannot be removed.
    resp = web.post(f"/settings/emails/{primary_id}/delete")
    assert resp.status_code == 422
    assert "The primary email address cannot be removed" in resp.text

    # Someone else's address, an invalid one.
    resp = web.post("/settings/emails", {"email": f"{other.name}@example.com"})
    assert resp.status_code == 409
    assert "is already in use" in resp.text
    resp = web.post("/settings/emails", {"email": "not-an-address"})
    assert resp.status_code == 422
    assert 'value="not-an-address"' in resp.text

    # Make the second primary, then the first can go.
    assert web.post(f"/settings/emails/{second_id}/primary").status_code == 303
    with factory.session() as s:
        assert users.primary_email(s, _reload(factory, user)) == second
    assert web.post(f"/settings/emails/{primary_id}/delete").status_code == 303
    page = web.get("/settings/emails").text
    assert first not in page and second in page

    # Another user's address cannot be touched by id.
    with factory.session() as s:
        other_id = users.list_emails(s, _reload(factory, other))[0].id
    assert web.post(f"/settings/emails/{other_id}/delete").status_code == 404
    assert web.post(f"/settings/emails/{other_id}/primary").status_code == 404


def test_token_shown_once_and_works_for_git_until_revoked(
    web: WebClient, factory: Factory, git: GitClient, server: LiveServer
) -> None:
    user = _signed_in(web, factory)
    ref = factory.repo(user, private=True, readme=True)
    page = web.get("/settings/tokens").text
    assert 'value="read:repo"' in page
    assert 'value="admin"' not in page  # not offered to a non-admin

    resp = web.post("/settings/tokens", {"name": "laptop", "scopes": ["read:repo", "write:repo"],
                                         "expires": "30"})
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert "it will not be shown again" in resp.text
    match = SECRET_RE.search(resp.text)
    assert match, resp.text[:2000]
    secret = match.group(1)
    assert secret not in str(resp.headers)

    listing = web.get("/settings/tokens").text
    assert secret not in listing
    row = _row(listing, "token-row", "laptop")
    assert secret[:10] in row
    assert "read:repo" in row and "write:repo" in row
    assert "never" in row  # not used yet

    clone = git.run("clone", git.url(f"{user.name}/{ref.repo.name}.git", user.name, secret), "copy")
    assert clone.ok, clone.err
    assert (git.tmp / "copy" / "README.md").exists()

    info_refs = f"{server.url}/{user.name}/{ref.repo.name}.git/info/refs?service=git-upload-pack"
    assert httpx.get(info_refs, headers={"Authorization": f"token {secret}"}).status_code == 200
    assert "never" not in _row(web.get("/settings/tokens").text, "token-row", "laptop")  # used just now

    with factory.session() as s:
        token_id = token_service.list_tokens(s, _reload(factory, user))[0].id
    resp = web.post(f"/settings/tokens/{token_id}/delete")
    assert resp.status_code == 303
    assert "laptop" not in web.follow(resp).text
    assert httpx.get(info_refs, headers={"Authorization": f"token {secret}"}).status_code == 401
    again = git.run("clone", git.url(f"{user.name}/{ref.repo.name}.git", user.name, secret), "copy2")
    assert not again.ok


def test_token_form_errors_and_admin_scope(web: WebClient, other_web: WebClient, factory: Factory) -> None:
    _signed_in(web, factory)
    resp = web.post("/settings/tokens", {"name": "ci", "scopes": ["admin"], "expires": "never"})
    assert resp.status_code == 422
    assert "Only administrators may create tokens with the admin scope." in resp.text
    assert 'value="ci"' in resp.text
    resp = web.post("/settings/tokens", {"name": "ci", "expires": "7"})
    assert resp.status_code == 422
    assert "Choose at least one scope." in resp.text
    resp = web.post("/settings/tokens", {"name": "ci", "scopes": ["read:repo"], "expires": "12"})
    assert resp.status_code == 422
    assert "Choose when the token expires." in resp.text
    # The chosen scopes survive the error.
    assert re.search(r'value="read:repo"\s+checked', resp.text)

    _signed_in(other_web, factory, admin=True)
    assert 'value="admin"' in other_web.get("/settings/tokens").text
    resp = other_web.post("/settings/tokens", {"name": "ops", "scopes": ["admin"], "expires": "never"})
    assert resp.status_code == 200
    assert SECRET_RE.search(resp.text)
    assert "Never" in _row(other_web.get("/settings/tokens").text, "token-row", "ops")


def test_access_token_cannot_use_settings(server: LiveServer, factory: Factory) -> None:
    user = factory.user()
    secret = factory.token(user, ["read:repo"])
    headers = {"Authorization": f"token {secret}"}
    assert httpx.get(f"{server.url}/settings/tokens", headers=headers).status_code == 403
    # A client controls both halves of the CSRF check, so it must be refused on the token alone.
    resp = httpx.post(f"{server.url}/settings/tokens", headers=headers, cookies={"forge_csrf": "x"},
                      data={"csrf_token": "x", "name": "escalate", "scopes": ["write:user"], "expires": "7"})
    assert resp.status_code == 403
    with factory.session() as s:
        assert len(token_service.list_tokens(s, _reload(factory, user))) == 1


def test_sessions_revoke_one_and_others(server: LiveServer, factory: Factory) -> None:
    user = factory.user()
    browsers = {}
    for label in ("alpha", "beta", "gamma"):
        client = WebClient(server.url)
        client.client.headers["user-agent"] = f"TestBrowser-{label}"
        client.login(user.name, PASSWORD)
        browsers[label] = client
    try:
        alpha, beta, gamma = browsers["alpha"], browsers["beta"], browsers["gamma"]
        page = alpha.get("/settings/sessions").text
        for label in browsers:
            assert f"TestBrowser-{label}" in page
        row = _row(page, "session-row", "TestBrowser-alpha")
        assert "This browser" in row and "/delete" not in row

        with factory.session() as s:
            ids = {ws.user_agent: ws.id for ws in web_sessions.list_sessions(s, _reload(factory, user))}
        resp = alpha.post(f"/settings/sessions/{ids['TestBrowser-beta']}/delete")
        assert resp.status_code == 303
        assert "TestBrowser-beta" not in alpha.follow(resp).text
        signed_out = beta.get("/settings/profile")
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/user/login?next=")
        assert gamma.get("/settings/profile").status_code == 200

        # Someone else's session id is not found.
        intruder = factory.user()
        with alpha.as_user(intruder.name, PASSWORD) as stranger:
            assert stranger.post(f"/settings/sessions/{ids['TestBrowser-gamma']}/delete").status_code == 404
        assert gamma.get("/settings/profile").status_code == 200

        resp = alpha.post("/settings/sessions/others/delete")
        assert resp.status_code == 303
        assert "Other sessions signed out: 1." in alpha.follow(resp).text
        assert gamma.get("/settings/profile").status_code == 303
        assert alpha.get("/settings/profile").status_code == 200

        # Revoking this browser's own session signs it out.
        resp = alpha.post(f"/settings/sessions/{ids['TestBrowser-alpha']}/delete")
        assert resp.status_code == 303 and resp.headers["location"] == "/user/login"
        assert alpha.get("/settings/profile").status_code == 303
    finally:
        for client in browsers.values():
            client.close()
