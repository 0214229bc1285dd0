"""Searching a repository (file names and code) and the site-wide repository search, over the live server."""

from __future__ import annotations

import html
import re

from forge.repos import services as repos
from forge.repos.services import RepoRef
from tests.factories import PASSWORD, Factory, unique
from tests.gitclient import GitClient
from tests.webclient import WebClient


def _seed(git: GitClient, factory: Factory, private: bool = False) -> RepoRef:
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    files = {
        "src/app.py": "import os\n\ndef run():\n    return find_NEEDLE(os)\n",
        "apps/readme.txt": "nothing here\n",
        "lib/happy.txt": "a.*b is literal here, and --help too\n",
        "docs/notes.md": "# Notes\n\nThe needle is also here.\n" + "x" * 2000 + " needle at the end\n",
    }
    for i in range(120):
        files[f"many/file{i:03d}.txt"] = f"{i}\n"
    work = git.init_repo(unique("search"), files)
    (work / "bin.dat").write_bytes(b"\x00needle\x00" * 10)
    git.run("add", "-A", cwd=work, check=True)
    git.run("commit", "-q", "-m", "binary", cwd=work, check=True)
    git.run("tag", "v1", cwd=work, check=True)
    git.run("checkout", "-q", "-b", "feature/x", cwd=work, check=True)
    git.commit(work, "feature.txt", "only on the feature needle branch\n", "feature")
    git.push_to(work, ref, "main", "feature/x", "v1")
    return ref


def _paths(page: str) -> list[str]:
    if '<ul class="search-paths plain">' not in page:
        return []
    block = page.split('<ul class="search-paths plain">', 1)[1].split("</ul>", 1)[0]
    return [re.sub(r"<[^>]+>", "", a) for a in re.findall(r"<a [^>]*>(.*?)</a>", block)]


def test_file_name_search(web: WebClient, factory: Factory, git: GitClient) -> None:
    ref = _seed(git, factory)
    base = f"/{ref.full_name}"

    page = web.get(f"{base}/search", params={"q": "APP", "type": "files"})
    assert page.status_code == 200, page.text[:500]
    # Matching file names first (a name starting with the query before one containing it), then other paths.
    assert _paths(page.text) == ["src/app.py", "lib/happy.txt", "apps/readme.txt"]
    assert f'href="{base}/blob/main/src/app.py"' in page.text
    assert "src/<mark>app</mark>.py" in page.text
    assert "File names matching “APP” on main: 3" in html.unescape(page.text)

    many = web.get(f"{base}/search", params={"q": "file", "type": "files"})
    assert len(_paths(many.text)) == 100
    assert "20 more files not shown" in many.text

    none = web.get(f"{base}/search", params={"q": "zzzz", "type": "files"})
    assert none.status_code == 200 and "No file names match “zzzz” on main." in html.unescape(none.text)

    feature = web.get(f"{base}/search", params={"q": "feature", "type": "files", "ref": "feature/x"})
    assert _paths(feature.text) == ["feature.txt"]
    assert f'href="{base}/blob/feature/x/feature.txt"' in feature.text
    assert "No file names match" in web.get(f"{base}/search", params={"q": "feature.txt", "type": "files"}).text


def test_code_search(web: WebClient, factory: Factory, git: GitClient) -> None:
    ref = _seed(git, factory)
    base = f"/{ref.full_name}"

    page = web.get(f"{base}/search", params={"q": "needle"})
    assert page.status_code == 200, page.text[:500]
    text = page.text
    # Files in path order, each line linking to its anchor on the file page, the match marked in any case.
    assert text.index(">docs/notes.md</a>") < text.index(">src/app.py</a>")
    assert f'href="{base}/blob/main/src/app.py#L4">4</a>' in text
    assert "return find_<mark>NEEDLE</mark>(os)" in text
    assert f'href="{base}/blob/main/docs/notes.md#L3">3</a>' in text
    # A long line is cut around the match.
    assert "<td class=\"blob-code\">…" + "x" * 79 + " <mark>needle</mark> at the end</td>" in text
    # Binary files and other branches are not searched.
    assert "bin.dat" not in text and "feature.txt" not in text

    on_branch = web.get(f"{base}/search", params={"q": "needle", "ref": "feature/x"})
    assert f'href="{base}/blob/feature/x/feature.txt#L1">1</a>' in on_branch.text
    assert '<option value="feature/x" selected>' in on_branch.text

    # The query is a fixed string, never a regular expression or an option.
    regex = web.get(f"{base}/search", params={"q": "a.*b"})
    assert regex.status_code == 200 and "<mark>a.*b</mark> is literal" in regex.text
    option = web.get(f"{base}/search", params={"q": "--help"})
    assert option.status_code == 200 and "<mark>--help</mark> too" in option.text
    nothing = web.get(f"{base}/search", params={"q": "no such text anywhere"})
    assert nothing.status_code == 200
    assert "No code matches “no such text anywhere” on main." in html.unescape(nothing.text)


