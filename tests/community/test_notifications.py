"""Notification fan-out: who is told about what, the inbox, and the mail it queues (delivered to a real SMTP
server on loopback).

Each test fans out the activity its action recorded in the same transaction (``handle_activity``), so the live
server's periodic sweep (which has no SMTP host) cannot take it first; the result is the same whoever handles it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from community.notifications import fanout, inbox, watches
from community.notifications.models import (
    WATCH_ALL,
    WATCH_IGNORE,
    WATCH_PARTICIPATING,
    Notification,
    NotificationSeen,
)
from forge import activity as act
from forge.accounts.models import Account
from forge.activity import Activity
from forge.db.engine import session_scope
from forge.issues import comments
from forge.issues import services as issues
from forge.issues.models import Issue
from forge.mail import outbox
from forge.mail.models import OutgoingMail
from forge.repos import services as repos
from forge.repos.services import RepoRef
from forge.settings import Settings
from tests.smtpsink import SmtpSink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    smtp = SmtpSink().start()
    yield smtp
    smtp.stop()


@pytest.fixture
def mail_settings(server: Any, sink: SmtpSink) -> Settings:
    values = {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_security": "none",
              "mail_from": "Forge <forge@example.test>"}
    return server.settings.model_copy(update=values)  # type: ignore[no-any-return]


def _last_activity_id(s: Session) -> int:
    return max([i for i in s.exec(select(Activity.id)) if i is not None], default=0)


def _fan_out_since(s: Session, settings: Settings, since: int) -> None:
    for row in s.exec(select(Activity).where(col(Activity.id) > since).order_by(col(Activity.id))):
        if s.get(NotificationSeen, row.id) is None:
            fanout.handle_activity(s, settings, row)


def _fresh(s: Session, account: Account) -> Account:
    got = s.get(Account, account.id)
    assert got is not None
    return got


def _ref(s: Session, ref: RepoRef) -> RepoRef:
    found = repos.get_repo_by_id(s, ref.repo.id or 0)
    assert found is not None
    return found


def open_issue(server: Any, settings: Settings, actor: Account, ref: RepoRef, title: str = "Crash on start",
               body: str = "It crashes.") -> Issue:
    with session_scope(server.engine) as s:
        since = _last_activity_id(s)
        issue = issues.create_issue(s, _fresh(s, actor), _ref(s, ref), title=title, body=body)
        _fan_out_since(s, settings, since)
        return issue


def comment(server: Any, settings: Settings, actor: Account, ref: RepoRef, issue: Issue, body: str) -> int:
    with session_scope(server.engine) as s:
        since = _last_activity_id(s)
        row = s.get(Issue, issue.id)
        assert row is not None
        made = comments.add_comment(s, _fresh(s, actor), _ref(s, ref), row, body)
        _fan_out_since(s, settings, since)
        assert made.id is not None
        return made.id


def record(server: Any, settings: Settings, kind: str, ref: RepoRef, issue: Issue, actor: Account | None,
           **kwargs: Any) -> None:
    with session_scope(server.engine) as s:
        row = act.record(s, kind, repo_id=ref.repo.id or 0, issue_id=issue.id,
                         actor_id=actor.id if actor else None, **kwargs)
        fanout.handle_activity(s, settings, row)


def line(server: Any, user: Account, issue: Issue) -> Notification | None:
    with session_scope(server.engine) as s:
        return s.exec(select(Notification).where(Notification.user_id == user.id,
                                                 Notification.issue_id == issue.id)).first()


def mails_to(server: Any, user: Account) -> list[OutgoingMail]:
    with session_scope(server.engine) as s:
        return list(s.exec(select(OutgoingMail).where(OutgoingMail.to_address == f"{user.name}@example.com")
                           .order_by(col(OutgoingMail.id))))


def set_level(server: Any, user: Account, ref: RepoRef, level: str) -> None:
    with session_scope(server.engine) as s:
        watches.set_watch(s, _fresh(s, user), _ref(s, ref), level)


def set_prefs(server: Any, user: Account, **values: Any) -> None:
    with session_scope(server.engine) as s:
        current = watches.get_preferences(s, user.id or 0)
        merged = {"email": current.email, "own_activity": current.own_activity,
                  "auto_watch_own_repos": current.auto_watch_own_repos, **values}
        watches.save_preferences(s, _fresh(s, user), **merged)


# --- mentions end to end ------------------------------------------------------------------------------------


def test_a_mention_notifies_and_mails_the_mentioned_user(server: Any, factory: Any, sink: SmtpSink,
                                                         mail_settings: Settings) -> None:
    owner, bob = factory.user(), factory.user()
    ref = factory.repo(owner)
    issue = open_issue(server, mail_settings, owner, ref, title="Build <fails>")
    comment_id = comment(server, mail_settings, owner, ref, issue,
                         f"@{bob.name} could you look? <script>alert(1)</script>")

    got = line(server, bob, issue)
    assert got is not None and got.unread and got.reason == "mention" and got.last_actor_id == owner.id
    with session_scope(server.engine) as s:
        assert inbox.unread_count(s, bob.id) == 1

    outbox.deliver_due(server.engine, mail_settings)
    received = sink.to(f"{bob.name}@example.com")
    assert len(received) == 1
    msg = received[0]
    assert msg.message["Subject"] == f"Re: [{ref.full_name}] Build <fails> (#{issue.number})"
    assert msg.message["From"] == "Forge <forge@example.test>"
    host = "127.0.0.1"
    assert msg.message["In-Reply-To"] == f"<{ref.full_name}/issues/{issue.number}@{host}>"
    url = f"{server.url}/{ref.full_name}/issues/{issue.number}#comment-{comment_id}"
    assert f"{owner.name} mentioned you in #{issue.number}." in msg.text
    assert url in msg.text and "could you look?" in msg.text
    assert f'href="{url}"' in msg.html
    # The comment's HTML is sanitised and the title escaped in the HTML part.
    assert "<script>" not in msg.html and "Build &lt;fails&gt;" in msg.html
    assert f"{server.url}/settings/notifications" in msg.text
    # The owner (who wrote it) gets nothing.
    assert line(server, owner, issue) is None
    assert mails_to(server, owner) == []


def test_one_comment_that_mentions_a_subscriber_sends_one_mail(server: Any, factory: Any,
                                                                mail_settings: Settings) -> None:
    owner, bob = factory.user(), factory.user()
    ref = factory.repo(owner)
    issue = open_issue(server, mail_settings, bob, ref)  # bob is the author: subscribed
    comment(server, mail_settings, owner, ref, issue, f"Thanks @{bob.name}!")
    assert len(mails_to(server, bob)) == 1
    got = line(server, bob, issue)
    assert got is not None and got.reason == "mention"


# --- who is told ------------------------------------------------------------------------------------------------


def test_watchers_hear_of_new_issues_and_participants_of_their_threads(server: Any, factory: Any,
                                                                        mail_settings: Settings) -> None:
    owner, alice, carol = factory.user(), factory.user(), factory.user()
    ref = factory.repo(owner)
    # The owner watches their repository without having chosen to; carol watches it by choice.
    set_level(server, carol, ref, WATCH_ALL)
    issue = open_issue(server, mail_settings, alice, ref)
    owner_line = line(server, owner, issue)
    assert owner_line is not None and owner_line.reason == "subscribed"
    carol_line = line(server, carol, issue)
    assert carol_line is not None and carol_line.reason == "subscribed"
    assert line(server, alice, issue) is None  # the author opened it herself

    # The owner replies: alice (author, subscribed) is told; carol too, as a watcher.
    comment(server, mail_settings, owner, ref, issue, "Which version?")
    alice_line = line(server, alice, issue)
    assert alice_line is not None and alice_line.reason == "author"
    # Mail: alice takes part (default "participating" mail), carol only watches (no mail by default).
    assert len(mails_to(server, alice)) == 1
    assert mails_to(server, carol) == []
    # The owner's default mail preference is "participating": watching alone sent no mail either.
    assert mails_to(server, owner) == []


def test_a_commenter_is_subscribed_and_a_bystander_is_not(server: Any, factory: Any,
                                                           mail_settings: Settings) -> None:
    owner, dave, erin = factory.user(), factory.user(), factory.user()
    ref = factory.repo(owner)
    issue = open_issue(server, mail_settings, owner, ref)
    comment(server, mail_settings, dave, ref, issue, "Same here.")
    comment(server, mail_settings, owner, ref, issue, "Fixed in main.")
    dave_line = line(server, dave, issue)
    assert dave_line is not None and dave_line.reason == "comment"
    assert line(server, erin, issue) is None  # never took part, does not watch


def test_assignees_and_requested_reviewers_are_told(server: Any, factory: Any, mail_settings: Settings) -> None:
    owner, frank, gina = factory.user(), factory.user(), factory.user()
    ref = factory.repo(owner)
    issue = open_issue(server, mail_settings, owner, ref)
    record(server, mail_settings, act.ISSUE_ASSIGNED, ref, issue, owner, data={"user_ids": [frank.id]})
    record(server, mail_settings, act.PULL_REVIEW_REQUESTED, ref, issue, owner, data={"user_ids": [gina.id]})
    frank_line, gina_line = line(server, frank, issue), line(server, gina, issue)
    assert frank_line is not None and frank_line.reason == "assign"
    assert gina_line is not None and gina_line.reason == "review_requested"
    assert "assigned" in mails_to(server, frank)[0].body_text
    assert "requested your review" in mails_to(server, gina)[0].body_text
    # Both take part now: a later comment reaches them.
    with session_scope(server.engine) as s:
        inbox.mark_all_read(s, _fresh(s, frank))
    comment(server, mail_settings, owner, ref, issue, "Update.")
    again = line(server, frank, issue)
    assert again is not None and again.unread


def test_ignore_silences_even_mentions(server: Any, factory: Any, mail_settings: Settings) -> None:
    owner, hank = factory.user(), factory.user()
    ref = factory.repo(owner)
    set_level(server, hank, ref, WATCH_IGNORE)
    issue = open_issue(server, mail_settings, owner, ref)
    comment(server, mail_settings, owner, ref, issue, f"@{hank.name} please check")
    assert line(server, hank, issue) is None
    assert mails_to(server, hank) == []
    # The owner can stop watching their own repository too.
    set_level(server, owner, ref, WATCH_IGNORE)
    issue2 = open_issue(server, mail_settings, hank, ref)
    comment(server, mail_settings, hank, ref, issue2, f"@{owner.name} ping")
    assert line(server, owner, issue2) is None


def test_participating_level_stops_an_owner_hearing_of_every_issue(server: Any, factory: Any,
                                                                   mail_settings: Settings) -> None:
    owner, ivy = factory.user(), factory.user()
    ref = factory.repo(owner)
    set_level(server, owner, ref, WATCH_PARTICIPATING)
    issue = open_issue(server, mail_settings, ivy, ref)
    assert line(server, owner, issue) is None
    # The preference instead of a choice per repository:
    other = factory.repo(owner)
    set_prefs(server, owner, auto_watch_own_repos=False)
    issue2 = open_issue(server, mail_settings, ivy, other)
    assert line(server, owner, issue2) is None


def test_a_private_repository_tells_only_those_who_can_read_it(server: Any, factory: Any,
                                                               mail_settings: Settings) -> None:
    owner, jill, outsider = factory.user(), factory.user(), factory.user()
    ref = factory.repo(owner, private=True)
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, _fresh(s, owner), _ref(s, ref), _fresh(s, jill), "read")
    issue = open_issue(server, mail_settings, owner, ref)
    comment(server, mail_settings, jill, ref, issue, "I can see this.")
    # A mention naming someone without access (or whose access went away) tells them nothing.
    record(server, mail_settings, act.ISSUE_MENTIONED, ref, issue, owner, data={"user_ids": [outsider.id]})
    assert line(server, outsider, issue) is None
    assert mails_to(server, outsider) == []

    with session_scope(server.engine) as s:
        repos.remove_collaborator(s, _fresh(s, owner), _ref(s, ref), _fresh(s, jill))
    comment(server, mail_settings, owner, ref, issue, "Private follow-up")
    jill_line = line(server, jill, issue)
    assert jill_line is None  # she only commented; the owner's reply does not reach her any more
    assert mails_to(server, jill) == []


def test_unsubscribing_stops_thread_notifications_but_not_mentions(server: Any, factory: Any,
                                                                   mail_settings: Settings) -> None:
    owner, kim = factory.user(), factory.user()
    ref = factory.repo(owner)
    issue = open_issue(server, mail_settings, kim, ref)
    with session_scope(server.engine) as s:
        inbox.set_subscribed(s, _fresh(s, kim), issue.id or 0, False)
    comment(server, mail_settings, owner, ref, issue, "A reply kim does not want")
    assert line(server, kim, issue) is None
    # Commenting again does not resubscribe her...
    comment(server, mail_settings, kim, ref, issue, "one more thing")
    comment(server, mail_settings, owner, ref, issue, "noted")
    assert line(server, kim, issue) is None
    # ...but a mention still reaches her.
    comment(server, mail_settings, owner, ref, issue, f"@{kim.name} see above")
    got = line(server, kim, issue)
    assert got is not None and got.reason == "mention"


def test_state_changes_and_merges(server: Any, factory: Any, mail_settings: Settings) -> None:
    owner, lou = factory.user(), factory.user()
    ref = factory.repo(owner)
    issue = open_issue(server, mail_settings, lou, ref)
    with session_scope(server.engine) as s:
        since = _last_activity_id(s)
        row = s.get(Issue, issue.id)
        assert row is not None
        issues.close_issue(s, _fresh(s, owner), _ref(s, ref), row, reason="not_planned")
        _fan_out_since(s, mail_settings, since)
    assert f"closed #{issue.number} as not planned" in mails_to(server, lou)[-1].body_text
    # A merged pull request: the merge notifies; the "closed (merged)" activity of the same merge does not again.
    with session_scope(server.engine) as s:
        pr = Issue(repo_id=ref.repo.id or 0, number=issue.number + 100, is_pull=True, title="Fix", author_id=lou.id)
        s.add(pr)
    record(server, mail_settings, act.PULL_OPENED, ref, pr, lou)
    before = len(mails_to(server, lou))
    record(server, mail_settings, act.PULL_MERGED, ref, pr, owner, data={"sha": "a" * 40, "style": "merge"})
    record(server, mail_settings, act.ISSUE_CLOSED, ref, pr, owner, data={"reason": "merged"})
    sent = mails_to(server, lou)[before:]
    assert len(sent) == 1 and f"merged #{pr.number}" in sent[0].body_text
    assert f"/{ref.full_name}/pulls/{pr.number}" in sent[0].body_text


# --- preferences ------------------------------------------------------------------------------------------------


def test_mail_preferences(server: Any, factory: Any, mail_settings: Settings) -> None:
    owner, mia, ned = factory.user(), factory.user(), factory.user()
    ref = factory.repo(owner)
    set_prefs(server, owner, email="all")  # mail about everything, watching included
    set_prefs(server, mia, email="none")
    set_prefs(server, ned, own_activity=True)
    issue = open_issue(server, mail_settings, mia, ref)
    assert len(mails_to(server, owner)) == 1  # a watcher with "all"
    assert mails_to(server, owner)[0].message_id == f"<{ref.full_name}/issues/{issue.number}@127.0.0.1>"
    comment(server, mail_settings, owner, ref, issue, "Reply")
    mia_line = line(server, mia, issue)
    assert mia_line is not None  # in the inbox...
    assert mails_to(server, mia) == []  # ...but no mail
    comment(server, mail_settings, ned, ref, issue, "My own comment")
    ned_mail = mails_to(server, ned)
    assert len(ned_mail) == 1 and "My own comment" in ned_mail[0].body_text
    assert line(server, ned, issue) is None  # own activity is mailed, never put in the inbox


def test_no_smtp_host_queues_no_mail(server: Any, factory: Any) -> None:
    owner, olga = factory.user(), factory.user()
    ref = factory.repo(owner)
    issue = open_issue(server, server.settings, owner, ref)
    comment(server, server.settings, owner, ref, issue, f"@{olga.name} hi")
    assert line(server, olga, issue) is not None
    assert mails_to(server, olga) == []


# --- the queue and the inbox ------------------------------------------------------------------------------------


def test_each_activity_is_handled_once(server: Any, factory: Any) -> None:
    owner, pat = factory.user(), factory.user()
    ref = factory.repo(owner)
    with session_scope(server.engine) as s:
        issue = issues.create_issue(s, _fresh(s, pat), _ref(s, ref), title="Sweep me")
    fanout.process_pending(server.engine, server.settings)
    fanout.process_pending(server.engine, server.settings)
    got = line(server, owner, issue)
    assert got is not None and got.reason == "subscribed"
    with session_scope(server.engine) as s:
        opened = s.exec(select(Activity).where(Activity.issue_id == issue.id,
                                               Activity.kind == act.ISSUE_OPENED)).one()
        assert s.get(NotificationSeen, opened.id) is not None
    with pytest.raises(IntegrityError), session_scope(server.engine) as s:
        row = s.get(Activity, opened.id)
        assert row is not None
        fanout.handle_activity(s, server.settings, row)


def test_kick_fans_out_in_the_background(server: Any, factory: Any) -> None:
    import time

    owner, quinn = factory.user(), factory.user()
    ref = factory.repo(owner)
    with session_scope(server.engine) as s:
        issue = issues.create_issue(s, _fresh(s, quinn), _ref(s, ref), title="Kick me")
    fanout.kick(server.engine, server.settings)
    deadline = time.monotonic() + 10
    while line(server, owner, issue) is None:
        assert time.monotonic() < deadline, "the kick did not fan out the new issue"
        time.sleep(0.05)


def test_inbox_marks_and_filters(server: Any, factory: Any, mail_settings: Settings) -> None:
    owner, rita = factory.user(), factory.user()
    ref1, ref2 = factory.repo(owner), factory.repo(owner)
    a = open_issue(server, mail_settings, rita, ref1, title="First")
    b = open_issue(server, mail_settings, rita, ref1, title="Second")
    c = open_issue(server, mail_settings, rita, ref2, title="Third")
    comment(server, mail_settings, rita, ref2, c, f"@{owner.name} look")
    with session_scope(server.engine) as s:
        me = _fresh(s, owner)
        assert inbox.unread_count(s, me.id or 0) == 3
        box = inbox.list_inbox(s, me)
        assert [g.ref.full_name for g in box.groups] == [ref2.full_name, ref1.full_name]
        assert [ln.issue.title for ln in box.groups[1].lines] == ["Second", "First"]
        # "participating" leaves out what only watching brought.
        part = inbox.list_inbox(s, me, filter=inbox.FILTER_PARTICIPATING)
        assert [ln.issue.title for g in part.groups for ln in g.lines] == ["Third"]
        line_a = next(ln for ln in box.groups[1].lines if ln.issue.id == a.id)
        url = inbox.open_notification(s, me, line_a.notification.id or 0)
        assert url == f"/{ref1.full_name}/issues/{a.number}"
    with session_scope(server.engine) as s:
        me = _fresh(s, owner)
        assert inbox.unread_count(s, me.id or 0) == 2
        assert [ln.issue.title for g in inbox.list_inbox(s, me).groups for ln in g.lines] == ["Third", "Second"]
        assert inbox.mark_repo_read(s, me, ref2.repo.id or 0) == 1
    with session_scope(server.engine) as s:
        me = _fresh(s, owner)
        assert inbox.unread_count(s, me.id or 0) == 1
        assert inbox.mark_all_read(s, me) == 1
    with session_scope(server.engine) as s:
        me = _fresh(s, owner)
        assert inbox.unread_count(s, me.id or 0) == 0
        assert len([ln for g in inbox.list_inbox(s, me, filter=inbox.FILTER_ALL).groups for ln in g.lines]) == 3
        # Someone else's line is not yours to read.
        other = _fresh(s, rita)
        line_b = line(server, owner, b)
        assert line_b is not None
        with pytest.raises(Exception, match="not found"):
            inbox.open_notification(s, other, line_b.id or 0)


def test_a_commit_that_records_activity_kicks_the_fan_out(server: Any, factory: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    kicks: list[tuple[Any, Any]] = []
    monkeypatch.setattr(fanout._kicker, "kick", lambda engine, settings: kicks.append((engine, settings)))
    owner = factory.user()
    ref = factory.repo(owner)
    # The application may have installed it already: put back whatever was there.
    previous = fanout._after_commit._installed.get(id(server.engine))
    fanout.install_kick_after_commit(server.engine, server.settings)
    try:
        with session_scope(server.engine) as s:
            issues.create_issue(s, _fresh(s, owner), _ref(s, ref), title="Kicked")
            assert kicks == []  # not before the commit
        assert kicks == [(server.engine, server.settings)]
        # A transaction without activity, and one rolled back, kick nothing.
        with session_scope(server.engine) as s:
            watches.set_watch(s, _fresh(s, owner), _ref(s, ref), WATCH_ALL)
        with pytest.raises(RuntimeError), session_scope(server.engine) as s:
            issues.create_issue(s, _fresh(s, owner), _ref(s, ref), title="Rolled back")
            raise RuntimeError("undo")
        assert len(kicks) == 1
        fanout.uninstall_kick_after_commit(server.engine)
        with session_scope(server.engine) as s:
            issues.create_issue(s, _fresh(s, owner), _ref(s, ref), title="Not kicked once uninstalled")
        assert len(kicks) == 1
    finally:
        fanout.uninstall_kick_after_commit(server.engine)
        if previous is not None:
            fanout._after_commit._installed[id(server.engine)] = previous
