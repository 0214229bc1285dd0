"""The repository home and directory pages over the live server: each entry's last commit and its age, the counts,
the language bar, the ref menu, and the endpoint that fills in last commits the page did not wait for."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

import pytest

from forge.accounts.models import Account
from forge.repos.services import RepoRef
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient
from tests.webclient import WebClient
from web import i18n
from web.routes import repo_code

SUBMODULE_SHA = "0123456789abcdef0123456789abcdef01234567"
_ROW_RE = re.compile(
    r'<tr data-name="([^"]*)">.*?<td class="last-commit">(?:<a href="([^"]*)">([^<]*)</a>)?(.*?)</td>'
    r'<td class="age">(?:<time datetime="([^"]*)" title="([^"]*)">([^<]*)</time>)?</td></tr>'
)


def _rows(page: str) -> dict[str, tuple[str, str, str, str, str]]:
    """name -> (commit URL, message, ISO date, full date, age) for each listed entry ("" where not shown)."""
    return {html.unescape(m[0]): (m[1], html.unescape(m[2]), m[4], html.unescape(m[5]), html.unescape(m[6]))
            for m in _ROW_RE.findall(page)}


def _push_history(git: GitClient, ref: RepoRef) -> dict[str, str]:
    """Commits a month apart touching different entries, a symlink, a submodule, a branch with a "/" and a tag;
    returns each commit's id by message."""
    work = git.new_work(f"home-{ref.repo.name}")
    shas = {}
    shas["initial"] = work.commit({
        "README.md": "# Home test\n\nWelcome.\n", "LICENSE": "MIT\n", "src/app.py": "print(1)\n" * 40,
        "src/util.js": "let x = 1;\n" * 10, "docs/guide.md": "# Guide\n", "my notes/a b.txt": "notes\n",
        "my notes/c.txt": "c\n",
    }, "initial", when="2025-01-01T00:00:00+00:00")
    (work.path / "link-to-app").symlink_to("src/app.py")
    work.add_submodule("vendor/lib", SUBMODULE_SHA)
    shas["link <and> submodule"] = work.commit({}, "link <and> submodule", when="2025-02-01T00:00:00+00:00")
    shas["change the app"] = work.commit({"src/app.py": "print(2)\n" * 40, "my notes/c.txt": "c2\n"},
                                         "change the app", when="2025-03-01T00:00:00+00:00")
    shas["rewrite readme"] = work.commit({"README.md": "# Home test\n\nWelcome back.\n"}, "rewrite readme",
                                         when="2025-04-01T00:00:00+00:00")
    work.git("tag", "v1.0")
    work.git("checkout", "-q", "-b", "feature/x")
    shas["feature work"] = work.commit({"docs/guide.md": "# Guide\n\nMore.\n"}, "feature work",
                                       when="2025-05-01T00:00:00+00:00")
    work.git("checkout", "-q", "main")
    git.push_to(work.path, ref, "main", "feature/x", "v1.0")
    return shas


@pytest.fixture
def seeded(factory: Factory, git: GitClient) -> tuple[Account, RepoRef, dict[str, str]]:
    alice = factory.user()
    ref = factory.repo(alice)
    return alice, ref, _push_history(git, ref)


