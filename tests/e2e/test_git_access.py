"""Who may clone and push over git, and what they are told when they may not."""

from __future__ import annotations

import httpx

from forge.repos import services as repos
from tests.factories import PASSWORD


def _info_refs(server, path, service="git-upload-pack", auth=None):  # type: ignore[no-untyped-def]
    return httpx.get(f"{server.url}/{path}/info/refs?service={service}", auth=auth)


def test_private_repo_is_indistinguishable_from_a_missing_one(git, server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    stranger = factory.user()
    ref = factory.repo(owner, private=True, readme=True)
    private_path = f"{owner.name}/{ref.repo.name}.git"
    missing_path = f"{owner.name}/does-not-exist.git"

    # Anonymous: 401 with a Basic challenge for both, so git prompts and nothing leaks.
    anon_private, anon_missing = _info_refs(server, private_path), _info_refs(server, missing_path)
    assert anon_private.status_code == anon_missing.status_code == 401
    assert anon_private.headers["www-authenticate"].startswith("Basic")
    assert anon_private.text == anon_missing.text

    # Signed in but without access: 404 for both, same body.
    auth = (stranger.name, PASSWORD)
    other_private = _info_refs(server, private_path, auth=auth)
    other_missing = _info_refs(server, missing_path, auth=auth)
    assert other_private.status_code == other_missing.status_code == 404
    assert other_private.text == other_missing.text == "Repository not found.\n"

    # The web page says the same 404 to both.
    assert httpx.get(f"{server.url}/{owner.name}/{ref.repo.name}").status_code == 404
    # And a real git client shows the message.
    res = git.run("clone", git.url(private_path, stranger.name, PASSWORD), "nope")
    assert not res.ok
    assert "Repository not found." in res.err
    # Anonymous git clone fails asking for credentials (prompting is disabled in tests).
    res = git.run("clone", git.url(private_path), "nope2")
    assert not res.ok
    assert "could not read Username" in res.err or "Authentication failed" in res.err

    # The owner can clone.
    res = git.run("clone", git.url(private_path, owner.name, PASSWORD), "mine")
    assert res.ok, res.err


def test_wrong_password_is_refused_with_401(git, server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    # Private: git sends credentials only after a 401, which a public repository never gives for a read.
    ref = factory.repo(owner, readme=True, private=True)
    resp = _info_refs(server, f"{owner.name}/{ref.repo.name}.git", auth=(owner.name, "wrong-password"))
    assert resp.status_code == 401
    assert "Incorrect user name, password or token" in resp.text
    res = git.run("clone", git.url(f"{owner.name}/{ref.repo.name}.git", owner.name, "wrong-password"), "x")
    assert not res.ok
    assert "Authentication failed" in res.err


def test_anonymous_push_to_public_repo_asks_for_credentials(server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    resp = _info_refs(server, f"{owner.name}/{ref.repo.name}.git", "git-receive-pack")
    assert resp.status_code == 401
    assert "www-authenticate" in resp.headers


def test_reader_gets_403_on_push(git, server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    reader = factory.user()
    ref = factory.repo(owner, readme=True)
    with factory.session() as s:
        repos.set_collaborator(s, owner, ref, reader, "read")
    path = f"{owner.name}/{ref.repo.name}.git"
    resp = _info_refs(server, path, "git-receive-pack", auth=(reader.name, PASSWORD))
    assert resp.status_code == 403
    assert f"You do not have write access to {owner.name}/{ref.repo.name}." in resp.text

    assert git.run("clone", git.url(path, reader.name, PASSWORD), "r").ok
    git.commit(git.tmp / "r", "new.txt", "x\n")
    res = git.run("push", "origin", "main", cwd=git.tmp / "r")
    assert not res.ok
    assert "You do not have write access" in res.err


def test_token_scopes_limit_git_access(git, server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, private=True, readme=True)
    path = f"{owner.name}/{ref.repo.name}.git"
    read_token = factory.token(owner, ["read:repo"])
    write_token = factory.token(owner, ["write:repo"])
    user_token = factory.token(owner, ["read:user"])

    # A token works as the password (any user name) or as the user name.
    assert git.run("clone", git.url(path, owner.name, read_token), "viaread").ok
    assert git.run("clone", git.url(path, write_token), "viawrite").ok
    # A token without a repository scope cannot see the private repository at all.
    res = git.run("clone", git.url(path, owner.name, user_token), "viauser")
    assert not res.ok and "Repository not found." in res.err

    work = git.tmp / "viaread"
    git.commit(work, "a.txt", "a\n")
    res = git.run("push", "origin", "main", cwd=work)
    assert not res.ok
    assert "lacks the write:repo scope" in res.err

    res = git.run("push", git.url(path, owner.name, write_token), "main", cwd=work)
    assert res.ok, res.err


def test_blocked_user_cannot_use_git(server, factory):  # type: ignore[no-untyped-def]
    admin = factory.user(admin=True)
    user = factory.user()
    ref = factory.repo(user, private=True, readme=True)
    from forge.accounts import users

    with factory.session() as s:
        users.set_blocked(s, admin, users.get_user(s, user.name), True)
    resp = _info_refs(server, f"{user.name}/{ref.repo.name}.git", auth=(user.name, PASSWORD))
    assert resp.status_code == 401
    assert "blocked" in resp.text


def test_malformed_pkt_line_bodies_are_refused(server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    base = f"{server.url}/{owner.name}/{ref.repo.name}.git"
    auth = (owner.name, PASSWORD)
    up = httpx.post(f"{base}/git-upload-pack", content=b"zzzzgarbage",
                    headers={"content-type": "application/x-git-upload-pack-request"}, auth=auth)
    assert up.status_code == 400
    assert "protocol error" in up.text
    rp = httpx.post(f"{base}/git-receive-pack", content=b"zzzzgarbage",
                    headers={"content-type": "application/x-git-receive-pack-request"}, auth=auth)
    assert rp.status_code == 400
    assert "Malformed push request" in rp.text
    truncated = httpx.post(f"{base}/git-receive-pack", content=b"0050" + b"0" * 20, auth=auth)
    assert truncated.status_code == 400
    # The repository is intact afterwards.
    assert httpx.get(f"{base}/info/refs?service=git-upload-pack").status_code == 200


def test_dumb_protocol_and_unknown_services_are_refused(server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, readme=True)
    resp = httpx.get(f"{server.url}/{owner.name}/{ref.repo.name}.git/info/refs")
    assert resp.status_code == 403
    assert "smart HTTP" in resp.text
    resp = httpx.get(f"{server.url}/{owner.name}/{ref.repo.name}.git/info/refs?service=git-upload-archive")
    assert resp.status_code == 403
