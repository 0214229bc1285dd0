"""Repository settings pages over HTTP against the live server, checked with a real git client."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from forge.accounts import orgs
from forge.accounts.models import Account
from forge.repos import protection, refs
from forge.repos import services as repos
from forge.repos.services import RepoRef
from tests.conftest import LiveServer
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient
from tests.webclient import WebClient


@contextmanager
def _client(server: LiveServer) -> Iterator[WebClient]:
    client = WebClient(server.url)
    try:
        yield client
    finally:
        client.close()


def _signed_in(web: WebClient, factory: Factory) -> Account:
    user = factory.user()
    web.login(user.name, PASSWORD)
    return user


def _text(resp: object) -> str:
    return html.unescape(resp.text)  # type: ignore[attr-defined]


def _forms_have_csrf(page: str) -> None:
    """Every POST form on a page carries a filled-in CSRF token (the web client adds its own, so check)."""
    forms = page.split('<form method="post"')[1:]
    assert forms
    for form in forms:
        body = form.split("</form>")[0]
        assert 'name="csrf_token" value="' in body and 'name="csrf_token" value=""' not in body


def _collaborate(factory: Factory, owner: Account, ref: RepoRef, user: Account, permission: str) -> None:
    with factory.session() as s:
        repos.set_collaborator(s, owner, ref, user, permission)


def _push_branches(git: GitClient, url: str, *branches: str) -> Path:
    return git.push_branches("work", url, *branches)


def test_settings_update_shows_on_repo_home(web: WebClient, factory: Factory, server: LiveServer) -> None:
    alice = _signed_in(web, factory)
    ref = factory.repo(alice, readme=True)
    base = f"/{ref.full_name}"
    with factory.session() as s:
        refs.create_ref(s, server.settings.repos_dir, alice, ref, "branch", "dev", "main")

    page = web.get(base + "/settings")
    assert page.status_code == 200
    _forms_have_csrf(page.text)
    assert 'name="default_branch"' in page.text and '<option value="dev"' in page.text

    resp = web.post(base + "/settings", {
        "description": "A tidy little project", "website": "https://example.org/docs", "topics": "python, web",
        "visibility": "private", "default_branch": "dev",
    })
    assert resp.status_code == 303 and resp.headers["location"] == base + "/settings"
    assert "Repository settings saved." in web.follow(resp).text

    home = web.get(base)
    assert home.status_code == 200
    assert "A tidy little project" in home.text
    assert 'href="https://example.org/docs"' in home.text
    assert ">python</a>" in home.text and ">web</a>" in home.text
    assert "Private" in home.text
    assert "<strong>dev</strong>" in home.text
    # Now private: invisible to anonymous visitors.
    with _client(server) as anon:
        assert anon.get(base).status_code == 404

    bad = web.post(base + "/settings", {"description": "kept text", "website": "ftp://nope", "topics": "",
                                        "visibility": "public", "default_branch": "dev"})
    assert bad.status_code == 422
    assert "The website must start with http:// or https://." in bad.text
    assert 'value="kept text"' in bad.text
    assert web.get(base).text.count("A tidy little project") >= 1  # nothing changed

    no_branch = web.post(base + "/settings", {"visibility": "public", "default_branch": "nope"})
    assert no_branch.status_code == 422
    assert "There is no branch called" in _text(no_branch)


def test_rename_moves_the_repository(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = _signed_in(web, factory)
    ref = factory.repo(alice, readme=True)
    new_name = ref.repo.name + "-renamed"

    taken = factory.repo(alice)
    conflict = web.post(f"/{ref.full_name}/settings/rename", {"name": taken.repo.name})
    assert conflict.status_code == 409
    assert "already has a repository called" in _text(conflict)

    resp = web.post(f"/{ref.full_name}/settings/rename", {"name": new_name})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/{alice.name}/{new_name}/settings"
    assert f"Repository renamed to {alice.name}/{new_name}." in web.follow(resp).text
    assert web.get(f"/{ref.full_name}").status_code == 404
    assert web.get(f"/{alice.name}/{new_name}").status_code == 200

    clone = git.run("clone", git.url(f"{alice.name}/{new_name}.git"), "copy")
    assert clone.ok, clone.err
    assert (git.tmp / "copy" / "README.md").exists()
    assert not git.run("clone", git.url(f"{ref.full_name}.git"), "old").ok


def test_transfer_to_an_organisation(web: WebClient, factory: Factory) -> None:
    alice = _signed_in(web, factory)
    org = factory.org(alice)
    ref = factory.repo(alice, readme=True)

    page = web.get(f"/{ref.full_name}/settings/danger")
    assert page.status_code == 200 and "Transfer ownership" in page.text
    _forms_have_csrf(page.text)

    missing = web.post(f"/{ref.full_name}/settings/transfer", {"new_owner": "no-such-owner-xyz"})
    assert missing.status_code == 422
    assert 'value="no-such-owner-xyz"' in missing.text
    assert "No user or organisation is called" in _text(missing)

    stranger_org = factory.org(factory.user())
    refused = web.post(f"/{ref.full_name}/settings/transfer", {"new_owner": stranger_org.name})
    assert refused.status_code == 403
    assert f"You cannot create repositories in {stranger_org.name}." in _text(refused)

    resp = web.post(f"/{ref.full_name}/settings/transfer", {"new_owner": org.name})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/{org.name}/{ref.repo.name}"
    moved = web.follow(resp)
    assert moved.status_code == 200 and f"Repository transferred to {org.name}." in moved.text
    assert web.get(f"/{ref.full_name}").status_code == 404


def test_delete_needs_exact_confirmation(web: WebClient, factory: Factory, server: LiveServer) -> None:
    alice = _signed_in(web, factory)
    ref = factory.repo(alice, readme=True)
    path = repos.path_of(server.settings.repos_dir, ref)
    assert path.is_dir()

    wrong = web.post(f"/{ref.full_name}/settings/delete", {"confirm": ref.repo.name})
    assert wrong.status_code == 422
    assert f"Type {ref.full_name} to confirm the deletion." in _text(wrong)
    assert path.is_dir()
    assert web.get(f"/{ref.full_name}").status_code == 200

    resp = web.post(f"/{ref.full_name}/settings/delete", {"confirm": ref.full_name})
    assert resp.status_code == 303 and resp.headers["location"] == f"/{alice.name}"
    assert f"Repository {ref.full_name} deleted." in web.follow(resp).text
    assert not path.exists()
    assert web.get(f"/{ref.full_name}").status_code == 404


def test_admin_collaborator_cannot_transfer_or_delete(web: WebClient, factory: Factory) -> None:
    alice = factory.user()
    ref = factory.repo(alice, readme=True)
    bob = _signed_in(web, factory)
    _collaborate(factory, alice, ref, bob, "admin")
    assert web.get(f"/{ref.full_name}/settings").status_code == 200
    page = web.get(f"/{ref.full_name}/settings/danger")
    assert "Only the owner of" in page.text and 'name="confirm"' not in page.text
    resp = web.post(f"/{ref.full_name}/settings/delete", {"confirm": ref.full_name})
    assert resp.status_code == 403
    assert web.get(f"/{ref.full_name}").status_code == 200


def test_collaborators_control_git_push(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = _signed_in(web, factory)
    bob, carol = factory.user(), factory.user()
    ref = factory.repo(alice, readme=True, private=True)
    base = f"/{ref.full_name}/settings/collaborators"

    assert web.post(base, {"name": bob.name, "permission": "write"}).status_code == 303
    assert web.post(base, {"name": carol.name, "permission": "read"}).status_code == 303
    unknown = web.post(base, {"name": "nobody-here-xyz", "permission": "read"})
    assert unknown.status_code == 422 and 'value="nobody-here-xyz"' in unknown.text
    page = web.get(base)
    assert bob.name in page.text and carol.name in page.text
    _forms_have_csrf(page.text)

    bob_url = git.url(f"{ref.full_name}.git", bob.name, PASSWORD)
    carol_url = git.url(f"{ref.full_name}.git", carol.name, PASSWORD)
    assert git.run("clone", bob_url, "bob", check=True).ok
    work = git.tmp / "bob"
    git.commit(work, "bob.txt", "from bob\n", "bob's change")
    push = git.run("push", bob_url, "main", cwd=work)
    assert push.ok, push.err

    git.commit(work, "carol.txt", "from carol\n", "carol's change")
    denied = git.run("push", carol_url, "main", cwd=work)
    assert not denied.ok
    assert "403" in denied.err

    # Raising carol to write lets her push; removing bob stops him.
    assert web.post(f"{base}/{carol.name}", {"permission": "write"}).status_code == 303
    assert git.run("push", carol_url, "main", cwd=work).ok
    resp = web.post(f"{base}/{bob.name}/remove", {})
    assert resp.status_code == 303
    assert f"{bob.name} is no longer a collaborator." in web.follow(resp).text
    git.commit(work, "bob2.txt", "again\n", "bob again")
    assert not git.run("push", bob_url, "main", cwd=work).ok


def test_reader_gets_403_and_stranger_404(web: WebClient, factory: Factory, server: LiveServer) -> None:
    alice = factory.user()
    ref = factory.repo(alice, readme=True, private=True)
    dave = factory.user()
    _collaborate(factory, alice, ref, dave, "read")

    web.login(dave.name, PASSWORD)
    for page in ("settings", "settings/collaborators", "settings/branches", "settings/danger"):
        assert web.get(f"/{ref.full_name}/{page}").status_code == 403, page
    assert web.post(f"/{ref.full_name}/settings", {"description": "x"}).status_code == 403
    assert f'href="/{ref.full_name}/settings"' not in web.get(f"/{ref.full_name}").text

    with _client(server) as stranger:
        stranger.login(factory.user().name, PASSWORD)
        assert stranger.get(f"/{ref.full_name}/settings").status_code == 404
        assert stranger.post(f"/{ref.full_name}/settings/delete", {"confirm": ref.full_name}).status_code == 404
    with _client(server) as anon:
        assert anon.get(f"/{ref.full_name}/settings").status_code == 404
    assert repos.path_of(server.settings.repos_dir, ref).is_dir()


def test_protection_rule_refuses_force_push_and_deletion(
    web: WebClient, factory: Factory, git: GitClient
) -> None:
    alice = _signed_in(web, factory)
    ref = factory.repo(alice)
    url = git.url(f"{ref.full_name}.git", alice.name, PASSWORD)
    work = _push_branches(git, url, "release")

    rules = f"/{ref.full_name}/settings/branches"
    assert 'name="push_teams"' not in web.get(rules).text  # a user's repository has no teams
    resp = web.post(rules, {"pattern": "release"})
    assert resp.status_code == 303
    listing = web.follow(resp)
    assert "Protection rule for release saved." in listing.text and "<code>release</code>" in listing.text
    _forms_have_csrf(listing.text)
    duplicate = web.post(rules, {"pattern": "release"})
    assert duplicate.status_code == 422 and "already exists" in _text(duplicate)
    assert "protected" in web.get(f"/{ref.full_name}/branches").text

    git.run("checkout", "-q", "release", cwd=work, check=True)
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=work, check=True)
    forced = git.run("push", "--force", url, "release", cwd=work)
    assert not forced.ok
    assert "force-push (non-fast-forward) refused" in forced.err

    refused = web.post(f"/{ref.full_name}/branches/delete", {"name": "release"})
    assert refused.status_code == 403
    assert "Branch release is protected: it cannot be deleted." in refused.text
    assert "refs/heads/release" in git.run("ls-remote", url).out

    # Editing the rule to allow both makes both work.
    with_rule = web.get(rules).text
    rule_id = with_rule.split(f"{rules}/")[1].split('"')[0]
    edit = web.get(f"{rules}/{rule_id}")
    assert edit.status_code == 200 and 'value="release"' in edit.text
    _forms_have_csrf(edit.text)
    resp = web.post(f"{rules}/{rule_id}", {"pattern": "release", "allow_force_push": "on",
                                          "allow_deletion": "on"})
    assert resp.status_code == 303
    assert git.run("push", "--force", url, "release", cwd=work).ok
    assert web.post(f"/{ref.full_name}/branches/delete", {"name": "release"}).status_code == 303
    assert "refs/heads/release" not in git.run("ls-remote", url).out

    resp = web.post(f"{rules}/{rule_id}/delete", {})
    assert resp.status_code == 303
    assert "Protection rule for release deleted." in web.follow(resp).text
    assert "<code>release</code>" not in web.get(rules).text


def test_restricted_push_by_user_and_team(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = _signed_in(web, factory)
    org = factory.org(alice)
    bob, carol, erin = factory.user(), factory.user(), factory.user()
    with factory.session() as s:
        team = orgs.create_team(s, alice, org, "pushers", permission="write", includes_all_repos=True)
        orgs.add_team_member(s, alice, team, erin)
    ref = factory.repo(org, actor=alice)
    for user in (bob, carol):
        _collaborate(factory, alice, ref, user, "write")
    work = _push_branches(git, git.url(f"{ref.full_name}.git", alice.name, PASSWORD))

    rules = f"/{ref.full_name}/settings/branches"
    page = web.get(rules)
    assert 'name="push_teams" value="pushers"' in page.text
    bad = web.post(rules, {"pattern": "main", "restrict_push": "on", "push_users": "ghost-user-xyz"})
    assert bad.status_code == 422 and "No user is called" in _text(bad)
    assert 'value="ghost-user-xyz"' in bad.text
    resp = web.post(rules, {"pattern": "main", "restrict_push": "on", "push_users": bob.name,
                            "push_teams": "pushers"})
    assert resp.status_code == 303
    listing = web.follow(resp).text
    assert bob.name in listing and "team pushers" in listing
    with factory.session() as s:
        [rule] = protection.list_rules(s, ref)
        assert rule.push_users == [bob.id] and rule.push_teams == [team.id]

    for user, allowed in ((bob, True), (erin, True), (carol, False)):
        git.commit(work, "who.txt", f"{user.name}\n", f"by {user.name}")
        push = git.run("push", git.url(f"{ref.full_name}.git", user.name, PASSWORD), "main", cwd=work)
        assert push.ok == allowed, (user.name, push.err)
        if not allowed:
            assert "not allowed to push" in push.err
            git.run("reset", "-q", "--hard", "HEAD~1", cwd=work, check=True)
