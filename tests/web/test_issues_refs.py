"""References on the live server: commits pushed with real git that mention and close issues, links in Markdown
(issues, other repositories' issues, commit ids, @mentions), mention activity and cross-references, with the
visibility rules (a private repository's issues are never linked or shown to those who cannot read it)."""

from __future__ import annotations

import re
import time

from sqlmodel import col, select

from forge import activity
from forge.issues import comments
from forge.issues import services as issues
from forge.issues.models import Issue, IssueEvent
from forge.push_processing import process_pending
from forge.repos.services import set_collaborator
from tests.factories import PASSWORD


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _issue(factory, ref, actor, title: str, body: str = "") -> int:  # type: ignore[no-untyped-def]
    with factory.session() as s:
        return issues.create_issue(s, actor, ref, title=title, body=body).number


def _events(factory, ref, number: int, kind: str) -> list[IssueEvent]:  # type: ignore[no-untyped-def]
    with factory.session() as s:
        issue = issues.get_issue(s, ref, number)
        return list(s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id, IssueEvent.kind == kind)))


def _wait(predicate, seconds: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_commits_reference_issues_and_close_them_on_the_default_branch(git, factory, web, server):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    for title in ("Crash", "Slow", "Ugly"):
        _issue(factory, ref, alice, title)
    work = git.new_work("w")
    work.commit({"a.txt": "1\n"}, "initial commit")
    git.push_to(work.path, ref, "main")
    work.git("checkout", "-q", "-b", "feature")
    first = work.commit({"a.txt": "2\n"}, "Work on #1 and #2\n\nFixes #1")
    git.push_to(work.path, ref, "feature")
    _wait(lambda: len(_events(factory, ref, 1, "referenced")) == 1)
    process_pending(server.engine, server.settings)
    # On a feature branch the keyword only references: the issue stays open.
    page = web.get(f"{base}/issues/1")
    assert 'class="state state-open"' in page.text and "added a commit that referenced this issue" in _text(page.text)
    assert f'href="/{ref.full_name}/commit/{first}"' in page.text and "Work on #1 and #2" in page.text
    assert len(_events(factory, ref, 2, "referenced")) == 1

    # Merged into main (a fast-forward push): #1 closes by the commit, and no second "referenced" entry appears.
    work.git("checkout", "-q", "main")
    work.git("merge", "-q", "--ff-only", "feature")
    second = work.commit({"b.txt": "x\n"}, "resolves #3, fixes #99 and closes #2")
    git.push_to(work.path, ref, "main")
    _wait(lambda: bool(_events(factory, ref, 3, "closed")))
    process_pending(server.engine, server.settings)
    page = web.get(f"{base}/issues/1")
    assert 'class="state state-closed"' in page.text
    assert f"closed this as completed in {first[:7]}" in _text(page.text)
    assert len(_events(factory, ref, 1, "referenced")) == 1
    closed = _events(factory, ref, 2, "closed")
    assert len(closed) == 1 and closed[0].data == {"reason": "completed", "commit": second}
    with factory.session() as s:
        states = {i.number: i.state for i in s.exec(select(Issue).where(Issue.repo_id == ref.repo.id))}
        kinds = list(s.exec(select(activity.Activity.kind).where(activity.Activity.repo_id == ref.repo.id,
                                                                 activity.Activity.kind == activity.ISSUE_CLOSED)))
    assert states == {1: "closed", 2: "closed", 3: "closed"} and len(kinds) == 3


def test_closing_another_repository_needs_write_access_there(git, factory, server):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    mine = factory.repo(alice)
    theirs = factory.repo(bob)
    shared = factory.repo(bob)
    with factory.session() as s:
        set_collaborator(s, bob, shared, alice, "write")
    _issue(factory, theirs, bob, "Their bug")
    _issue(factory, shared, bob, "Shared bug")
    work = git.new_work("w")
    work.commit({"a": "1"}, f"fixes {theirs.full_name}#1 and fixes {shared.full_name}#1")
    git.push_to(work.path, mine, "main")
    _wait(lambda: bool(_events(factory, shared, 1, "closed")))
    assert _events(factory, theirs, 1, "closed") == []
    # Referencing a public repository's issue needs only reading it.
    assert len(_events(factory, theirs, 1, "referenced")) == 1


def test_markdown_links_issues_commits_and_people(git, factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    secret = factory.repo(alice, private=True)
    _issue(factory, secret, alice, "Hidden plans")
    work = git.new_work("w")
    sha = work.commit({"a": "1"}, "initial commit")
    git.push_to(work.path, ref, "main")
    _issue(factory, ref, alice, "First")
    body = (f"See #1, #77, {secret.full_name}#1, commit {sha[:10]}, deadbeefcafe and @{bob.name} "
            f"and @nobody-here.\n\n`#1 @{bob.name}`")
    number = _issue(factory, ref, alice, "Links", body)
    base = f"/{ref.full_name}"
    with web.as_user(bob.name, PASSWORD) as b:
        page = b.get(f"{base}/issues/{number}").text
        assert f'<a class="issue-ref" href="{base}/issues/1" title="First">#1</a>' in page
        assert "#77" in page and f'href="{base}/issues/77"' not in page
        # bob cannot read the private repository: its issue is not linked and its title not shown.
        assert "Hidden plans" not in page and f'href="/{secret.full_name}/issues/1"' not in page
        assert f'<a class="commit-ref" href="{base}/commit/{sha}"><code>{sha[:7]}</code></a>' in page
        assert "deadbeefcafe" in page and "commit/deadbeefcafe" not in page
        assert f'<a class="mention" href="/{bob.name}">@{bob.name}</a>' in page and "@nobody-here" in page
        assert f"<code>#1 @{bob.name}</code>" in page
    web.login(alice.name, PASSWORD)
    page = web.get(f"{base}/issues/{number}").text
    assert f'href="/{secret.full_name}/issues/1" title="Hidden plans"' in page


def test_mentions_are_recorded_once_for_people_who_can_read(factory):  # type: ignore[no-untyped-def]
    alice, bob, carol = factory.user(), factory.user(), factory.user()
    ref = factory.repo(alice, private=True)
    with factory.session() as s:
        set_collaborator(s, alice, ref, bob, "read")
    with factory.session() as s:
        issue = issues.create_issue(s, alice, ref, title="Ping", body=f"@{bob.name} @{carol.name} @{alice.name}")
        comment = comments.add_comment(s, alice, ref, issue, f"again @{bob.name}")
        issues.edit_issue(s, alice, ref, issue, body=f"@{bob.name} and now @{carol.name}, hi @{bob.name}")
        issue_id = issue.id
        rows = list(s.exec(select(activity.Activity).where(activity.Activity.issue_id == issue_id,
                                                           activity.Activity.kind == activity.ISSUE_MENTIONED)
                           .order_by(col(activity.Activity.id))))
    # carol cannot read the private repository; alice mentioned herself; the edit mentions nobody new.
    assert [(r.data["user_ids"], r.comment_id) for r in rows] == [([bob.id], None), ([bob.id], comment.id)]


def test_cross_reference_from_a_private_repository_is_hidden_from_others(factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    public = factory.repo(alice)
    secret = factory.repo(alice, private=True)
    _issue(factory, public, alice, "Public bug")
    _issue(factory, secret, alice, "Internal tracking", f"Upstream: {public.full_name}#1")
    with web.as_user(bob.name, PASSWORD) as b:
        page = b.get(f"/{public.full_name}/issues/1").text
        assert "Internal tracking" not in page and "mentioned this in" not in _text(page)
    web.login(alice.name, PASSWORD)
    page = web.get(f"/{public.full_name}/issues/1").text
    assert "mentioned this in" in _text(page) and "Internal tracking" in page
    assert f'href="/{secret.full_name}/issues/1"' in page


def test_close_from_text_of_a_merged_pull_request(factory, web):  # type: ignore[no-untyped-def]
    from forge.issues import references

    alice = factory.user()
    ref = factory.repo(alice)
    _issue(factory, ref, alice, "To fix")
    with factory.session() as s:
        pull = issues.create_issue(s, alice, ref, title="The fix", is_pull=True)
        closed = references.close_from_text(s, alice, ref, f"Fixes #1, closes #{pull.number}, fixes #1 again",
                                            pull_number=pull.number)
        assert [i.number for i in closed] == [1]
        # Already closed: nothing happens the second time.
        assert references.close_from_text(s, alice, ref, "fixes #1", pull_number=pull.number) == []
    assert [e.data for e in _events(factory, ref, 1, "closed")] == [{"reason": "completed", "pull": 2}]
    page = web.get(f"/{ref.full_name}/issues/1").text
    assert "closed this as completed in #2" in _text(page) and f'href="/{ref.full_name}/pulls/2"' in page
    with factory.session() as s:
        assert issues.get_issue(s, ref, 2).state == "open"
