"""Notification pages as a user sees them: the count in the top bar, the inbox, watching a repository, the
preferences page; and a mention written in the browser arriving as mail at a real SMTP server."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from community.notifications import fanout
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.issues import comments
from forge.issues import services as issues
from forge.issues.models import Issue
from forge.mail import outbox
from forge.repos import services as repos
from forge.repos.services import RepoRef
from tests.factories import PASSWORD
from tests.smtpsink import SmtpSink
from tests.webclient import WebClient


def _open(server: Any, actor: Account, ref: RepoRef, title: str, body: str = "") -> Issue:
    with session_scope(server.engine) as s:
        me = s.get(Account, actor.id)
        found = repos.get_repo_by_id(s, ref.repo.id or 0)
        assert me is not None and found is not None
        issue = issues.create_issue(s, me, found, title=title, body=body)
    fanout.process_pending(server.engine, server.settings)
    return issue


def _count_in_top_bar(html: str) -> str | None:
    match = re.search(r'class="notif-indicator[^"]*"[^>]*>[^<]*(?:<span class="notif-count"[^>]*>(\d+)</span>)?',
                      html)
    assert match, "no notifications link in the top bar"
    return match.group(1)


def _line_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="notification-(\d+)"', html)]


def test_the_inbox_lists_unread_notifications_and_opening_one_reads_it(server: Any, web: WebClient,
                                                                       factory: Any) -> None:
    owner, alice = factory.user(), factory.user()
    ref = factory.repo(owner)
    web.login(owner.name, PASSWORD)
    assert _count_in_top_bar(web.get("/").text) is None

    issue = _open(server, alice, ref, "Crash <on> start")
    home = web.get(f"/{ref.full_name}")
    assert _count_in_top_bar(home.text) == "1"

    page = web.get("/notifications")
    assert page.status_code == 200
    assert ref.full_name in page.text
    assert "Crash &lt;on&gt; start" in page.text and f"#{issue.number}" in page.text
    assert alice.name in page.text and "watching" in page.text  # who, and why
    [line_id] = _line_ids(page.text)
    assert f'href="/notifications/{line_id}/open"' in page.text

    opened = web.get(f"/notifications/{line_id}/open")
    assert opened.status_code == 303 and opened.headers["location"] == f"/{ref.full_name}/issues/{issue.number}"
    assert _count_in_top_bar(web.get("/").text) is None
    assert _line_ids(web.get("/notifications").text) == []  # unread only, by default
    assert "all caught up" in web.get("/notifications").text
    assert _line_ids(web.get("/notifications?filter=all").text) == [line_id]

    # Someone else cannot open (and so learn about) it.
    with web.as_user(alice.name, PASSWORD) as other:
        assert other.get(f"/notifications/{line_id}/open").status_code == 404


def test_marking_read_per_line_per_repository_and_all(server: Any, web: WebClient, factory: Any) -> None:
    owner, bob = factory.user(), factory.user()
    ref1, ref2 = factory.repo(owner), factory.repo(owner)
    _open(server, bob, ref1, "One")
    _open(server, bob, ref1, "Two")
    _open(server, bob, ref2, "Three")
    web.login(owner.name, PASSWORD)
    page = web.get("/notifications")
    ids = _line_ids(page.text)
    assert len(ids) == 3

    resp = web.submit("/notifications", f"/notifications/{ids[0]}/read", {"next": "/notifications"})
    assert resp.status_code == 303 and resp.headers["location"] == "/notifications"
    assert _count_in_top_bar(web.get("/").text) == "2"
    # And back to unread.
    web.submit("/notifications?filter=all", f"/notifications/{ids[0]}/unread", {"next": "/notifications"})
    assert _count_in_top_bar(web.get("/").text) == "3"

    web.submit("/notifications", f"/notifications/repos/{ref1.repo.id}/read", {"next": "/notifications"})
    remaining = web.get("/notifications").text
    assert "Three" in remaining and "One" not in remaining and "Two" not in remaining

    resp = web.submit("/notifications", "/notifications/read-all", {"next": "/notifications"})
    assert "All notifications are marked as read." in web.follow(resp).text
    assert _count_in_top_bar(web.get("/").text) is None

    # An off-site "next" is ignored.
    resp = web.post("/notifications/read-all", {"next": "//evil.example/"})
    assert resp.headers["location"] == "/notifications"


def test_participating_filter_and_per_repository_view(server: Any, web: WebClient, factory: Any) -> None:
    owner, cleo = factory.user(), factory.user()
    ref1, ref2 = factory.repo(owner), factory.repo(owner)
    _open(server, cleo, ref1, "Watched only")
    _open(server, cleo, ref2, f"Hey @{owner.name}", body=f"@{owner.name} please look")
    web.login(owner.name, PASSWORD)
    part = web.get("/notifications?filter=participating").text
    assert "Hey @" in part and "Watched only" not in part
    only = web.get(f"/notifications?repo={ref1.repo.id}").text
    assert "Watched only" in only and "Hey @" not in only


def test_unsubscribing_from_a_thread(server: Any, web: WebClient, factory: Any) -> None:
    owner, dora = factory.user(), factory.user()
    ref = factory.repo(owner)
    issue = _open(server, dora, ref, "Dora's issue")
    with session_scope(server.engine) as s:
        me = s.get(Account, owner.id)
        row = s.get(Issue, issue.id)
        found = repos.get_repo_by_id(s, ref.repo.id or 0)
        assert me is not None and row is not None and found is not None
        comments.add_comment(s, me, found, row, "Looking")
    fanout.process_pending(server.engine, server.settings)
    web.login(dora.name, PASSWORD)
    assert "Dora&#39;s issue" in web.get("/notifications").text
    resp = web.submit("/notifications", f"/notifications/threads/{issue.id}/unsubscribe", {"next": "/notifications"})
    assert "You are unsubscribed from this thread." in web.follow(resp).text
    assert _count_in_top_bar(web.get("/").text) is None
    # Another reply does not reach her.
    with session_scope(server.engine) as s:
        me = s.get(Account, owner.id)
        row = s.get(Issue, issue.id)
        found = repos.get_repo_by_id(s, ref.repo.id or 0)
        assert me is not None and row is not None and found is not None
        comments.add_comment(s, me, found, row, "Still looking")
    fanout.process_pending(server.engine, server.settings)
    assert _count_in_top_bar(web.get("/").text) is None
    # Unsubscribing from a thread also silences it for someone who watches the whole repository.
    web.login(owner.name, PASSWORD)
    web.submit("/notifications", "/notifications/read-all", {})
    web.submit("/notifications?filter=all", f"/notifications/threads/{issue.id}/unsubscribe", {})
    with session_scope(server.engine) as s:
        her = s.get(Account, dora.id)
        row = s.get(Issue, issue.id)
        found = repos.get_repo_by_id(s, ref.repo.id or 0)
        assert her is not None and row is not None and found is not None
        comments.add_comment(s, her, found, row, "Anyone?")
    fanout.process_pending(server.engine, server.settings)
    assert _count_in_top_bar(web.get("/").text) is None
    _open(server, dora, ref, "A new thread still reaches the watcher")
    assert _count_in_top_bar(web.get("/").text) == "1"
    # A thread she cannot see is not found.
    private = factory.repo(owner, private=True)
    hidden = _open(server, owner, private, "Secret")
    with web.as_user(dora.name, PASSWORD) as dora_web:
        assert dora_web.post(f"/notifications/threads/{hidden.id}/unsubscribe", {}).status_code == 404


def test_watching_a_repository_from_its_header(server: Any, web: WebClient, factory: Any) -> None:
    owner, eve = factory.user(), factory.user()
    ref = factory.repo(owner)
    repo_url = f"/{ref.full_name}"
    web.login(eve.name, PASSWORD)
    page = web.get(repo_url).text
    assert f'action="{repo_url}/watch"' in page and ">Watch</button>" in page
    # The owner counts as a watcher.
    assert re.search(r'class="watch-count badge"[^>]*>1<', page)

    resp = web.submit(repo_url, f"{repo_url}/watch", {"level": "all", "next": repo_url})
    assert resp.status_code == 303 and resp.headers["location"] == repo_url
    page = web.follow(resp).text
    assert "You are watching this repository." in page and ">Unwatch</button>" in page
    assert re.search(r'class="watch-count badge"[^>]*>2<', page)
    assert re.search(r'<option value="all" selected>', page)

    issue = _open(server, owner, ref, "News for watchers")
    assert _count_in_top_bar(web.get("/").text) == "1"

    web.submit(repo_url, f"{repo_url}/watch", {"level": "ignore", "next": repo_url})
    assert re.search(r'<option value="ignore" selected>', web.get(repo_url).text)
    _open(server, owner, ref, f"@{eve.name} ignored", body=f"@{eve.name}")
    web.submit("/notifications", "/notifications/read-all", {})
    _open(server, owner, ref, f"@{eve.name} ignored again", body=f"@{eve.name}")
    assert _count_in_top_bar(web.get("/").text) is None
    assert issue.id is not None

    assert web.post(f"{repo_url}/watch", {"level": "sometimes"}).status_code == 422
    # Visitors see no watch control; a private repository stays hidden.
    anon = WebClient(server.url)
    try:
        assert f'action="{repo_url}/watch"' not in anon.get(repo_url).text
    finally:
        anon.close()
    private = factory.repo(owner, private=True)
    assert web.post(f"/{private.full_name}/watch", {"level": "all"}).status_code == 404


def test_the_preferences_page(server: Any, web: WebClient, factory: Any) -> None:
    user = factory.user()
    web.login(user.name, PASSWORD)
    assert 'href="/settings/notifications"' in web.get("/settings/profile").text
    page = web.get("/settings/notifications")
    assert page.status_code == 200
    assert f"{user.name}@example.com" in page.text
    assert 'value="participating" checked' in page.text
    assert "This site does not send email" in page.text  # the test server has no SMTP host

    resp = web.submit("/settings/notifications", "/settings/notifications",
                      {"email": "all", "own_activity": "on"})
    assert resp.status_code == 303
    page = web.follow(resp).text
    assert "Your notification settings have been saved." in page
    assert 'value="all" checked' in page
    assert re.search(r'name="own_activity" checked', page)
    assert not re.search(r'name="auto_watch_own_repos" checked', page)

    # Repositories one chose a level for are listed.
    assert "You have not chosen a level for any repository." in page
    ref = factory.repo(factory.user())
    web.submit(f"/{ref.full_name}", f"/{ref.full_name}/watch", {"level": "ignore"})
    page = web.get("/settings/notifications").text
    assert re.search(rf'<a href="/{ref.full_name}">{ref.full_name}</a></td><td>Ignore</td>', page)

    bad = web.post("/settings/notifications", {"email": "hourly"})
    assert bad.status_code == 422 and "Choose when to receive email" in bad.text


def test_signed_out_visitors_are_sent_to_sign_in(web: WebClient) -> None:
    resp = web.get("/notifications")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/user/login")
    assert web.get("/settings/notifications").status_code == 303


def test_a_mention_in_a_browser_comment_reaches_the_mail_server(server: Any, web: WebClient, factory: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sink = SmtpSink().start()
    try:
        # The live server itself fans out and delivers, as configured for mail.
        monkeypatch.setattr(server.settings, "smtp_host", "127.0.0.1")
        monkeypatch.setattr(server.settings, "smtp_port", sink.port)
        monkeypatch.setattr(server.settings, "smtp_security", "none")
        owner, fay = factory.user(), factory.user()
        ref = factory.repo(owner)
        issue = _open(server, owner, ref, "Mail me")
        web.login(owner.name, PASSWORD)
        issue_url = f"/{ref.full_name}/issues/{issue.number}"
        resp = web.submit(issue_url, f"{issue_url}/comments", {"body": f"@{fay.name} what do you think?"})
        assert resp.status_code == 303

        address = f"{fay.name}@example.com"
        deadline = time.monotonic() + 30
        while not sink.to(address):
            assert time.monotonic() < deadline, "no mail arrived"
            # The server's own sweeps do this every few seconds; doing it here only saves time.
            fanout.process_pending(server.engine, server.settings)
            outbox.deliver_due(server.engine, server.settings)
            time.sleep(0.1)
        [mail] = sink.to(address)
        assert mail.message["Subject"] == f"Re: [{ref.full_name}] Mail me (#{issue.number})"
        assert "what do you think?" in mail.text and f"{server.url}{issue_url}#comment-" in mail.text

        with web.as_user(fay.name, PASSWORD) as fay_web:
            page = fay_web.get("/notifications").text
            assert "Mail me" in page and "mentioned" in page
    finally:
        sink.stop()
