"""Organisations, members and teams through the web UI, against the live server."""

from __future__ import annotations

from typing import Any

import httpx

from forge.accounts import orgs
from forge.accounts.models import Account
from tests.factories import PASSWORD, Factory, unique
from tests.gitclient import GitClient
from tests.webclient import WebClient


def submit(web: WebClient, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    return web.submit(page, action, data)


def signed_in(server_url: str, user: Account) -> WebClient:
    client = WebClient(server_url)
    client.login(user.name, PASSWORD)
    return client


def _membership(factory: Factory, org_name: str, user: Account) -> Any:
    with factory.session() as s:
        return orgs.membership(s, orgs.get_org(s, org_name), user)


def test_create_org_through_the_form(web: WebClient, factory: Factory) -> None:
    alice = factory.user()
    web.login(alice.name, PASSWORD)
    name = unique("org")

    bad = submit(web, "/org/new", "/org/new", {"name": "no good!", "display_name": "Kept Display"})
    assert bad.status_code == 422
    assert "is not a valid name" in bad.text
    assert 'value="Kept Display"' in bad.text  # nothing the user typed is lost

    resp = submit(web, "/org/new", "/org/new", {"name": name, "display_name": "Acme Devs"})
    assert resp.status_code == 303 and resp.headers["location"] == f"/{name}"
    page = web.follow(resp)
    assert "Acme Devs" in page.text
    assert f"The organisation {name} was created." in page.text
    assert f'href="/org/{name}/settings"' in page.text  # the creator owns it
    member = _membership(factory, name, alice)
    assert member is not None and member.is_owner

    taken = submit(web, "/org/new", "/org/new", {"name": name})
    assert taken.status_code == 409
    assert "already taken" in taken.text


def test_org_settings_are_for_owners(web: WebClient, factory: Factory, server: Any) -> None:
    owner, member = factory.user(), factory.user()
    org = factory.org(owner)
    with factory.session() as s:
        orgs.add_member(s, owner, orgs.get_org(s, org.name), member)

    anon = web.get(f"/org/{org.name}/settings")
    assert anon.status_code == 303
    assert anon.headers["location"].startswith("/user/login?next=")

    other = signed_in(server.url, member)
    try:
        assert other.get(f"/org/{org.name}/settings").status_code == 403
        refused = other.post(f"/org/{org.name}/settings", {"display_name": "Hijacked"})
        assert refused.status_code == 403
    finally:
        other.close()

    web.login(owner.name, PASSWORD)
    page = f"/org/{org.name}/settings"
    bad = submit(web, page, page, {"display_name": "Name", "bio": "About us", "website": "ftp://x"})
    assert bad.status_code == 422
    assert "must start with http" in bad.text and "About us" in bad.text
    ok = submit(web, page, page, {"display_name": "The Org", "bio": "We build things",
                                  "website": "https://example.org"})
    assert ok.status_code == 303
    profile = web.get(f"/{org.name}").text
    assert "The Org" in profile and "We build things" in profile and "https://example.org" in profile


def test_team_member_can_push_and_outsider_cannot_see(
    web: WebClient, factory: Factory, git: GitClient, server: Any
) -> None:
    owner, dev, outsider = factory.user(), factory.user(), factory.user()
    org = factory.org(owner)
    ref = factory.repo(org, actor=owner, private=True)
    web.login(owner.name, PASSWORD)

    members = f"/org/{org.name}/members"
    added = submit(web, members, members, {"name": dev.name, "role": "member"})
    assert added.status_code == 303
    assert dev.name in web.follow(added).text

    teams = f"/org/{org.name}/teams"
    created = submit(web, teams, teams, {"name": "devs", "description": "Developers", "permission": "write"})
    assert created.status_code == 303 and created.headers["location"] == f"/org/{org.name}/teams/devs"
    team_page = f"/org/{org.name}/teams/devs"
    assert submit(web, team_page, f"{team_page}/members", {"name": dev.name}).status_code == 303
    assert submit(web, team_page, f"{team_page}/repos", {"repo": ref.repo.name}).status_code == 303
    shown = web.get(team_page).text
    assert dev.name in shown and f"{org.name}/{ref.repo.name}" in shown and "Write" in shown

    work = git.init_repo("work", {"README.md": "from the team\n"})
    push = git.run("push", git.url(f"{org.name}/{ref.repo.name}.git", dev.name, PASSWORD), "main", cwd=work)
    assert push.ok, push.err
    denied = git.run("push", git.url(f"{org.name}/{ref.repo.name}.git", outsider.name, PASSWORD), "main",
                     cwd=work)
    assert not denied.ok

    stranger = signed_in(server.url, outsider)
    devweb = signed_in(server.url, dev)
    try:
        assert stranger.get(f"/{org.name}/{ref.repo.name}").status_code == 404
        assert stranger.get(team_page).status_code == 403  # teams are for members
        assert devweb.get(f"/{org.name}/{ref.repo.name}").status_code == 200
        assert devweb.get(team_page).status_code == 200
        # A plain member sees the team but cannot change it.
        assert devweb.post(f"{team_page}/edit", {"permission": "admin"}).status_code == 403
    finally:
        stranger.close()
        devweb.close()


def test_last_owner_stays_and_members_may_leave(web: WebClient, factory: Factory, server: Any) -> None:
    owner, second = factory.user(), factory.user()
    org = factory.org(owner)
    web.login(owner.name, PASSWORD)
    members = f"/org/{org.name}/members"

    leave = submit(web, members, f"{members}/{owner.name}/remove", {})
    assert leave.status_code == 422
    assert "An organisation needs at least one owner." in leave.text
    demote = submit(web, members, f"{members}/{owner.name}/role", {"role": "member"})
    assert demote.status_code == 422
    assert "An organisation needs at least one owner." in demote.text

    unknown = submit(web, members, members, {"name": "nobody-" + unique("x"), "role": "owner"})
    assert unknown.status_code == 422 and "No user is called" in unknown.text

    assert submit(web, members, members, {"name": second.name, "role": "member"}).status_code == 303
    promoted = submit(web, members, f"{members}/{second.name}/role", {"role": "owner"})
    assert promoted.status_code == 303
    assert f"{second.name} is now an owner." in web.follow(promoted).text

    gone = submit(web, members, f"{members}/{owner.name}/remove", {})
    assert gone.status_code == 303 and gone.headers["location"] == f"/{org.name}"
    assert f"You have left {org.name}." in web.follow(gone).text
    assert _membership(factory, org.name, owner) is None
    assert web.get(members).status_code == 403  # no longer a member


def test_team_editing_and_deletion(web: WebClient, factory: Factory) -> None:
    owner, dev = factory.user(), factory.user()
    org = factory.org(owner)
    ref = factory.repo(org, actor=owner)
    web.login(owner.name, PASSWORD)
    teams = f"/org/{org.name}/teams"

    bad = submit(web, teams, teams, {"name": "ops", "description": "Kept text", "permission": "root"})
    assert bad.status_code == 422 and "Permission must be read, write or admin." in bad.text
    assert "Kept text" in bad.text
    assert submit(web, teams, teams, {"name": "ops", "permission": "read", "all_repos": "on"}).status_code == 303
    dup = submit(web, teams, teams, {"name": "OPS", "permission": "read"})
    assert dup.status_code == 409

    team = f"{teams}/ops"
    assert "All repositories" in web.get(team).text
    edited = submit(web, team, f"{team}/edit", {"description": "Operations", "permission": "admin"})
    assert edited.status_code == 303
    page = web.follow(edited).text
    assert "Operations" in page and "Admin" in page and "All repositories" not in page

    missing_repo = submit(web, team, f"{team}/repos", {"repo": "does-not-exist"})
    assert missing_repo.status_code == 422 and "has no repository called" in missing_repo.text
    assert submit(web, team, f"{team}/repos", {"repo": ref.repo.name}).status_code == 303
    assert submit(web, team, f"{team}/members", {"name": dev.name}).status_code == 303
    # Joining a team makes the user a member of the organisation.
    assert _membership(factory, org.name, dev) is not None

    assert submit(web, team, f"{team}/repos/{ref.repo.name}/remove", {}).status_code == 303
    assert submit(web, team, f"{team}/members/{dev.name}/remove", {}).status_code == 303
    page = web.get(team).text
    assert "No repositories are linked to this team." in page and "This team has no members yet." in page

    deleted = submit(web, team, f"{team}/delete", {})
    assert deleted.status_code == 303 and deleted.headers["location"] == teams
    assert "No teams yet." in web.follow(deleted).text
    assert web.get(team).status_code == 404