def test_search_form_and_bad_input(web: WebClient, factory: Factory, git: GitClient) -> None:
    ref = _seed(git, factory)
    base = f"/{ref.full_name}"

    empty = web.get(f"{base}/search")
    assert empty.status_code == 200
    assert 'name="q"' in empty.text and "<mark>" not in empty.text
    assert "Search the code or the file names of main." in empty.text
    short = web.get(f"{base}/search", params={"q": "a"})
    assert short.status_code == 422 and "Type at least 2 characters to search." in short.text
    long = web.get(f"{base}/search", params={"q": "x" * 201})
    assert long.status_code == 422 and "Searches are limited to 200 characters." in long.text
    unknown = web.get(f"{base}/search", params={"q": "needle", "ref": "nope"})
    assert unknown.status_code == 404 and "nope" in html.unescape(unknown.text)
    # Control characters cannot reach git (a NUL cannot even be passed to it): they are searched as spaces.
    nul = web.get(f"{base}/search", params={"q": "find_\x00needle"})
    assert nul.status_code == 200 and "No code matches “find_ needle” on main." in html.unescape(nul.text)
    tag = web.get(f"{base}/search", params={"q": "needle", "ref": "v1"})
    assert tag.status_code == 200 and f'href="{base}/blob/v1/src/app.py#L4"' in tag.text

    # Every repository page carries a search box; on code pages it searches the ref being browsed.
    home = web.get(base)
    assert f'action="{base}/search"' in home.text
    tree = web.get(f"{base}/tree/feature/x")
    assert '<input type="hidden" name="ref" value="feature/x">' in tree.text

    # An empty repository says so instead of failing.
    bare = factory.repo(ref.owner)
    assert "nothing to search yet" in web.get(f"/{bare.full_name}/search", params={"q": "needle"}).text


def test_private_repo_search_is_hidden(web: WebClient, factory: Factory, git: GitClient) -> None:
    ref = _seed(git, factory, private=True)
    url = f"/{ref.full_name}/search?q=needle"
    assert web.get(url).status_code == 404  # anonymous
    outsider = factory.user()
    web.login(outsider.name, PASSWORD)
    assert web.get(url).status_code == 404
    assert web.get(url + "&type=files").status_code == 404
    with web.as_user(ref.owner.name, PASSWORD) as owner:
        assert "find_<mark>needle</mark>" in owner.get(url).text.replace("NEEDLE", "needle")


# --- site-wide repository search ----------------------------------------------------------------------------


def _names(page: str) -> list[str]:
    return re.findall(r'class="repo-name" href="/([^"]+)"', page)


def test_global_search_by_name_description_and_topic(web: WebClient, factory: Factory) -> None:
    word = unique("zebra")
    owner = factory.user()
    by_name = factory.repo(owner, f"{word}-tool")
    by_desc = factory.repo(owner, description=f"A {word.upper()} helper")
    by_topic = factory.repo(owner)
    with factory.session() as s:
        found = repos.find_repo(s, owner.name, by_topic.repo.name)
        assert found is not None
        repos.update_settings(s, owner, found, topics=f"{word} cli")
    unrelated = factory.repo(owner)

    page = web.get("/explore/repos", params={"q": word})
    assert page.status_code == 200
    names = _names(page.text)
    # The name match ranks first; all three are found, nothing else.
    assert names[0] == by_name.full_name
    assert set(names) == {by_name.full_name, by_desc.full_name, by_topic.full_name}
    assert f"Repositories matching “{word}”: 3" in html.unescape(page.text)
    assert f'href="/explore/repos?q=topic:{word}"' in page.text

    topic = web.get("/explore/repos", params={"q": f"topic:{word}"})
    assert _names(topic.text) == [by_topic.full_name]
    both = web.get("/explore/repos", params={"q": f"{word} helper"})
    assert _names(both.text) == [by_desc.full_name]
    owner_slash = web.get("/explore/repos", params={"q": f"{owner.name}/{unrelated.repo.name}"})
    assert _names(owner_slash.text) == [unrelated.full_name]
    # LIKE wildcards are plain characters; control characters are spaces (PostgreSQL refuses a NUL).
    assert _names(web.get("/explore/repos", params={"q": f"{word}\x00helper"}).text) == [by_desc.full_name]
    assert _names(web.get("/explore/repos", params={"q": f"{word}%"}).text) == []

    # The top bar's search box leads here.
    assert 'action="/explore/repos"' in web.get("/").text


def test_global_search_paginates(web: WebClient, factory: Factory) -> None:
    word = unique("pager")
    owner = factory.user()
    made = {factory.repo(owner, description=f"{word} number {i}").full_name for i in range(25)}
    first = web.get("/explore/repos", params={"q": word})
    second = web.get("/explore/repos", params={"q": word, "page": 2})
    assert len(_names(first.text)) == 20 and len(_names(second.text)) == 5
    assert set(_names(first.text)) | set(_names(second.text)) == made
    assert f'href="?q={word}&amp;page=2"' in first.text and 'rel="prev"' not in first.text
    assert f'href="?q={word}&amp;page=1"' in second.text and 'rel="next"' not in second.text
    assert _names(web.get("/explore/repos", params={"q": word, "page": 9}).text) == []
    assert web.get("/explore/repos", params={"q": word, "page": "x"}).status_code == 200


def test_global_search_never_lists_hidden_private_repos(web: WebClient, factory: Factory) -> None:
    word = unique("secret")
    owner = factory.user()
    public = factory.repo(owner, f"{word}-public")
    private = factory.repo(owner, f"{word}-private", private=True, description=word)
    collaborator = factory.user()
    with factory.session() as s:
        found = repos.find_repo(s, owner.name, private.repo.name)
        assert found is not None
        repos.set_collaborator(s, owner, found, collaborator, "read")

    assert _names(web.get("/explore/repos", params={"q": word}).text) == [public.full_name]  # anonymous
    assert f"Repositories matching “{word}”: 1" in html.unescape(web.get("/explore/repos", params={"q": word}).text)
    outsider = factory.user()
    web.login(outsider.name, PASSWORD)
    assert _names(web.get("/explore/repos", params={"q": word}).text) == [public.full_name]
    assert _names(web.get("/explore/repos", params={"q": f"topic:{word}"}).text) == []

    for viewer in (owner, collaborator):
        with web.as_user(viewer.name, PASSWORD) as client:
            assert set(_names(client.get("/explore/repos", params={"q": word}).text)) == {
                public.full_name,
                private.full_name,
            }
