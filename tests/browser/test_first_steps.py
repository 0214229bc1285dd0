"""A newcomer's first minutes, in a real browser: sign up, create a repository, read it, switch to Chinese,
sign out. Run with JavaScript on and off, because every page must work without it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import new_context
from tests.conftest import LiveServer
from tests.factories import PASSWORD, unique

pytestmark = pytest.mark.browser


def sign_up(page: Page, server: LiveServer, name: str) -> None:
    page.goto("/")
    page.locator(".usernav").get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(f"{server.url}/user/signup")
    form = page.locator("form[action='/user/signup']")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Email address").fill(f"{name}@example.com")
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Confirm password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator(".flash")).to_contain_text(f"Welcome, {name}!")
    expect(page.locator(".usernav")).to_contain_text(name)


def create_repository(page: Page, server: LiveServer, owner: str, name: str, description: str) -> None:
    page.get_by_role("link", name="New repository").first.click()
    expect(page).to_have_url(f"{server.url}/repo/new")
    form = page.locator("form[action='/repo/new']")
    expect(form.get_by_label("Owner")).to_have_value(owner)
    form.get_by_label("Repository name").fill(name)
    form.get_by_label("Description (optional)").fill(description)
    form.get_by_label("Add a README file").check()
    form.get_by_role("button", name="Create repository").click()
    expect(page).to_have_url(f"{server.url}/{owner}/{name}")


def switch_language(page: Page, label: str) -> None:
    footer = page.locator("footer form[action='/language']")
    footer.locator("select[name=locale]").select_option(label=label)
    footer.locator("button[type=submit]").click()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_first_steps(browser: Browser, server: LiveServer, javascript: bool) -> None:
    context = new_context(browser, server, javascript=javascript)
    page = context.new_page()
    try:
        user, repo = unique("newcomer"), unique("first-repo")
        description = "My first project on the forge"

        sign_up(page, server, user)
        create_repository(page, server, user, repo, description)

        # The repository home shows the README the form asked for, rendered from the first commit.
        expect(page.locator("h1, .repo-header").first).to_contain_text(repo)
        readme = page.locator(".readme")
        expect(readme.locator("h1")).to_have_text(repo)
        expect(readme).to_contain_text(description)
        expect(page.locator("#clone-url")).to_have_value(f"{server.url}/{user}/{repo}.git")
        expect(page.locator("html")).to_have_attribute("lang", "en")

        # The footer switcher changes the language and comes back to the same page.
        switch_language(page, "简体中文")
        expect(page).to_have_url(f"{server.url}/{user}/{repo}")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator(".readme")).to_contain_text(description)
        # The choice is remembered on the next page too.
        page.goto("/explore/repos")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

        # Sign out (the button's text is translated now, so find it by its form).
        page.goto(f"/{user}/{repo}")
        page.locator(".usernav form[action='/user/logout'] button[type=submit]").click()
        expect(page).to_have_url(f"{server.url}/")
        expect(page.locator(".usernav")).not_to_contain_text(user)
        expect(page.locator(".usernav a[href='/user/login']")).to_be_visible()
        # Signed out, the public repository is still readable, and a page needing sign-in sends to the form.
        page.goto(f"/{user}/{repo}")
        expect(page.locator(".readme")).to_contain_text(description)
        page.goto("/repo/new")
        expect(page).to_have_url(re.compile(re.escape(f"{server.url}/user/login?next=")))
    finally:
        context.close()


def test_wrong_password_keeps_the_login_name(page: Page, server: LiveServer) -> None:
    page.goto("/user/login")
    form = page.locator("form[action='/user/login']")
    form.locator("input[name=login]").fill("nobody-by-this-name")
    form.locator("input[name=password]").fill("not-the-password")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{server.url}/user/login")
    expect(page.locator("form[action='/user/login'] input[name=login]")).to_have_value("nobody-by-this-name")
    expect(page.locator(".usernav a[href='/user/login']")).to_be_visible()
