"""The repository's "Merging" settings page: allowed merge styles, the default one, deleting branches on merge."""

from __future__ import annotations

import html

from forge.pulls import settings as merge_settings
from forge.repos import services as repos
from tests.conftest import LiveServer
from tests.factories import PASSWORD, Factory
from tests.webclient import WebClient


def _checked(page: str, name: str) -> bool:
    return f'<input type="checkbox" name="{name}" checked>' in page


def test_merge_settings_saved_and_shown(web: WebClient, factory: Factory) -> None:
    alice = factory.user()
    web.login(alice.name, PASSWORD)
    ref = factory.repo(alice, readme=True)
    url = f"/{ref.full_name}/settings/merging"

    # The settings menu links to the page, and a repository without saved settings allows every style.
    options = web.get(f"/{ref.full_name}/settings")
    assert f'href="{url}"' in options.text and ">Merging</a>" in options.text
    page = web.get(url)
    assert page.status_code == 200
    for style in ("merge", "squash", "rebase", "fast_forward"):
        assert _checked(page.text, f"allow_{style}"), style
    assert '<option value="merge" selected>Create a merge commit</option>' in page.text
    assert not _checked(page.text, "delete_branch_on_merge")

    resp = web.submit(url, url, {"allow_squash": "on", "allow_merge": "on", "default_style": "squash",
                                 "delete_branch_on_merge": "on"})
    assert resp.status_code == 303 and resp.headers["location"] == url
    saved = web.follow(resp)
    assert "Merge settings saved." in saved.text
    assert _checked(saved.text, "allow_merge") and _checked(saved.text, "allow_squash")
    assert not _checked(saved.text, "allow_rebase") and not _checked(saved.text, "allow_fast_forward")
    assert '<option value="squash" selected>Squash and merge</option>' in saved.text
    assert _checked(saved.text, "delete_branch_on_merge")
    with factory.session() as s:
        assert ref.repo.id is not None
        current = merge_settings.get_merge_settings(s, ref.repo.id)
        assert (current.allow_merge, current.allow_squash, current.allow_rebase, current.allow_fast_forward) == (
            True, True, False, False)
        assert current.default_style == "squash" and current.delete_branch_on_merge


def test_refused_settings_keep_the_form(web: WebClient, factory: Factory) -> None:
    alice = factory.user()
    web.login(alice.name, PASSWORD)
    ref = factory.repo(alice, readme=True)
    url = f"/{ref.full_name}/settings/merging"

    none_allowed = web.submit(url, url, {"default_style": "merge", "delete_branch_on_merge": "on"})
    assert none_allowed.status_code == 422
    assert 'class="flash flash-error"' in none_allowed.text
    assert _checked(none_allowed.text, "delete_branch_on_merge")  # what was ticked is still ticked

    default_not_allowed = web.submit(url, url, {"allow_rebase": "on", "default_style": "squash"})
    assert default_not_allowed.status_code == 422
    text = html.unescape(default_not_allowed.text)
    assert 'class="flash flash-error"' in text
    assert _checked(text, "allow_rebase") and not _checked(text, "allow_merge")
    with factory.session() as s:
        assert ref.repo.id is not None
        current = merge_settings.get_merge_settings(s, ref.repo.id)
        assert current.allow_merge and current.allow_squash and current.default_style == "merge"


def test_only_admins_change_merge_settings(web: WebClient, factory: Factory, server: LiveServer) -> None:
    alice, bob, carol = factory.user(), factory.user(), factory.user()
    ref = factory.repo(alice, readme=True, private=True)
    with factory.session() as s:
        repos.set_collaborator(s, alice, ref, bob, "write")
    url = f"/{ref.full_name}/settings/merging"
    with web.as_user(bob.name, PASSWORD) as writer:
        assert writer.get(url).status_code == 403
        assert writer.post(url, {"allow_rebase": "on", "default_style": "rebase"}).status_code == 403
    with web.as_user(carol.name, PASSWORD) as stranger:
        assert stranger.get(url).status_code == 404
        assert stranger.post(url, {"allow_rebase": "on", "default_style": "rebase"}).status_code == 404
    with factory.session() as s:
        assert ref.repo.id is not None
        assert merge_settings.get_merge_settings(s, ref.repo.id).allow_merge
