"""Branches, tags and forks over HTTP against the live server, checked with a real git client."""

from __future__ import annotations

import html
import re
from pathlib import Path

from forge.accounts import orgs
from forge.accounts.models import Account
from forge.repos import protection
from forge.repos import services as repos
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient
from tests.web.test_repo_settings import _forms_have_csrf
from tests.webclient import WebClient


def _signed_in(web: WebClient, factory: Factory) -> Account:
    user = factory.user()
    web.login(user.name, PASSWORD)
    return user


def _remote_refs(git: GitClient, url: str) -> dict[str, str]:
    result = git.run("ls-remote", url)
    assert result.ok, result.err
    return {name: sha for sha, name in (line.split("\t") for line in result.out.splitlines())}


def _seed(git: GitClient, url: str, *branches: str) -> Path:
    return git.push_branches("work", url, *branches, second_commit=True)


def test_branch_create_and_delete(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = _signed_in(web, factory)
    ref = factory.repo(alice)
    url = git.url(f"{ref.full_name}.git", alice.name, PASSWORD)
    work = _seed(git, url)
    first = git.run("rev-parse", "HEAD~1", cwd=work).out.strip()
    base = f"/{ref.full_name}/branches"

    page = web.get(base)
    assert page.status_code == 200
    assert "<strong>main</strong>" in page.text and "default" in page.text
    assert "second commit" in page.text

    resp = web.post(base, {"name": "feature/x", "from": first})
    assert resp.status_code == 303 and resp.headers["location"] == base
    assert f"Branch feature/x created at {first[:10]}." in web.follow(resp).text
    listing = web.get(base).text
    assert "<strong>feature/x</strong>" in listing and "initial commit" in listing
    _forms_have_csrf(listing)
    assert _remote_refs(git, url)["refs/heads/feature/x"] == first

    dup = web.post(base, {"name": "feature/x", "from": "main"})
    assert dup.status_code == 422
    assert "already exists" in html.unescape(dup.text) and 'value="feature/x"' in dup.text
    bad_rev = web.post(base, {"name": "other", "from": "no-such-rev"})
    assert bad_rev.status_code == 422
    assert "is not a branch, tag or commit" in html.unescape(bad_rev.text)

    default = web.post(f"{base}/delete", {"name": "main"})
    assert default.status_code == 403
    assert "The default branch main cannot be deleted." in default.text

    resp = web.post(f"{base}/delete", {"name": "feature/x"})
    assert resp.status_code == 303
    assert "Branch feature/x deleted." in web.follow(resp).text
    assert "refs/heads/feature/x" not in _remote_refs(git, url)
    assert "feature/x" not in web.get(base).text


def test_readers_see_branches_but_cannot_change_them(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = factory.user()
    ref = factory.repo(alice)
    url = git.url(f"{ref.full_name}.git", alice.name, PASSWORD)
    _seed(git, url, "topic")
    _signed_in(web, factory)

    page = web.get(f"/{ref.full_name}/branches")
    assert page.status_code == 200 and "<strong>topic</strong>" in page.text
    assert 'action="/' + ref.full_name + '/branches/delete"' not in page.text
    assert web.post(f"/{ref.full_name}/branches", {"name": "mine", "from": "main"}).status_code == 403
    assert web.post(f"/{ref.full_name}/branches/delete", {"name": "topic"}).status_code == 403
    assert web.post(f"/{ref.full_name}/tags", {"name": "v9", "from": "main"}).status_code == 403
    assert set(_remote_refs(git, url)) >= {"refs/heads/main", "refs/heads/topic"}

    private = factory.repo(alice, private=True, readme=True)
    for path in ("branches", "tags", "fork"):
        assert web.get(f"/{private.full_name}/{path}").status_code == 404


def test_tag_create_and_delete(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = _signed_in(web, factory)
    ref = factory.repo(alice)
    url = git.url(f"{ref.full_name}.git", alice.name, PASSWORD)
    work = _seed(git, url)
    head = git.run("rev-parse", "HEAD", cwd=work).out.strip()
    base = f"/{ref.full_name}/tags"

    assert "no tags yet" in web.get(base).text
    resp = web.post(base, {"name": "v1.0", "from": "main"})
    assert resp.status_code == 303 and resp.headers["location"] == base
    page = web.follow(resp).text
    assert "Tag v1.0 created at" in page and "<strong>v1.0</strong>" in page
    _forms_have_csrf(page)
    assert _remote_refs(git, url)["refs/tags/v1.0"] == head

    bad = web.post(base, {"name": "bad..name", "from": "main"})
    assert bad.status_code == 422 and 'value="bad..name"' in bad.text

    resp = web.post(f"{base}/delete", {"name": "v1.0"})
    assert resp.status_code == 303
    assert "Tag v1.0 deleted." in web.follow(resp).text
    assert "refs/tags/v1.0" not in _remote_refs(git, url)


def test_fork_copies_branches_and_is_independent(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = factory.user()
    source = factory.repo(alice, description="the original")
    src_url = git.url(f"{source.full_name}.git", alice.name, PASSWORD)
    work = _seed(git, src_url, "dev")
    before = _remote_refs(git, src_url)

    bob = _signed_in(web, factory)
    org = factory.org(bob)
    form = web.get(f"/{source.full_name}/fork")
    assert form.status_code == 200
    assert f'<option value="{bob.name}"' in form.text and f'<option value="{org.name}"' in form.text
    _forms_have_csrf(form.text)

    resp = web.post(f"/{source.full_name}/fork", {"owner": bob.name, "name": source.repo.name})
    assert resp.status_code == 303 and resp.headers["location"] == f"/{bob.name}/{source.repo.name}"
    fork_page = web.follow(resp)
    assert fork_page.status_code == 200
    assert "Forked from" in fork_page.text and f'href="/{source.full_name}"' in fork_page.text

    own_fork_form = web.get(f"/{bob.name}/{source.repo.name}/fork").text
    assert f'<option value="{bob.name}"' not in own_fork_form  # not into its own owner
    assert f'<option value="{org.name}"' in own_fork_form

    fork_url = git.url(f"{bob.name}/{source.repo.name}.git", bob.name, PASSWORD)
    fork_refs = _remote_refs(git, fork_url)
    assert fork_refs["refs/heads/main"] == before["refs/heads/main"]
    assert fork_refs["refs/heads/dev"] == before["refs/heads/dev"]

    new_sha = git.commit(work, "fork.txt", "only in the fork\n", "fork change")
    push = git.run("push", fork_url, "main", cwd=work)
    assert push.ok, push.err
    assert _remote_refs(git, fork_url)["refs/heads/main"] == new_sha
    assert _remote_refs(git, src_url) == before
    # Bob cannot push to the original through his fork.
    assert not git.run("push", git.url(f"{source.full_name}.git", bob.name, PASSWORD), "main", cwd=work).ok

    again = web.post(f"/{source.full_name}/fork", {"owner": bob.name, "name": source.repo.name})
    assert again.status_code == 409 and "already has a repository called" in html.unescape(again.text)

    resp = web.post(f"/{source.full_name}/fork", {"owner": org.name, "name": "org-copy"})
    assert resp.status_code == 303 and resp.headers["location"] == f"/{org.name}/org-copy"
    with factory.session() as s:
        forked = repos.find_repo(s, org.name, "org-copy")
        assert forked is not None and forked.repo.fork_of_id == source.repo.id
        assert orgs.is_owner(s, org, bob)

    stranger_org = factory.org(factory.user())
    refused = web.post(f"/{source.full_name}/fork", {"owner": stranger_org.name, "name": "nope"})
    assert refused.status_code == 403
    assert f"You cannot create repositories in {stranger_org.name}." in refused.text


def _divergence_cell(page: str, branch: str) -> str:
    row = page.split(f"<strong>{branch}</strong>", 1)[1].split("</tr>", 1)[0]
    cell = row.split('<td class="divergence">', 1)[1].split("</td>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def test_branches_show_ahead_behind_and_protection(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = _signed_in(web, factory)
    ref = factory.repo(alice)
    url = git.url(f"{ref.full_name}.git", alice.name, PASSWORD)
    work = git.init_repo("divergence", {"README.md": "hello\n"})
    git.run("branch", "topic", cwd=work, check=True)
    git.run("branch", "release/1", cwd=work, check=True)
    git.commit(work, "m1.txt", "1\n", "main one")
    git.commit(work, "m2.txt", "2\n", "main two")
    git.run("checkout", "-q", "topic", cwd=work, check=True)
    git.commit(work, "t.txt", "t\n", "topic work")
    git.run("checkout", "-q", "--orphan", "pages", cwd=work, check=True)
    git.commit(work, "index.html", "<p>site</p>\n", "unrelated pages root")
    git.run("checkout", "-q", "main", cwd=work, check=True)
    git.run("branch", "same", cwd=work, check=True)
    push = git.run("push", url, "main", "topic", "release/1", "pages", "same", cwd=work)
    assert push.ok, push.err
    with factory.session() as s:
        found = repos.find_repo(s, alice.name, ref.repo.name)
        assert found is not None
        protection.save_rule(s, alice, found, "release/*")

    page = web.get(f"/{ref.full_name}/branches")
    assert page.status_code == 200
    text = page.text
    assert _divergence_cell(text, "topic") == "2 behind | 1 ahead"
    assert _divergence_cell(text, "release/1") == "2 behind | 0 ahead"
    assert _divergence_cell(text, "same") == "0 behind | 0 ahead"
    assert _divergence_cell(text, "pages") == "Unrelated history"
    assert _divergence_cell(text, "main") == ""  # the default branch is the base
    assert 'title="2 commits behind the default branch"' in text
    assert 'title="1 commit ahead of the default branch"' in text
    # Last commit of each branch.
    assert "topic work" in text and "unrelated pages root" in text and "main two" in text
    # The protected branch is badged and offers no delete button that would only be refused.
    release_row = text.split("<strong>release/1</strong>", 1)[1].split("</tr>", 1)[0]
    assert ">protected</span>" in release_row and 'value="release/1"' not in release_row
    topic_row = text.split("<strong>topic</strong>", 1)[1].split("</tr>", 1)[0]
    assert ">protected</span>" not in topic_row and 'name="name" value="topic"' in topic_row

    # Once topic is merged into main it is no longer ahead; the page follows the new main (the cache is keyed by
    # commit ids, so nothing stale is shown).
    git.run("merge", "-q", "--no-edit", "topic", cwd=work, check=True)
    assert git.run("push", url, "main", cwd=work).ok
    after = web.get(f"/{ref.full_name}/branches").text
    assert _divergence_cell(after, "topic") == "3 behind | 0 ahead"
    assert _divergence_cell(after, "same") == "2 behind | 0 ahead"
