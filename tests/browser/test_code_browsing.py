"""Reading code in a real browser, once in English and once in Chinese: sign in, create a repository, push to it
with real git, then walk the pages a developer reads every day — home, tree, a file with a line range, history, a
commit's diff (unified and split), blame, compare, the branch switcher and an archive download."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import new_context
from tests.conftest import LiveServer
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient

pytestmark = pytest.mark.browser

# What a reader of each language sees on the buttons and tabs this walk uses.
LABELS = {
    "en-US": {
        "lang": "en", "history": "History", "blame": "Blame", "split": "Split", "compare": "Compare",
        "sign_in": "Sign in", "create": "Create repository", "empty": "This repository is empty",
    },
    "zh-CN": {
        "lang": "zh-CN", "history": "历史", "blame": "追溯", "split": "并排", "compare": "比较",
        "sign_in": "登录", "create": "创建仓库", "empty": "这是一个空仓库",
    },
}

APP = "".join(f"def step_{i}():\n    return {i}\n\n" for i in range(1, 11))


def sign_in(page: Page, name: str, label: str) -> None:
    page.goto("/user/login")
    form = page.locator("form[action='/user/login']")
    form.locator("input[name=login]").fill(name)
    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_role("button", name=label).click()
    expect(page.locator(".usernav")).to_contain_text(name)


def push_project(git: GitClient, url: str) -> None:
    """Two commits on main (the second edits src/app.py), a tag, and a branch with a slash and one more commit."""
    work = git.init_repo("project", {"README.md": "# Project\n\nRead me first.\n", "src/app.py": APP,
                                     "docs/guide.md": "# Guide\n"})
    git.commit(work, "src/app.py", APP.replace("return 5", "return 50"), "Make step five bigger")
    git.run("tag", "v1.0", cwd=work, check=True)
    git.run("checkout", "-q", "-b", "feature/x", cwd=work, check=True)
    git.commit(work, "feature.txt", "new feature\n", "Add the feature file")
    git.run("checkout", "-q", "main", cwd=work, check=True)
    res = git.run("push", url, "main", "feature/x", "v1.0", cwd=work)
    assert res.ok, res.err


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_browse_a_pushed_repository(
    browser: Browser, server: LiveServer, factory: Factory, git: GitClient, locale: str
) -> None:
    t = LABELS[locale]
    owner = factory.user()
    context = new_context(browser, server, locale=locale)
    page = context.new_page()
    try:
        sign_in(page, owner.name, t["sign_in"])
        expect(page.locator("html")).to_have_attribute("lang", t["lang"])

        # Create an empty repository: its page says how to push the first commit.
        name = f"browse-{locale.lower()}"
        page.goto("/repo/new")
        form = page.locator("form[action='/repo/new']")
        form.locator("input[name=name]").fill(name)
        form.get_by_role("button", name=t["create"]).click()
        base = f"/{owner.name}/{name}"
        expect(page).to_have_url(f"{server.url}{base}")
        expect(page.locator(".empty-repo")).to_contain_text(t["empty"])
        expect(page.locator(".empty-repo")).to_contain_text(f"git remote add origin {server.url}{base}.git")

        push_project(git, git.url(f"{owner.name}/{name}.git", owner.name, PASSWORD))

        # Home: the file list with each entry's last commit, the README and the counts.
        page.goto(base)
        files = page.locator("table.files")
        expect(files.get_by_role("link", name="src", exact=True)).to_be_visible()
        expect(files.locator("tr", has_text="src")).to_contain_text("Make step five bigger")
        expect(files.locator("tr", has_text="docs")).to_contain_text("initial commit")
        expect(page.locator(".readme")).to_contain_text("Read me first.")
        expect(page.locator(f"a[href='{base}/commits/main']").first).to_contain_text("2")

        # Tree, then the file with a line range marked.
        files.get_by_role("link", name="src", exact=True).click()
        expect(page).to_have_url(f"{server.url}{base}/tree/main/src")
        page.locator("table.files").get_by_role("link", name="app.py").click()
        expect(page).to_have_url(f"{server.url}{base}/blob/main/src/app.py")
        page.goto(f"{base}/blob/main/src/app.py#L13-L15")
        for n in (13, 14, 15):
            expect(page.locator(f"tr#L{n}")).to_have_class(re.compile(r"\bhl\b"))
        expect(page.locator("tr#L16")).not_to_have_class(re.compile(r"\bhl\b"))
        expect(page.locator("tr#L14")).to_contain_text("return 50")

        # History of the file, then the commit that changed it: unified, then split.
        page.locator(".blob-actions").get_by_role("link", name=t["history"]).click()
        expect(page).to_have_url(f"{server.url}{base}/commits/main/src/app.py")
        page.get_by_role("link", name="Make step five bigger").first.click()
        expect(page).to_have_url(re.compile(re.escape(f"{server.url}{base}/commit/") + "[0-9a-f]{40}$"))
        diff = page.locator(".diff-file", has_text="src/app.py")
        expect(diff.locator("tr.del")).to_contain_text("return 5")
        expect(diff.locator("tr.add")).to_contain_text("return 50")
        page.get_by_role("link", name=t["split"], exact=True).click()
        expect(page).to_have_url(re.compile(r"style=split"))
        row = page.locator(".diff-file tr", has_text="return 50")
        expect(row).to_contain_text("return 5")  # the old line sits beside the new one

        # Blame: every line of the file is attributed, the changed one to the second commit.
        page.goto(f"{base}/blob/main/src/app.py")
        page.locator(".blob-actions").get_by_role("link", name=t["blame"]).click()
        expect(page).to_have_url(f"{server.url}{base}/blame/main/src/app.py")
        changed = page.locator("tbody.blame-hunk", has_text="return 50")
        expect(changed.locator(".blame-summary")).to_have_text("Make step five bigger")
        expect(page.locator("tbody.blame-hunk").first.locator(".blame-summary")).to_have_text("initial commit")

        # Compare the feature branch with main through the form.
        page.goto(f"{base}/compare")
        compare = page.locator("form.compare-form")
        compare.locator("input[name=base]").fill("main")
        compare.locator("input[name=head]").fill("feature/x")
        compare.get_by_role("button", name=t["compare"]).click()
        expect(page).to_have_url(f"{server.url}{base}/compare/main...feature/x")
        expect(page.locator(".compare-commits")).to_contain_text("Add the feature file")
        expect(page.locator(".diff-file", has_text="feature.txt")).to_contain_text("new feature")

        # The branch switcher on the home page opens the same view of another branch.
        page.goto(base)
        page.locator(".ref-menu summary").click()
        page.locator(".ref-list").get_by_role("link", name="feature/x", exact=True).click()
        expect(page).to_have_url(f"{server.url}{base}/tree/feature/x")
        expect(page.locator("table.files").get_by_role("link", name="feature.txt")).to_be_visible()

        # Archive download of the default branch: a zip whose files sit under one folder.
        page.goto(base)
        with page.expect_download() as waiting:
            page.locator(f"a[href='{base}/archive/main.zip']").click()
        download = waiting.value
        assert download.suggested_filename == f"{name}-main.zip"
        path = download.path()
        assert path is not None
        names = zipfile.ZipFile(io.BytesIO(path.read_bytes())).namelist()
        assert f"{name}-main/README.md" in names and f"{name}-main/src/app.py" in names
    finally:
        context.close()
