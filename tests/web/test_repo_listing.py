"""A directory too large to list in full: the page lists the first entries and says how many it left out, with a
link to the file-name search that reaches the rest."""

from __future__ import annotations

import html

import pytest

from forge.git import counts
from tests.factories import Factory
from tests.gitclient import GitClient
from tests.webclient import WebClient
from web.routes.repo_code import MAX_LISTED


def test_a_huge_directory_is_listed_in_part_with_a_way_to_the_rest(
    git: GitClient, factory: Factory, web: WebClient
) -> None:
    alice = factory.user()
    ref = factory.repo(alice)
    count = MAX_LISTED + 5
    files = {f"many/f{i:05d}.txt": f"{i}\n" for i in range(count)}
    work = git.init_repo("huge", {"README.md": "# huge\n", **files})
    git.push_to(work, ref)

    page = web.get(f"/{ref.full_name}/tree/main/many?wait=1")
    assert page.status_code == 200
    assert page.text.count('<tr data-name="f') == MAX_LISTED
    assert 'data-name="f00000.txt"' in page.text
    assert f'data-name="f{MAX_LISTED:05d}.txt"' not in page.text
    assert "5 more entries are not shown" in page.text
    find = f"/{ref.full_name}/search?type=files&amp;ref=main&amp;q=many%2F"
    assert find in page.text

    # The link finds a file the listing left out.
    found = web.get(html.unescape(find).replace("many%2F", f"f{MAX_LISTED + 3:05d}"))
    assert found.status_code == 200
    assert f"/{ref.full_name}/blob/main/many/f{MAX_LISTED + 3:05d}.txt" in found.text

    # A directory within the limit has no such note.
    small = web.get(f"/{ref.full_name}/tree/main")
    assert "not shown" not in small.text


def test_a_history_longer_than_the_count_limit_says_so(
    git: GitClient, factory: Factory, web: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The live server runs in this process, so a lower limit stands in for a 100,000-commit history.
    monkeypatch.setattr(counts, "COUNT_LIMIT", 3)
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("long", {"README.md": "# long\n"})
    for i in range(4):
        git.commit(work, "n.txt", f"{i}\n", f"commit {i}")
    git.push_to(work, ref)
    home = web.get(f"/{ref.full_name}")
    assert "3+ commits" in home.text
