"""Issues on the live server: open, edit, comment, close with a reason and reopen, the timeline, Markdown with
references, reactions, lock and pin, and who may do what (readers, strangers, anonymous visitors)."""

from __future__ import annotations

import re

from forge.repos.services import set_collaborator
from tests.factories import PASSWORD


def _open(web, base: str, title: str, body: str = "", **extra: object):  # type: ignore[no-untyped-def]
    resp = web.submit(f"{base}/issues/new", f"{base}/issues/new", {"title": title, "body": body, **extra})
    assert resp.status_code == 303, resp.text[:800]
    return resp.headers["location"]


def _text(html: str) -> str:
    """The page's visible text, tags removed and whitespace collapsed (for sentences that span elements)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _collaborator(factory, ref, user, permission: str) -> None:  # type: ignore[no-untyped-def]
    with factory.session() as s:
        set_collaborator(s, ref.owner, ref, user, permission)


def test_open_comment_close_and_reopen(factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)

    empty = web.get(f"{base}/issues")
    assert empty.status_code == 200 and "There are no open issues." in empty.text

    url = _open(web, base, "Crash on start", "It **crashes** when started.\n\n```\n#1 in code\n```")
    assert url == f"{base}/issues/1"
    page = web.get(url)
    assert page.status_code == 200
    assert "Crash on start" in page.text and "<strong>crashes</strong>" in page.text
    assert f"{alice.name} opened this issue" in _text(page.text)

    second = _open(web, base, "Second one", "See #1 for the crash.")
    assert second == f"{base}/issues/2"
    linked = web.get(second)
    assert f'<a class="issue-ref" href="{base}/issues/1" title="Crash on start">#1</a>' in linked.text
    # #1 was mentioned by #2: its timeline says so.
    first = web.get(url)
    assert "mentioned this in" in _text(first.text) and f'href="{base}/issues/2"' in first.text

    resp = web.submit(url, f"{base}/issues/1/comments", {"body": "Happens on **every** start"})
    assert resp.status_code == 303 and resp.headers["location"].startswith(f"{url}#comment-")
    page = web.get(url)
    assert "<strong>every</strong>" in page.text and "1 comment" in page.text

    # An empty comment is refused with a message; nothing is added.
    resp = web.submit(url, f"{base}/issues/1/comments", {"body": "   "})
    assert resp.status_code == 422 and "The comment cannot be empty." in resp.text

    resp = web.submit(url, f"{base}/issues/1/comments", {"body": "", "close": "not_planned"})
    assert resp.status_code == 303
    page = web.get(url)
    assert "Closed as not planned" in page.text
    assert f"{alice.name} closed this as not planned" in _text(page.text)
    assert "Reopen issue" in page.text

    listing = web.get(f"{base}/issues")
    assert "Second one" in listing.text and "Crash on start" not in listing.text
    assert "1 Open" in listing.text and "1 Closed" in listing.text
    closed = web.get(f"{base}/issues?state=closed")
    assert "Crash on start" in closed.text and "Second one" not in closed.text

    resp = web.submit(url, f"{base}/issues/1/comments", {"body": "Back again", "reopen": "1"})
    assert resp.status_code == 303
    page = web.get(url)
    assert f"{alice.name} reopened this" in _text(page.text) and "Back again" in page.text
    text = _text(page.text)
    # The timeline is in order: the comment, closing, then the reopening with its comment.
    assert text.index("Happens on every start") < text.index("closed this as not planned") < text.index("reopened")

    # The plain close endpoint (scripts, the pull request page) takes the reason too.
    resp = web.post(f"{base}/issues/1/close", {"reason": "completed"})
    assert resp.status_code == 303
    assert f"{alice.name} closed this as completed" in _text(web.get(url).text)


def test_edit_title_body_and_comments(factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    with web.as_user(bob.name, PASSWORD) as bob_web:
        url = _open(bob_web, base, "Typo in README", "teh readme")
        resp = bob_web.submit(f"{url}/edit", f"{url}/edit", {"title": "Typo in the README", "body": "the readme"})
        assert resp.status_code == 303
        page = bob_web.get(url)
        assert "Typo in the README" in page.text and "the readme" in page.text
        assert "changed the title" in _text(page.text) and "<del>Typo in README</del>" in page.text
        bob_web.submit(url, f"{url}/comments", {"body": "first words"})
        comment_id = re.search(r'id="comment-(\d+)"', bob_web.get(url).text).group(1)  # type: ignore[union-attr]
        edit_url = f"{url}/comments/{comment_id}/edit"
        resp = bob_web.submit(edit_url, edit_url, {"body": "better words"})
        assert resp.status_code == 303
        page = bob_web.get(url)
        assert "better words" in page.text and "first words" not in page.text and ">edited<" in page.text

    carol = factory.user()
    with web.as_user(carol.name, PASSWORD) as carol_web:
        # Someone else, with read access only, edits nothing.
        assert carol_web.get(f"{url}/edit").status_code == 403
        assert carol_web.post(f"{url}/edit", {"title": "hijacked"}).status_code == 403
        assert carol_web.post(f"{url}/comments/{comment_id}/delete").status_code == 403
        assert f'action="{url}/comments/{comment_id}/delete"' not in carol_web.get(url).text

    # The owner (write access) may delete anyone's comment.
    web.login(alice.name, PASSWORD)
    resp = web.submit(url, f"{url}/comments/{comment_id}/delete", {})
    assert resp.status_code == 303
    page = web.get(url)
    assert "better words" not in page.text and "0 comments" in page.text


def test_reader_comments_but_cannot_triage_or_close_others_issues(factory, web):  # type: ignore[no-untyped-def]
    alice, reader = factory.user(), factory.user()
    ref = factory.repo(alice, private=True)
    _collaborator(factory, ref, reader, "read")
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    url = _open(web, base, "Owner's issue")
    web.submit(f"{base}/labels", f"{base}/labels/defaults", {})
    with web.as_user(reader.name, PASSWORD) as r:
        page = r.get(url)
        assert page.status_code == 200 and 'action="' + url + '/comments"' in page.text
        assert "Edit labels" not in page.text and "Close as completed" not in page.text
        assert r.post(f"{url}/comments", {"body": "me too"}).status_code == 303
        assert r.post(f"{url}/close", {"reason": "completed"}).status_code == 403
        assert r.post(f"{url}/labels", {"label": "1"}).status_code == 403
        assert r.post(f"{url}/lock", {}).status_code == 403
        assert r.post(f"{url}/pin", {}).status_code == 403
        # Their own issue they may close and reopen; labels they choose when opening are ignored.
        label_id = re.search(r'id="label-(\d+)"', r.get(f"{base}/labels").text).group(1)  # type: ignore[union-attr]
        own = _open(r, base, "Reader's issue", label=label_id)
        assert 'class="label"' not in r.get(own).text.split('id="sidebar-labels"')[1].split("</section>")[0]
        assert r.post(f"{own}/close", {"reason": "completed"}).status_code == 303
        assert "closed this as completed" in _text(r.get(own).text)
        assert r.post(f"{own}/reopen", {}).status_code == 303


def test_stranger_and_anonymous_see_nothing_of_a_private_repository(factory, web):  # type: ignore[no-untyped-def]
    alice, stranger = factory.user(), factory.user()
    ref = factory.repo(alice, private=True)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    url = _open(web, base, "Secret issue")
    upload = web.post(f"{base}/issues/attachments", files={"file": ("a.txt", b"secret", "text/plain")})
    assert upload.status_code == 200, upload.text
    attachment = upload.json()["url"]
    assert web.get(attachment).status_code == 200
    paths = [f"{base}/issues", f"{base}/issues/new", url, f"{url}/edit", f"{base}/labels", f"{base}/milestones",
             attachment]
    with web.as_user(stranger.name, PASSWORD) as s:
        for path in paths:
            assert s.get(path).status_code == 404, path
        for path in (f"{base}/issues/new", f"{url}/comments", f"{url}/close", f"{url}/reactions",
                     f"{base}/issues/attachments", f"{base}/labels"):
            assert s.post(path, {"title": "x", "body": "x", "content": "+1"}).status_code == 404, path
    anonymous = web.__class__(str(web.client.base_url))
    try:
        for path in paths:
            assert anonymous.get(path).status_code == 404, path
    finally:
        anonymous.close()


def test_anonymous_reads_a_public_issue_and_is_asked_to_sign_in(factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    url = _open(web, base, "Public issue", "hello")
    anonymous = web.__class__(str(web.client.base_url))
    try:
        page = anonymous.get(url)
        assert page.status_code == 200 and "Public issue" in page.text and "to join this conversation" in page.text
        assert 'action="' + url + '/comments"' not in page.text
        new = anonymous.get(f"{base}/issues/new")
        assert new.status_code == 303 and new.headers["location"].startswith("/user/login")
    finally:
        anonymous.close()


def test_reactions_toggle_and_show_who_reacted(factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    url = _open(web, base, "React to me")
    resp = web.submit(url, f"{url}/reactions", {"content": "heart", "subject": "issue", "comment_id": "0"})
    assert resp.status_code == 303 and resp.headers["location"] == f"{url}#issue-body"
    with web.as_user(bob.name, PASSWORD) as b:
        b.submit(url, f"{url}/reactions", {"content": "heart", "subject": "issue", "comment_id": "0"})
        b.submit(url, f"{url}/comments", {"body": "a comment"})
        comment_id = re.search(r'id="comment-(\d+)"', b.get(url).text).group(1)  # type: ignore[union-attr]
        b.submit(url, f"{url}/reactions", {"content": "rocket", "subject": "comment", "comment_id": comment_id})
        assert b.post(f"{url}/reactions", {"content": "poop", "subject": "issue"}).status_code == 303
    page = web.get(url)
    assert f'title="{alice.name}, {bob.name} reacted with heart"' in page.text
    assert re.search(r'❤️ <span class="count">2</span>', page.text)
    assert re.search(r'🚀 <span class="count">1</span>', page.text)
    # Clicking again takes the reaction back.
    web.submit(url, f"{url}/reactions", {"content": "heart", "subject": "issue", "comment_id": "0"})
    page = web.get(url)
    assert f'title="{bob.name} reacted with heart"' in page.text


def test_lock_limits_comments_to_collaborators(factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    url = _open(web, base, "Heated topic")
    resp = web.submit(url, f"{url}/lock", {"reason": "too heated"})
    assert resp.status_code == 303
    page = web.get(url)
    assert "locked this as too heated and limited conversation to collaborators" in _text(page.text)
    with web.as_user(bob.name, PASSWORD) as b:
        page = b.get(url)
        assert "This conversation has been locked" in page.text and 'action="' + url + '/comments"' not in page.text
        assert b.post(f"{url}/comments", {"body": "but!"}).status_code == 403
        assert b.post(f"{url}/reactions", {"content": "+1", "subject": "issue"}).status_code == 403
    assert web.post(f"{url}/comments", {"body": "owner still talks"}).status_code == 303
    web.submit(url, f"{url}/unlock", {})
    assert "unlocked this conversation" in _text(web.get(url).text)
    with web.as_user(bob.name, PASSWORD) as b:
        assert b.post(f"{url}/comments", {"body": "thanks"}).status_code == 303


def test_pin_at_most_three_shown_above_the_list(factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    urls = [_open(web, base, f"Issue {n}") for n in range(1, 5)]
    for url in urls[:3]:
        assert web.submit(url, f"{url}/pin", {}).status_code == 303
    resp = web.submit(urls[3], f"{urls[3]}/pin", {})
    assert resp.status_code == 303
    assert "At most 3 issues can be pinned" in web.follow(resp).text
    listing = web.get(f"{base}/issues")
    pinned = listing.text.split('class="pinned-issues"')[1].split("</section>")[0]
    assert [int(n) for n in re.findall(r"#(\d+)</span>", pinned)] == [1, 2, 3]
    web.submit(urls[0], f"{urls[0]}/unpin", {})
    pinned = web.get(f"{base}/issues").text.split('class="pinned-issues"')[1].split("</section>")[0]
    assert "Issue 1" not in pinned and "Issue 2" in pinned
    assert "unpinned this issue" in _text(web.get(urls[0]).text)


def test_pull_request_numbers_redirect_and_actions_return_to_the_pull_page(factory, web):  # type: ignore[no-untyped-def]
    from forge.issues import services as issues

    alice = factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    with factory.session() as s:
        issues.create_issue(s, alice, ref, title="An issue")
        issues.create_issue(s, alice, ref, title="The conversation of a pull request", is_pull=True)
    resp = web.get(f"{base}/issues/2")
    assert resp.status_code == 301 and resp.headers["location"] == f"{base}/pulls/2"
    assert "The conversation of a pull request" not in web.get(f"{base}/issues?state=all").text
    web.login(alice.name, PASSWORD)
    resp = web.post(f"{base}/issues/2/comments", {"body": "LGTM"})
    assert resp.status_code == 303 and resp.headers["location"].startswith(f"{base}/pulls/2#comment-")
    resp = web.post(f"{base}/issues/2/reactions", {"content": "rocket", "subject": "issue"})
    assert resp.headers["location"] == f"{base}/pulls/2#issue-body"
    # Pull requests cannot be pinned; the number of a missing issue is a 404.
    resp = web.post(f"{base}/issues/2/pin")
    assert resp.status_code == 303 and resp.headers["location"] == f"{base}/pulls/2"
    with factory.session() as s:
        assert issues.get_issue(s, ref, 2).pin_order is None
    assert web.get(f"{base}/issues/99").status_code == 404