def _when(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_home_rows_show_each_entrys_last_commit_and_age(web: WebClient,
                                                        seeded: tuple[Account, RepoRef, dict[str, str]]) -> None:
    _, ref, shas = seeded
    base = f"/{ref.full_name}"
    page = web.get(base)
    assert page.status_code == 200
    rows = _rows(page.text)
    expected = {
        "docs": ("initial", "2025-01-01"), "src": ("change the app", "2025-03-01"),
        "vendor": ("link <and> submodule", "2025-02-01"), "LICENSE": ("initial", "2025-01-01"),
        "my notes": ("change the app", "2025-03-01"),
        "README.md": ("rewrite readme", "2025-04-01"), "link-to-app": ("link <and> submodule", "2025-02-01"),
    }
    assert set(rows) == set(expected)
    for name, (message, day) in expected.items():
        url, shown, iso, full_date, age = rows[name]
        assert url == f"{base}/commit/{shas[message]}", name
        assert shown == message, name  # escaped in the page, shown as written
        assert iso == f"{day}T00:00:00+00:00"
        assert full_date == i18n.fmt_datetime(_when(day)) and "2025" in full_date
        assert age == i18n.fmt_ago(_when(day)) and age.endswith("ago")
    assert "&lt;and&gt;" in page.text and "<and>" not in page.text
    # Everything was found in time: no placeholder, no script, no "wait" link.
    assert "commits-pending" not in page.text and "data-commits-url" not in page.text
    # The latest commit of the branch, linked, with the README below the listing.
    assert f'<a href="{base}/commit/{shas["rewrite readme"]}"><code>{shas["rewrite readme"][:10]}</code></a>' \
        in page.text
    assert "Welcome back." in page.text


def test_home_counts_languages_and_ref_menu(web: WebClient, seeded: tuple[Account, RepoRef, dict[str, str]]) -> None:
    _, ref, _ = seeded
    base = f"/{ref.full_name}"
    text = web.get(base).text
    assert f'<a class="commit-count" href="{base}/commits/main">4 commits</a>' in text
    assert f'<a href="{base}/branches">2 branches</a>' in text
    assert f'<a href="{base}/tags">1 tag</a>' in text
    # By bytes, biggest first: Python 360 of 505, JavaScript 110, Markdown 27 (README) + 8 (guide); the link to
    # app.py, the submodule and LICENSE do not count.
    legend = re.findall(r'<span class="lang-name">([^<]*)</span> <span class="muted">([\d.]+)%</span>', text)
    assert legend == [("Python", "71.3"), ("JavaScript", "21.8"), ("Markdown", "6.9")]
    assert '<div class="lang-bar"><span style="width:71.3%;background-color:#3572A5" title="Python 71.3%">' in text
    # The ref menu leads to the tree page of each branch and tag, "/" in names included.
    assert f'<a href="{base}/tree/feature/x">feature/x</a>' in text
    assert f'<a href="{base}/tree/main">main</a>' in text
    assert f'<a href="{base}/tree/v1.0">v1.0</a>' in text
    assert "<strong>main</strong>" in text


def test_tree_pages_show_last_commits_on_any_ref(web: WebClient,
                                                 seeded: tuple[Account, RepoRef, dict[str, str]]) -> None:
    _, ref, shas = seeded
    base = f"/{ref.full_name}"
    src = _rows(web.get(f"{base}/tree/main/src").text)
    assert {n: r[1] for n, r in src.items()} == {"app.py": "change the app", "util.js": "initial"}
    notes = web.get(f"{base}/tree/main/my%20notes")
    assert {n: r[1] for n, r in _rows(notes.text).items()} == {"a b.txt": "initial", "c.txt": "change the app"}
    vendor = _rows(web.get(f"{base}/tree/main/vendor").text)
    assert vendor["lib"][0] == f"{base}/commit/{shas['link <and> submodule']}"

    feature = web.get(f"{base}/tree/feature/x/docs")
    assert feature.status_code == 200
    assert _rows(feature.text)["guide.md"][1] == "feature work"
    # The ref menu of a directory leads to the same directory on each ref.
    assert f'<a href="{base}/tree/feature/x/docs">feature/x</a>' in feature.text
    assert f'<a href="{base}/tree/main/docs">main</a>' in feature.text
    tag = _rows(web.get(f"{base}/tree/v1.0").text)
    assert tag["README.md"][1] == "rewrite readme" and tag["docs"][1] == "initial"
    # The root of a tree page is the home listing at that ref, parent link aside.
    root = _rows(web.get(f"{base}/tree/feature/x").text)
    assert root["docs"][1] == "feature work" and root["src"][1] == "change the app"


def test_tree_commits_endpoint(web: WebClient, seeded: tuple[Account, RepoRef, dict[str, str]]) -> None:
    _, ref, shas = seeded
    base = f"/{ref.full_name}"
    resp = web.get(f"{base}/tree-commits/feature/x/src")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    data = resp.json()
    assert data["complete"] is True
    assert data["entries"] == {"app.py": shas["change the app"], "util.js": shas["initial"]}
    app = data["commits"][shas["change the app"]]
    assert app["url"] == f"{base}/commit/{shas['change the app']}" and app["summary"] == "change the app"
    assert app["iso"] == "2025-03-01T00:00:00+00:00" and app["ago"] == i18n.fmt_ago(_when("2025-03-01"))
    assert web.get(f"{base}/tree-commits/main").json()["entries"]["README.md"] == shas["rewrite readme"]

    not_dir = web.get(f"{base}/tree-commits/main/README.md")
    assert not_dir.status_code == 404 and "“README.md” is not a directory." in html.unescape(not_dir.text)
    missing = web.get(f"{base}/tree-commits/main/nope")
    assert missing.status_code == 404 and "“nope” does not exist at main" in html.unescape(missing.text)
    unknown = web.get(f"{base}/tree-commits/no-such-branch")
    assert unknown.status_code == 404 and "no-such-branch" in html.unescape(unknown.text)


def test_pages_that_do_not_wait_fill_in_later(web: WebClient, factory: Factory, git: GitClient,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    alice = factory.user()
    ref = factory.repo(alice)
    shas = _push_history(git, ref)
    base = f"/{ref.full_name}"
    # No time at all for the walk: the page gets what the first commit gives and renders.
    monkeypatch.setattr(repo_code, "LAST_COMMITS_WAIT_S", 0.0)
    page = web.get(f"{base}/tree/main")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert rows["README.md"][1] == "rewrite readme"  # the first commit walked changed it
    assert rows["LICENSE"] == ("", "", "", "", "") and '<span class="pending" aria-hidden="true">…</span>' in page.text
    assert f'<table class="files" data-commits-url="{base}/tree-commits/main">' in page.text
    assert "The last commit of some entries is still being looked up." in page.text
    assert f'<a href="{base}/tree/main?wait=1">Show them all</a>' in page.text
    assert "fetch(table.getAttribute" in page.text  # the script that fetches the rest

    notes = web.get(f"{base}/tree/main/my%20notes")
    assert f'<a href="{base}/tree/main/my%20notes?wait=1">Show them all</a>' in notes.text
    assert f'data-commits-url="{base}/tree-commits/main/my%20notes"' in notes.text
    assert web.get(f"{base}/tree-commits/main/my%20notes").json()["entries"] == {
        "a b.txt": shas["initial"], "c.txt": shas["change the app"]}

    # What the script fetches: everything, the walk resumed where the page stopped.
    data = web.get(f"{base}/tree-commits/main").json()
    assert data["complete"] and data["entries"]["LICENSE"] == shas["initial"]
    # Without script, ?wait=1 computes them all; afterwards the complete result is cached for every page.
    waited = web.get(f"{base}/tree/main?wait=1")
    assert _rows(waited.text)["LICENSE"][1] == "initial" and "commits-pending" not in waited.text
    home = web.get(base)
    assert _rows(home.text)["LICENSE"][1] == "initial" and "commits-pending" not in home.text

    # The home page behaves the same on another repository that was never listed.
    other = factory.repo(alice)
    _push_history(git, other)
    home = web.get(f"/{other.full_name}")
    assert "commits-pending" in home.text and f'href="/{other.full_name}?wait=1"' in home.text
    full = web.get(f"/{other.full_name}?wait=1")
    assert all(row[1] for row in _rows(full.text).values()) and "commits-pending" not in full.text


def test_home_of_an_empty_repository_and_of_one_without_its_default_branch(
        web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = factory.user()
    empty = factory.repo(alice)
    page = web.get(f"/{empty.full_name}")
    assert page.status_code == 200 and "This repository is empty" in page.text
    assert "lang-bar" not in page.text and "commit-count" not in page.text

    # A commit without any file: an empty listing, said in words.
    bare = factory.repo(alice)
    empty_commit = git.new_work("no-files")
    empty_commit.commit({}, "nothing yet", allow_empty=True)
    git.push_to(empty_commit.path, bare)
    for path in (f"/{bare.full_name}", f"/{bare.full_name}/tree/main"):
        page = web.get(path)
        assert page.status_code == 200 and "This directory is empty." in page.text, path
        assert "nothing yet" in page.text and _rows(page.text) == {}
    assert web.get(f"/{bare.full_name}/tree-commits/main").json() == {"complete": True, "entries": {},
                                                                     "commits": {}}

    # Only a "dev" branch was pushed: the home page shows it rather than failing on the missing "main".
    other = factory.repo(alice)
    work = git.init_repo("only-dev", {"main.go": "package main\n"}, branch="dev")
    git.push_to(work, other, "dev")
    page = web.get(f"/{other.full_name}")
    assert page.status_code == 200
    assert _rows(page.text)["main.go"][1] == "initial commit"
    assert "<strong>dev</strong>" in page.text and '<span class="lang-name">Go</span>' in page.text


def test_private_repository_pages_are_hidden(web: WebClient, factory: Factory, git: GitClient) -> None:
    alice = factory.user()
    ref = factory.repo(alice, private=True)
    _push_history(git, ref)
    base = f"/{ref.full_name}"
    paths = [base, f"{base}/tree/main", f"{base}/tree/main/src", f"{base}/tree-commits/main",
             f"{base}/tree-commits/main/src", f"{base}/tree-commits/feature/x/docs"]
    for path in paths:  # anonymous
        resp = web.get(path)
        assert resp.status_code == 404, path
        assert "rewrite readme" not in resp.text and "change the app" not in resp.text
    stranger = factory.user()
    web.login(stranger.name, PASSWORD)
    for path in paths:
        resp = web.get(path)
        assert resp.status_code == 404, path
        assert "rewrite readme" not in resp.text
    with web.as_user(alice.name, PASSWORD) as owner:
        for path in paths:
            assert owner.get(path).status_code == 200, path
        data = owner.get(f"{base}/tree-commits/main")
        assert "private" in data.headers["cache-control"]
        assert json.loads(data.text)["complete"] is True
