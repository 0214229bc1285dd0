"""Code browsing over HTTP: trees, file views and raw files of content pushed with a real git client."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from forge.accounts.models import Account
from forge.repos.services import RepoRef
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient
from tests.webclient import WebClient

README = """# Project Title

Some *intro* text.

| Name | Value |
|------|------:|
| alpha | 1 |

## Getting Started

<script>alert("owned")</script>

[guide](docs/guide.md)
"""
LATIN1 = "café = 'naïve'\n".encode("latin-1")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
BINARY = b"\x00\x01\x02\x03binary\xff\xfe" * 10
SUBMODULE_SHA = "0123456789abcdef0123456789abcdef01234567"
PAGE_HTML = b"<html><script>alert(document.cookie)</script></html>\n"


def _push_content(git: GitClient, ref: RepoRef) -> Path:
    """A repository with a README, a subdirectory, several kinds of files, a symlink, a submodule, a branch with a
    "/" in its name and a tag, pushed to ``ref``."""
    work = git.new_work("content")
    work.write({
        "README.md": README.encode(),
        "src/app.py": b'"""App."""\n\nimport os\n\n\ndef main() -> None:\n    print("hi")\n',
        "src/README": b"plain source readme\n",
        "docs/guide.md": b"# Guide\n\nRead [the app](../src/app.py).\n",
        "latin1.txt": LATIN1,
        "logo.png": PNG,
        "data.bin": BINARY,
        "page.html": PAGE_HTML,
        "space name.txt": b"spaces ok\n",
    })
    (work.path / "link-to-app").symlink_to("src/app.py")
    work.add_submodule("vendor/lib", SUBMODULE_SHA)
    work.commit({}, "initial content")
    work.git("tag", "v1.0")
    work.git("checkout", "-q", "-b", "release/1.0")
    work.commit({"release-notes.txt": "release only\n"}, "release notes")
    work.git("checkout", "-q", "main")
    work.commit({"later.txt": "after the tag\n"}, "later change")
    git.push_to(work.path, ref, "main", "release/1.0", "v1.0")
    return work.path


@pytest.fixture
def seeded(factory: Factory, git: GitClient) -> tuple[Account, RepoRef, Path]:
    alice = factory.user()
    ref = factory.repo(alice)
    work = _push_content(git, ref)
    return alice, ref, work


def _text(resp_text: str) -> str:
    return html.unescape(resp_text)


def test_tree_root_subdir_tag_and_slash_branch(web: WebClient, seeded: tuple[Account, RepoRef, Path]) -> None:
    _, ref, _ = seeded
    base = f"/{ref.full_name}"

    root = web.get(f"{base}/tree/main")
    assert root.status_code == 200
    page = root.text
    # Directories come first, and each entry links to its own page.
    assert page.index(">docs</a>") < page.index(">src</a>") < page.index(">README.md</a>")
    assert f'href="{base}/tree/main/src"' in page
    assert f'href="{base}/blob/main/README.md"' in page
    assert f'href="{base}/blob/main/space%20name.txt"' in page
    assert "later.txt" in page and "later change" in page
    # The README is rendered below the listing.
    assert '<h1 id="project-title">Project Title</h1>' in page

    sub = web.get(f"{base}/tree/main/src")
    assert sub.status_code == 200
    assert f'href="{base}/blob/main/src/app.py"' in sub.text
    assert "plain source readme" in sub.text  # a plain README is shown as text
    assert f'<a href="{base}/tree/main">{ref.repo.name}</a> / <a href="{base}/tree/main/src">src</a>' in sub.text
    assert f'href="{base}/tree/main/src/"' not in sub.text

    tag = web.get(f"{base}/tree/v1.0")
    assert tag.status_code == 200
    assert "README.md" in tag.text and "later.txt" not in tag.text

    branch = web.get(f"{base}/tree/release/1.0")
    assert branch.status_code == 200
    assert "release-notes.txt" in branch.text and "later.txt" not in branch.text
    assert f'href="{base}/blob/release/1.0/release-notes.txt"' in branch.text
    nested = web.get(f"{base}/tree/release/1.0/src")
    assert nested.status_code == 200 and "app.py" in nested.text
    notes = web.get(f"{base}/blob/release/1.0/release-notes.txt")
    assert notes.status_code == 200 and "release only" in notes.text

    # A commit id (full or short) works as a ref too.
    sha = branch.text.split("<code>", 1)[1].split("</code>", 1)[0]
    by_sha = web.get(f"{base}/tree/{sha}/src")
    assert by_sha.status_code == 200 and "app.py" in by_sha.text

    # The file and directory views send each other's paths to the right page.
    to_blob = web.get(f"{base}/tree/main/README.md")
    assert to_blob.status_code == 302 and to_blob.headers["location"] == f"{base}/blob/main/README.md"
    to_tree = web.get(f"{base}/blob/main/src")
    assert to_tree.status_code == 302 and to_tree.headers["location"] == f"{base}/tree/main/src"

    # The repository home links its entries and renders the README as Markdown as well.
    home = web.get(base)
    assert home.status_code == 200
    assert f'href="{base}/tree/main/docs"' in home.text
    assert '<h2 id="getting-started">Getting Started</h2>' in home.text


def test_blob_highlighting_and_line_anchors(web: WebClient, seeded: tuple[Account, RepoRef, Path]) -> None:
    _, ref, _ = seeded
    base = f"/{ref.full_name}"
    resp = web.get(f"{base}/blob/main/src/app.py")
    assert resp.status_code == 200
    page = resp.text
    assert '<tr id="L1">' in page and '<a href="#L7">7</a>' in page and 'id="L8"' not in page
    assert '<span class="kn">import</span>' in page  # Python was recognised by the file name
    assert "7 lines" in page
    assert f'href="{base}/raw/main/src/app.py"' in page
    assert f'href="{base}/raw/main/src/app.py?download=1"' in page
    # Blank lines at the start and end keep their numbers: line 3 is the import.
    assert re.search(r'<tr id="L3">.*?import', page)

    latin = web.get(f"{base}/blob/main/latin1.txt")
    assert latin.status_code == 200
    assert "caf\ufffd" in _text(latin.text)  # not UTF-8: shown with replacement characters, not an error

    link = web.get(f"{base}/blob/main/link-to-app")
    assert link.status_code == 200
    assert "Symbolic link" in link.text
    assert f'<a class="link-target" href="{base}/blob/main/src/app.py">src/app.py</a>' in link.text

    vendor = web.get(f"{base}/tree/main/vendor")
    assert f'href="{base}/blob/main/vendor/lib"' in vendor.text and SUBMODULE_SHA[:10] in vendor.text
    submodule = web.get(f"{base}/blob/main/vendor/lib")
    assert submodule.status_code == 200
    assert f"It points to commit {SUBMODULE_SHA}" in submodule.text
    assert web.get(f"{base}/raw/main/vendor/lib").status_code == 404


def test_markdown_rendered_and_sanitised(web: WebClient, seeded: tuple[Account, RepoRef, Path]) -> None:
    _, ref, _ = seeded
    base = f"/{ref.full_name}"
    resp = web.get(f"{base}/blob/main/README.md")
    assert resp.status_code == 200
    page = resp.text
    assert '<h2 id="getting-started">Getting Started</h2>' in page
    assert "<table>" in page and "<td>alpha</td>" in page and '<td style="text-align:right">1</td>' in page
    assert "<em>intro</em>" in page
    assert 'alert("owned")' not in page and "alert(&#34;owned&#34;)" not in page
    assert "<script>alert" not in page
    # Relative links point at the repository's own files.
    assert f'href="{base}/blob/main/docs/guide.md"' in page
    assert f'href="{base}/blob/main/README.md?plain=1"' in page

    source = web.get(f"{base}/blob/main/README.md?plain=1")
    assert source.status_code == 200
    assert '<tr id="L1">' in source.text and "<table>" not in source.text
    assert "&lt;script&gt;" in source.text  # the source view shows the text, escaped

    guide = web.get(f"{base}/blob/main/docs/guide.md")
    assert f'href="{base}/blob/main/docs/../src/app.py"' in guide.text


def test_raw_files(web: WebClient, seeded: tuple[Account, RepoRef, Path]) -> None:
    _, ref, _ = seeded
    base = f"/{ref.full_name}"
    latin = web.get(f"{base}/raw/main/latin1.txt")
    assert latin.status_code == 200
    assert latin.content == LATIN1
    assert latin.headers["content-type"] == "text/plain; charset=utf-8"
    assert latin.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in latin.headers["content-security-policy"]
    assert "content-disposition" not in latin.headers

    page = web.get(f"{base}/raw/main/page.html")
    assert page.content == PAGE_HTML
    assert page.headers["content-type"] == "text/plain; charset=utf-8"  # never text/html

    png = web.get(f"{base}/raw/main/logo.png")
    assert png.content == PNG and png.headers["content-type"] == "image/png"

    binary = web.get(f"{base}/raw/main/data.bin?download=1")
    assert binary.content == BINARY
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary.headers["content-disposition"].startswith('attachment; filename="data.bin"')

    spaced = web.get(f"{base}/raw/v1.0/space%20name.txt")
    assert spaced.status_code == 200 and spaced.content == b"spaces ok\n"


def test_binary_image_and_large_files(web: WebClient, seeded: tuple[Account, RepoRef, Path],
                                      git: GitClient, factory: Factory) -> None:
    _, ref, work = seeded
    base = f"/{ref.full_name}"
    binary = web.get(f"{base}/blob/main/data.bin")
    assert binary.status_code == 200
    assert "binary file" in binary.text
    assert f'href="{base}/raw/main/data.bin?download=1"' in binary.text
    assert '<table class="blob-lines' not in binary.text

    image = web.get(f"{base}/blob/main/logo.png")
    assert f'<img class="blob-image" src="{base}/raw/main/logo.png"' in image.text

    big = b"x" * 1000 + b"\n"
    git.commit(work, "big.txt", big * 1100, "big file")  # just over 1 MiB
    git.push_to(work, ref)
    large = web.get(f"{base}/blob/main/big.txt")
    assert large.status_code == 200
    assert "too large to show" in large.text and '<table class="blob-lines' not in large.text
    assert web.get(f"{base}/raw/main/big.txt").content == big * 1100


def test_unknown_ref_and_path_are_404(web: WebClient, seeded: tuple[Account, RepoRef, Path]) -> None:
    _, ref, _ = seeded
    base = f"/{ref.full_name}"
    for view in ("tree", "blob", "raw"):
        missing_ref = web.get(f"{base}/{view}/no-such-branch/README.md")
        assert missing_ref.status_code == 404
        assert "“no-such-branch” is not a branch, tag or commit" in _text(missing_ref.text)
        missing_path = web.get(f"{base}/{view}/main/nope/missing.txt")
        assert missing_path.status_code == 404
        assert "“nope/missing.txt” does not exist at main" in _text(missing_path.text)
    # Rev-parse syntax is not taken as a ref.
    assert web.get(f"{base}/tree/main~1").status_code == 404
    assert web.get(f"{base}/tree/release").status_code == 404


def test_private_repo_code_is_hidden(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = factory.user()
    ref = factory.repo(alice, private=True)
    _push_content(git, ref)
    base = f"/{ref.full_name}"
    paths = [f"{base}/tree/main", f"{base}/tree/main/src", f"{base}/blob/main/README.md",
             f"{base}/raw/main/README.md", f"{base}/raw/main/latin1.txt?download=1"]

    for path in paths:  # anonymous
        resp = web.get(path)
        assert resp.status_code == 404, path
        assert "Project Title" not in resp.text
    stranger = factory.user()
    web.login(stranger.name, PASSWORD)
    for path in paths:
        assert web.get(path).status_code == 404, path

    with web.as_user(alice.name, PASSWORD) as owner:
        for path in paths:
            assert owner.get(path).status_code == 200, path
        raw = owner.get(f"{base}/raw/main/README.md")
        assert raw.content == README.encode() and "private" in raw.headers["cache-control"]
