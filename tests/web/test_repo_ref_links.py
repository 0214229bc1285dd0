"""The branches and tags pages lead on: each branch and tag opens its files, and each branch other than the default
can be compared with the default branch."""

from __future__ import annotations

from tests.factories import Factory
from tests.gitclient import GitClient
from tests.webclient import WebClient


def test_branch_and_tag_rows_link_to_their_files_and_to_compare(
    git: GitClient, factory: Factory, web: WebClient
) -> None:
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("links", {"README.md": "# links\n"})
    git.run("checkout", "-q", "-b", "feature/x", cwd=work, check=True)
    git.commit(work, "feature.txt", "f\n", "feature work")
    git.run("tag", "v1.0", cwd=work, check=True)
    git.push_to(work, ref, "main", "feature/x", "v1.0")
    base = f"/{ref.full_name}"

    branches = web.get(f"{base}/branches").text
    assert f'href="{base}/tree/feature/x"' in branches and f'href="{base}/tree/main"' in branches
    assert f'href="{base}/compare/main...feature/x"' in branches
    assert f'href="{base}/compare/main...main"' not in branches
    tree = web.get(f"{base}/tree/feature/x")
    assert tree.status_code == 200 and "feature.txt" in tree.text
    compare = web.get(f"{base}/compare/main...feature/x")
    assert compare.status_code == 200 and "feature work" in compare.text

    tags = web.get(f"{base}/tags").text
    assert f'href="{base}/tree/v1.0"' in tags
