"""The blame page over the live server, for history made and pushed with a real git client."""

from __future__ import annotations

import html
import re

from forge.accounts.models import Account
from forge.repos.services import RepoRef
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient
from tests.webclient import WebClient

SUBMODULE_SHA = "0123456789abcdef0123456789abcdef01234567"


def _seed(git: GitClient, factory: Factory, private: bool = False) -> tuple[Account, RepoRef, dict[str, str]]:
    alice = factory.user()
    ref = factory.repo(alice, private=private)
    work = git.new_work("blame")
    work.write({"src/app.py": 'def main():\n    return "one"\n\n\nmain()\n', "data.bin": b"\x00\x01binary\xff" * 20,
                "big.txt": "x" * 80 + "\n" * 1 + ("y" * 99 + "\n") * 11_000, "empty.txt": ""})
    (work.path / "link").symlink_to("src/app.py")
    work.add_submodule("vendor/lib", SUBMODULE_SHA)
    shas = {"first": work.commit({}, "first version", author="Ann Author", when="2025-01-01T00:00:00+00:00")}
    shas["second"] = work.commit({"src/app.py": 'def main():\n    return "two"\n\n\nmain()\n'}, "return two <b>",
                                 author="Bob Builder", when="2025-06-01T00:00:00+00:00")
    work.git("checkout", "-q", "-b", "feature/x")
    shas["feature"] = work.commit({"src/app.py": 'def main():\n    return "two"\n\n\nmain()\nprint("feature")\n'},
                                  "feature line", author="Cy", when="2025-07-01T00:00:00+00:00")
    git.push_to(work.path, ref, "main", "feature/x")
    return alice, ref, shas


def _hunks(page: str) -> list[str]:
    """The commit summary of each hunk, in order."""
    return [html.unescape(s) for s in re.findall(r'class="blame-summary" href="[^"]*" title="[^"]*">([^<]*)</a>', page)]


def test_blame_page(web: WebClient, factory: Factory, git: GitClient) -> None:
    _, ref, shas = _seed(git, factory)
    base = f"/{ref.full_name}"

    page = web.get(f"{base}/blame/main/src/app.py")
    assert page.status_code == 200, page.text[:500]
    text = page.text
    # Line 1 is from the first commit, line 2 from the second, lines 3-5 from the first again.
    assert _hunks(text) == ["first version", "return two <b>", "first version"]
    assert text.count('<tbody class="blame-hunk">') == 3
    assert 'rowspan="1"' in text and 'rowspan="3"' in text
    assert f'href="{base}/commit/{shas["second"]}"' in text and f'href="{base}/commit/{shas["first"]}"' in text
    assert "Bob Builder" in text and "Ann Author" in text
    assert "return two &lt;b&gt;" in text  # summaries are escaped
    # Every line has its number and anchor, and the code is highlighted.
    for n in range(1, 6):
        assert f'<tr id="L{n}">' in text and f'href="#L{n}"' in text
    assert '<span class="k">def</span>' in text
    # Ages are shown with the exact date on hover.
    assert re.search(r'class="blame-age" title="[^"]*2025[^"]*"', text)
    # Only the second commit's hunk has an earlier revision to jump to.
    previous = f'{base}/blame/{shas["first"]}/src/app.py'
    assert text.count('class="blame-previous"') == 1 and f'href="{previous}"' in text
    # Code navigation: ref menu with blame links on other refs, breadcrumb, and the way back to the file.
    assert f'href="{base}/blame/feature/x/src/app.py"' in text
    assert f'<a href="{base}/tree/main/src">src</a>' in text
    assert f'href="{base}/blob/main/src/app.py"' in text and f'href="{base}/commits/main/src/app.py"' in text

    before = web.get(previous)
    assert before.status_code == 200
    assert _hunks(before.text) == ["first version"]
    assert re.search(r'<tr id="L2">.*?one.*?</tr>', before.text, re.S)
    assert 'class="blame-previous"' not in before.text

    feature = web.get(f"{base}/blame/feature/x/src/app.py")
    assert feature.status_code == 200
    assert _hunks(feature.text) == ["first version", "return two <b>", "first version", "feature line"]

    # The file page links to its blame.
    blob = web.get(f"{base}/blob/main/src/app.py")
    assert f'href="{base}/blame/main/src/app.py"' in blob.text and ">Blame</a>" in blob.text


def test_blame_of_things_that_have_no_lines(web: WebClient, factory: Factory, git: GitClient) -> None:
    _, ref, _ = _seed(git, factory)
    base = f"/{ref.full_name}"

    to_tree = web.get(f"{base}/blame/main/src")
    assert to_tree.status_code == 302 and to_tree.headers["location"] == f"{base}/tree/main/src"
    binary = web.get(f"{base}/blame/main/data.bin")
    assert binary.status_code == 200 and "This is a binary file; it has no lines to blame." in binary.text
    big = web.get(f"{base}/blame/main/big.txt")
    assert big.status_code == 200 and "This file is too large to blame here." in big.text
    assert "blame-hunk" not in big.text
    link = web.get(f"{base}/blame/main/link")
    assert link.status_code == 200 and "This is a symbolic link; it has no lines to blame." in link.text
    sub = web.get(f"{base}/blame/main/vendor/lib")
    assert sub.status_code == 200 and SUBMODULE_SHA in sub.text and "It has no lines to blame." in sub.text
    empty = web.get(f"{base}/blame/main/empty.txt")
    assert empty.status_code == 200 and "This file is empty." in empty.text

    missing = web.get(f"{base}/blame/main/nope.py")
    assert missing.status_code == 404 and "nope.py" in html.unescape(missing.text)
    assert web.get(f"{base}/blame/main/src/app%00.py").status_code == 404
    bad_ref = web.get(f"{base}/blame/no-such-ref/src/app.py")
    assert bad_ref.status_code == 404 and "no-such-ref" in html.unescape(bad_ref.text)

    # The file page offers Blame only where there are lines to blame.
    assert f'href="{base}/blame/main/data.bin"' not in web.get(f"{base}/blob/main/data.bin").text


def test_private_repo_blame_is_hidden(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice, ref, _ = _seed(git, factory, private=True)
    url = f"/{ref.full_name}/blame/main/src/app.py"
    assert web.get(url).status_code == 404  # anonymous
    outsider = factory.user()
    web.login(outsider.name, PASSWORD)
    assert web.get(url).status_code == 404
    with web.as_user(alice.name, PASSWORD) as owner:
        assert owner.get(url).status_code == 200
