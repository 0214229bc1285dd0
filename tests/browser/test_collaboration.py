"""Collaboration end to end in a real browser: a contributor opens an issue, forks, pushes a branch to the fork and
opens a pull request that closes the issue; a maintainer reviews a range of lines with a suggested change; the
author applies it with one click; the maintainer approves; the owner merges through the merge box, and the issue
is closed by the merge."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from forge.repos import protection
from forge.repos import services as repos
from tests.browser.conftest import new_context
from tests.conftest import LiveServer
from tests.factories import PASSWORD, Factory, unique
from tests.gitclient import GitClient

pytestmark = pytest.mark.browser

GREETING = "def greet(name):\n    print('hi')\n    print(name)\n    return None\n\n\ngreet('world')\n"


def sign_in(browser: Browser, server: LiveServer, name: str) -> tuple[BrowserContext, Page]:
    context = new_context(browser, server)
    page = context.new_page()
    page.goto("/user/login")
    form = page.locator("form[action='/user/login']")
    form.locator("input[name=login]").fill(name)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page.locator(".usernav")).to_contain_text(name)
    return context, page


def test_issue_fork_pull_request_review_suggestion_approve_merge(
    browser: Browser, server: LiveServer, factory: Factory, git: GitClient
) -> None:
    alice, bob, carol = factory.user(unique("owner")), factory.user(unique("contrib")), factory.user(unique("rev"))
    ref = factory.repo(alice, unique("greeter"))
    base = f"/{ref.full_name}"
    work = git.new_work("work")
    work.commit({"greet.py": GREETING, "README.md": "# Greeter\n"}, "initial commit")
    git.push_to(work.path, ref, "main")
    with factory.session() as s:
        repos.set_collaborator(s, alice, ref, carol, "write")
        protection.save_rule(s, alice, ref, "main", required_approvals=1)

    contexts: list[BrowserContext] = []
    try:
        # --- the contributor opens an issue -----------------------------------------------------------------
        ctx, bob_page = sign_in(browser, server, bob.name)
        contexts.append(ctx)
        bob_page.goto(f"{base}/issues/new")
        form = bob_page.locator(f"form[action='{base}/issues/new']")
        form.locator("input[name=title]").fill("The greeting is too terse")
        form.locator("textarea[name=body]").fill("It only says hi.")
        form.locator("button[type=submit].primary").click()
        expect(bob_page).to_have_url(re.compile(rf"{re.escape(server.url + base)}/issues/(\d+)$"))
        issue_number = int(bob_page.url.rsplit("/", 1)[1])
        expect(bob_page.locator("body")).to_contain_text("The greeting is too terse")

        # --- forks, pushes a branch to the fork and opens a pull request from it ----------------------------
        bob_page.goto(f"{base}/fork")
        fork_name = unique("greeter-fork")
        fork_form = bob_page.locator(f"form[action='{base}/fork']")
        fork_form.locator("input[name=name]").fill(fork_name)
        fork_form.locator("button[type=submit]").click()
        expect(bob_page).to_have_url(f"{server.url}/{bob.name}/{fork_name}")

        work.git("checkout", "-q", "-b", "friendlier")
        work.commit({"greet.py": GREETING.replace("print(name)", "print('dear', name)")}, "Address people warmly")
        push = git.run("push", git.url(f"{bob.name}/{fork_name}.git", bob.name, PASSWORD), "friendlier",
                       cwd=work.path)
        assert push.ok, push.err

        bob_page.goto(f"{base}/pulls/new?base=main&head={bob.name}:friendlier")
        pr_form = bob_page.locator(f"form.pull-new-form[action='{base}/pulls/new']")
        pr_form.locator("input[name=title]").fill("Friendlier greeting")
        pr_form.locator("textarea[name=body]").fill(f"Closes #{issue_number}.")
        pr_form.locator("button[type=submit].primary").click()
        expect(bob_page).to_have_url(re.compile(rf"{re.escape(server.url + base)}/pulls/(\d+)$"))
        pull_url = bob_page.url.removeprefix(server.url)
        expect(bob_page.locator("body")).to_contain_text("Friendlier greeting")

        # --- a maintainer comments on lines 2-4 with a suggested change -------------------------------------
        ctx, carol_page = sign_in(browser, server, carol.name)
        contexts.append(ctx)
        carol_page.goto(f"{pull_url}/files")
        # The "+" of a line shows when the pointer is over the line: click line 2's, then shift-click line 4's.
        for line, modifiers in (("2", []), ("4", ["Shift"])):
            carol_page.locator(f"td.code[data-side='right'][data-line='{line}']").hover()
            carol_page.locator(f"a.line-comment[data-side='right'][data-line='{line}']").click(modifiers=modifiers)
        line_form = carol_page.locator("tr.js-form-row form.line-comment-form")
        expect(line_form).to_be_visible()
        expect(line_form.locator("input[name=start_line]")).to_have_value("2")
        expect(line_form.locator("input[name=line]")).to_have_value("4")
        expect(carol_page.locator("tr.line-selected")).to_have_count(3)
        body = line_form.locator("textarea[name=body]")
        body.fill("Say hello properly:\n")
        line_form.get_by_role("button", name="Insert a suggestion").click()
        suggested = body.input_value()
        assert "```suggestion\n    print('hi')\n    print('dear', name)\n    return None\n```" in suggested
        body.fill(suggested.replace("print('hi')", "print('hello')"))
        line_form.get_by_role("button", name="Add single comment").click()
        thread = carol_page.locator(".suggestion").first
        expect(thread).to_contain_text("print('hello')")

        # --- the author applies the suggestion with one click -----------------------------------------------
        bob_page.goto(f"{pull_url}/files")
        bob_page.get_by_role("button", name="Apply suggestion").click()
        expect(bob_page.locator(".suggestion-applied").first).to_contain_text("Applied in")

        # --- the maintainer approves ------------------------------------------------------------------------
        carol_page.goto(pull_url)
        finish = carol_page.locator("details.review-finish")
        finish.locator("summary").click()
        finish.locator("textarea[name=body]").fill("Lovely, thanks!")
        finish.locator("input[name=verdict][value=approve]").check()
        finish.get_by_role("button", name="Submit review").click()
        expect(carol_page.locator("body")).to_contain_text("Lovely, thanks!")

        # --- the owner merges -------------------------------------------------------------------------------
        ctx, alice_page = sign_in(browser, server, alice.name)
        contexts.append(ctx)
        alice_page.goto(pull_url)
        box = alice_page.locator("#merge-box")
        expect(box).to_contain_text("This branch has no conflicts with the base branch")
        expect(box).to_contain_text("Approvals: 1 of 1 required")
        expect(box.locator(".merge-problems")).to_have_count(0)
        box.locator("select[name=style]").select_option("squash")
        expect(box.locator("input[name=title]")).to_have_value(re.compile(r"Friendlier greeting \(#\d+\)"))
        box.get_by_role("button", name="Merge pull request").click()
        expect(alice_page).to_have_url(f"{server.url}{pull_url}")
        expect(alice_page.locator(".flash")).to_contain_text("merged in")
        expect(alice_page.locator("#merge-box")).to_contain_text("Pull request merged")

        # The issue the pull request named is closed, and main has the applied suggestion.
        alice_page.goto(f"{base}/issues/{issue_number}")
        expect(alice_page.locator("body")).to_contain_text("Closed")
        alice_page.goto(f"{base}/raw/main/greet.py")
        expect(alice_page.locator("body")).to_contain_text("print('hello')")
        expect(alice_page.locator("body")).to_contain_text("print('dear', name)")
    finally:
        for ctx in contexts:
            ctx.close()
