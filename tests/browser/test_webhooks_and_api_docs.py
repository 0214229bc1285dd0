"""The API's documentation page and a repository webhook, in a real browser.

The docs page must render the whole OpenAPI document with Swagger UI served by the forge itself (no CDN). A
repository owner adds a signed webhook from the settings, sends a test delivery, reads it in the delivery log,
redelivers it, and then a real `git push` reaches the receiver as a push event.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_collaboration import sign_in
from tests.conftest import LiveServer
from tests.factories import Factory, unique
from tests.gitclient import GitClient
from tests.hookreceiver import HookReceiver

pytestmark = pytest.mark.browser


def test_the_api_docs_page_renders_every_operation(page: Page) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs")
    expect(page.locator(".info .title")).to_contain_text("Forge API")
    expect(page.locator(".opblock-tag").first).to_be_visible()
    tags = {text.strip() for text in page.locator(".opblock-tag").all_inner_texts()}
    for tag in ("repos", "branches", "contents", "issues", "pulls", "ci", "webhooks", "notifications", "search"):
        assert any(t.startswith(tag) for t in tags), (tag, tags)
    # The filter box finds an operation; unfolding it shows its parameters.
    page.locator(".operation-filter-input").fill("pulls")
    expect(page.locator(".opblock-tag")).to_have_count(1)
    page.locator(".opblock-tag", has_text="pulls").click()
    merge = page.locator(".opblock-summary-path[data-path='/repos/{owner}/{repo}/pulls/{number}/merge']")
    expect(merge.first).to_be_visible()
    # Everything the page loaded came from the forge.
    base = page.url.split("/api/v1/")[0]
    assert requested and all(url.startswith(base) or url.startswith("data:") for url in requested), requested


def _open_hook(page: Page, hooks: str) -> None:
    page.goto(hooks)
    page.locator("table a code").first.click()
    expect(page.get_by_role("button", name="Test delivery")).to_be_visible()


def test_a_webhook_from_the_settings_page_to_a_real_receiver(
    browser: Browser, server: LiveServer, factory: Factory, git: GitClient
) -> None:
    owner = factory.user(unique("hookowner"))
    ref = factory.repo(owner, unique("hooked"))
    hooks = f"/{ref.full_name}/settings/hooks"
    context, page = sign_in(browser, server, owner.name)
    with HookReceiver() as receiver:
        page.goto(f"/{ref.full_name}/settings")
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_role("link", name="Add webhook").click()
        form = page.locator("form.webhook-form")
        form.locator("input[name=url]").fill(receiver.url("/forge"))
        form.locator("input[name=secret]").fill("s3cret")
        form.locator("input[name=events_mode][value=choose]").check()
        form.locator("input[name=events][value=push]").check()
        form.get_by_role("button", name="Add webhook").click()
        expect(page.locator("body")).to_contain_text(receiver.url("/forge"))

        _open_hook(page, hooks)
        page.get_by_role("button", name="Test delivery").click()
        ping = receiver.wait_for(1, timeout=20)[0]
        assert ping.headers["X-GitHub-Event"] == "ping"
        signature = hmac.new(b"s3cret", ping.body, hashlib.sha256).hexdigest()
        assert ping.headers["X-Hub-Signature-256"] == f"sha256={signature}"

        # The delivery log shows what was sent and what came back.
        _open_hook(page, hooks)
        row = page.locator("table.webhook-deliveries tr[id^=delivery-]").first
        expect(row).to_contain_text("ping")
        expect(row).to_contain_text("200")
        row.locator("a").click()
        expect(page.locator("h2")).to_contain_text(ping.headers["X-GitHub-Delivery"])
        expect(page.locator("body")).to_contain_text("X-Hub-Signature-256")
        page.get_by_role("button", name="Redeliver").click()
        again = receiver.wait_for(2, timeout=20)[1]
        assert again.body == ping.body and again.headers["X-GitHub-Delivery"] != ping.headers["X-GitHub-Delivery"]

        # A real push arrives as a push event with the pushed commit.
        work = git.new_work("hooked")
        sha = work.commit({"README.md": "# hooked\n"}, "first commit")
        git.push_to(work.path, ref, "main")
        push = next(hit for hit in receiver.wait_for(3, timeout=30)[2:] if hit.headers["X-GitHub-Event"] == "push")
        payload = push.json()
        assert payload["ref"] == "refs/heads/main" and payload["after"] == sha
        assert [c["message"].strip() for c in payload["commits"]] == ["first commit"]
        assert payload["repository"]["full_name"] == ref.full_name
    context.close()
