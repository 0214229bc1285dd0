"""Creating a repository with a bad name through the web form shows why and keeps what was typed."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../escape", "may not contain “/”"),
        ("a..b", "may not contain “..”"),
        ("仓库", "use ASCII letters"),
        ("settings", "reserved"),
    ],
)
def test_bad_names_refused_in_form(web, factory, server, name, message):  # type: ignore[no-untyped-def]
    user = factory.user()
    web.login(user.name, PASSWORD)
    resp = web.post("/repo/new", {"owner": user.name, "name": name, "description": "kept text"})
    assert resp.status_code == 422
    assert message in resp.text
    assert "kept text" in resp.text
    assert not any(server.settings.repos_dir.glob(f"{user.name.lower()}/*"))


def test_create_repo_with_readme_licence_and_gitignore(web, factory, git):  # type: ignore[no-untyped-def]
    user = factory.user()
    web.login(user.name, PASSWORD)
    resp = web.post("/repo/new", {"owner": user.name, "name": "starter", "description": "A starter",
                                  "readme": "on", "gitignore": "Python", "license": "MIT"})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/{user.name}/starter"
    page = web.follow(resp)
    assert page.status_code == 200
    assert "A starter" in page.text and "LICENSE" in page.text and ".gitignore" in page.text
    res = git.run("clone", git.url(f"{user.name}/starter.git"), "starter")
    assert res.ok, res.err
    assert "MIT License" in (git.tmp / "starter" / "LICENSE").read_text()
    assert "__pycache__/" in (git.tmp / "starter" / ".gitignore").read_text()


def test_duplicate_repo_name_refused(web, factory):  # type: ignore[no-untyped-def]
    user = factory.user()
    factory.repo(user, "taken")
    web.login(user.name, PASSWORD)
    resp = web.post("/repo/new", {"owner": user.name, "name": "Taken"})
    assert resp.status_code == 409
    assert "already has a repository called" in resp.text


def test_empty_repo_page_explains_first_push(web, factory, server):  # type: ignore[no-untyped-def]
    user = factory.user()
    ref = factory.repo(user)
    page = web.get(f"/{user.name}/{ref.repo.name}")
    assert page.status_code == 200
    assert "This repository is empty" in page.text
    assert f"git remote add origin {server.url}/{user.name}/{ref.repo.name}.git" in page.text
