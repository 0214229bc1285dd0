"""Site administration through the web UI, against the live server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from forge import site
from forge.accounts import users
from forge.accounts.models import Account
from forge.repos import services as repos
from tests.factories import PASSWORD, Factory, unique
from tests.webclient import WebClient


def submit(web: WebClient, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    return web.submit(page, action, data)


@pytest.fixture
def admin(web: WebClient, factory: Factory) -> Account:
    user = factory.user(admin=True)
    web.login(user.name, PASSWORD)
    return user


@pytest.fixture
def restore_signup(factory: Factory) -> Iterator[None]:
    # Other tests sign up through the form: whatever happens here, leave sign-up open.
    yield
    with factory.session() as s:
        site.set_signup_mode(s, "open")


def _users_page(name: str) -> str:
    return f"/admin/users?q={name}"


def _row(user: Account) -> str:
    return f'id="user-{user.name}"'


def _fresh(factory: Factory, name: str) -> Account | None:
    with factory.session() as s:
        return users.find_account(s, name)


def test_admin_pages_are_for_site_admins(web: WebClient, factory: Factory) -> None:
    for path in ("/admin", "/admin/users", "/admin/orgs", "/admin/repos", "/admin/settings"):
        anon = web.get(path)
        assert anon.status_code == 303 and anon.headers["location"].startswith("/user/login?next="), path
    someone = factory.user()
    web.login(someone.name, PASSWORD)
    for path in ("/admin", "/admin/users", "/admin/orgs", "/admin/repos", "/admin/settings"):
        assert web.get(path).status_code == 403, path
    victim = factory.user()
    assert web.post(f"/admin/users/{victim.name}/promote").status_code == 403
    assert web.post("/admin/settings", {"signup": "closed"}).status_code == 403
    assert not (_fresh(factory, someone.name) or someone).is_admin


def test_dashboard_and_listings(web: WebClient, factory: Factory, admin: Account) -> None:
    owner = factory.user()
    org = factory.org(owner)
    secret = factory.repo(owner, private=True)
    page = web.get("/admin")
    assert page.status_code == 200
    assert "Users" in page.text and "Organisations" in page.text and "Repositories" in page.text
    assert "Open: anyone can sign up" in page.text

    listed = web.get(_users_page(owner.name)).text
    assert _row(owner) in listed and _row(admin) not in listed
    by_email = web.get(f"/admin/users?q={owner.name}@example.com").text
    assert _row(owner) in by_email
    assert _row(admin) in web.get("/admin/users?flag=admin&q=" + admin.name).text
    assert _row(owner) not in web.get("/admin/users?flag=admin&q=" + owner.name).text
    assert org.name in web.get(f"/admin/orgs?q={org.name}").text
    repos_page = web.get(f"/admin/repos?q={secret.repo.name}").text
    assert secret.full_name in repos_page and "Private" in repos_page


def test_promote_and_demote(web: WebClient, factory: Factory, admin: Account) -> None:
    bob = factory.user()
    page = _users_page(bob.name)
    up = submit(web, page, f"/admin/users/{bob.name}/promote", {"back": page})
    assert up.status_code == 303 and up.headers["location"] == page
    assert f"{bob.name} is now a site administrator." in web.follow(up).text
    assert (_fresh(factory, bob.name) or bob).is_admin
    down = submit(web, page, f"/admin/users/{bob.name}/demote", {"back": "https://evil.example/"})
    assert down.status_code == 303 and down.headers["location"] == "/admin/users"
    assert not (_fresh(factory, bob.name) or bob).is_admin

    myself = web.post(f"/admin/users/{admin.name}/demote")
    assert myself.status_code == 422 and "You cannot remove your own administrator rights." in myself.text
    assert web.post(f"/admin/users/{bob.name}/dance").status_code == 404


def test_blocking_signs_the_user_out_and_stops_sign_in(web: WebClient, factory: Factory, admin: Account) -> None:
    carol = factory.user()
    with web.as_user(carol.name, PASSWORD) as hers:
        assert hers.get("/repo/new").status_code == 200

        page = _users_page(carol.name)
        blocked = submit(web, page, f"/admin/users/{carol.name}/block", {"back": page})
        assert blocked.status_code == 303
        listing = web.follow(blocked).text
        assert "has been blocked" in listing and "Blocked" in listing

        # The open session stops working at once...
        assert hers.get("/repo/new").status_code == 303
        # ...and signing in again is refused with the reason.
        again = hers.post("/user/login", {"login": carol.name, "password": PASSWORD})
        assert again.status_code == 403
        assert "This account has been blocked by an administrator." in again.text

        assert submit(web, page, f"/admin/users/{carol.name}/unblock", {"back": page}).status_code == 303
        hers.login(carol.name, PASSWORD)

    myself = web.post(f"/admin/users/{admin.name}/block")
    assert myself.status_code == 422 and "You cannot block yourself." in myself.text


def test_closed_sign_up_is_refused(
    web: WebClient, factory: Factory, admin: Account, server: Any, restore_signup: None
) -> None:
    saved = submit(web, "/admin/settings", "/admin/settings", {"signup": "closed"})
    assert saved.status_code == 303
    assert "Closed: only administrators create accounts" in web.get("/admin").text
    bad = submit(web, "/admin/settings", "/admin/settings", {"signup": "sometimes"})
    assert bad.status_code == 422

    visitor = WebClient(server.url)
    try:
        name = unique("closed")
        resp = visitor.post("/user/signup", {"name": name, "email": f"{name}@example.com", "password": PASSWORD,
                                             "password_confirm": PASSWORD})
        assert resp.status_code == 422
        assert "Sign-up is closed on this site." in resp.text
        assert _fresh(factory, name) is None
    finally:
        visitor.close()
    assert submit(web, "/admin/settings", "/admin/settings", {"signup": "open"}).status_code == 303


def test_approval_sign_up_waits_for_an_admin(
    web: WebClient, factory: Factory, admin: Account, server: Any, restore_signup: None
) -> None:
    assert submit(web, "/admin/settings", "/admin/settings", {"signup": "approval"}).status_code == 303
    visitor = WebClient(server.url)
    try:
        name = unique("waiting")
        resp = visitor.post("/user/signup", {"name": name, "email": f"{name}@example.com", "password": PASSWORD,
                                             "password_confirm": PASSWORD})
        assert resp.status_code == 303 and resp.headers["location"] == "/user/login"
        refused = visitor.post("/user/login", {"login": name, "password": PASSWORD})
        assert refused.status_code == 403
        assert "waiting for approval" in refused.text

        pending = web.get("/admin/users?flag=pending").text
        assert f'id="user-{name}"' in pending and "Awaiting approval" in pending
        page = _users_page(name)
        approved = submit(web, page, f"/admin/users/{name}/approve", {"back": page})
        assert approved.status_code == 303
        assert "can now sign in" in web.follow(approved).text
        again = web.post(f"/admin/users/{name}/approve")
        assert again.status_code == 422 and "is not waiting for approval" in again.text

        visitor.login(name, PASSWORD)
    finally:
        visitor.close()


def test_deleting_a_user_removes_their_repositories(
    web: WebClient, factory: Factory, admin: Account, server: Any
) -> None:
    dave = factory.user()
    ref = factory.repo(dave, readme=True)
    other_owner = factory.user()
    org = factory.org(other_owner)
    with factory.session() as s:
        from forge.accounts import orgs

        orgs.add_member(s, other_owner, orgs.get_org(s, org.name), dave, owner=True)
    path = repos.path_of(server.settings.repos_dir, ref)
    assert path.is_dir()
    assert ref.full_name in web.get(f"/explore/repos?q={ref.repo.name}").text

    confirm = web.get(f"/admin/users/{dave.name}/delete")
    assert confirm.status_code == 200
    assert ref.full_name in confirm.text and org.name in confirm.text
    done = submit(web, f"/admin/users/{dave.name}/delete", f"/admin/users/{dave.name}/delete", {})
    assert done.status_code == 303 and done.headers["location"] == "/admin/users"
    assert f"The user {dave.name} and their repositories were deleted." in web.follow(done).text

    assert not path.exists()
    assert not path.parent.exists()
    assert _fresh(factory, dave.name) is None
    assert ref.full_name not in web.get(f"/explore/repos?q={ref.repo.name}").text
    assert web.get(f"/{ref.full_name}").status_code == 404
    # The organisation they co-owned lives on with its other owner.
    assert web.get(f"/{org.name}").status_code == 200


def test_deleting_a_sole_org_owner_or_oneself_is_refused(
    web: WebClient, factory: Factory, admin: Account
) -> None:
    erin = factory.user()
    org = factory.org(erin)
    confirm = web.get(f"/admin/users/{erin.name}/delete")
    assert confirm.status_code == 200
    assert f"{erin.name} is the only owner of {org.name}" in confirm.text
    refused = web.post(f"/admin/users/{erin.name}/delete")
    assert refused.status_code == 409
    assert f"{erin.name} is the only owner of {org.name}" in refused.text
    assert _fresh(factory, erin.name) is not None

    myself = web.post(f"/admin/users/{admin.name}/delete")
    assert myself.status_code == 422 and "You cannot delete your own account here." in myself.text


def test_deleting_an_org_and_a_repo(web: WebClient, factory: Factory, admin: Account, server: Any) -> None:
    owner = factory.user()
    org = factory.org(owner)
    org_repo = factory.repo(org, actor=owner, readme=True)
    lone = factory.repo(owner, private=True)
    org_path = repos.path_of(server.settings.repos_dir, org_repo)
    lone_path = repos.path_of(server.settings.repos_dir, lone)

    page = f"/admin/orgs/{org.name}/delete"
    assert org_repo.full_name in web.get(page).text
    done = submit(web, page, page, {})
    assert done.status_code == 303 and done.headers["location"] == "/admin/orgs"
    assert not org_path.exists()
    assert _fresh(factory, org.name) is None
    assert web.get(f"/{org.name}").status_code == 404

    page = f"/admin/repos/{lone.full_name}/delete"
    done = submit(web, page, page, {})
    assert done.status_code == 303 and done.headers["location"] == "/admin/repos"
    assert f"The repository {lone.full_name} was deleted." in web.follow(done).text
    assert not lone_path.exists()
    assert web.get(page).status_code == 404
    # The owner can now be deleted: nothing of theirs is left behind.
    assert submit(web, f"/admin/users/{owner.name}/delete", f"/admin/users/{owner.name}/delete",
                  {}).status_code == 303
