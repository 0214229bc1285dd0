"""Notifications and watching over the API: threads appear after someone else's activity, are marked read one by
one, per repository or all at once, and only their owner sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_users_orgs import client
from tests.community.test_notifications import comment, open_issue
from tests.conftest import LiveServer

READ_WRITE = ["read:notification", "write:notification"]


def test_threads_appear_and_are_marked_read(server: LiveServer, factory: Any) -> None:
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)  # the owner watches everything in her repository by default
    issue = open_issue(server, server.settings, bob, ref, title="Flaky build")
    tok = factory.token(alice, READ_WRITE)
    with client(server, tok) as api:
        listed = api.get("/notifications")
        assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"
        [thread] = listed.json()
        assert thread["unread"] is True and thread["reason"] == "subscribed"
        assert thread["subject"] == {
            "title": "Flaky build", "type": "Issue", "number": issue.number, "state": "open",
            "url": f"{server.url}/api/v1/repos/{ref.full_name}/issues/{issue.number}",
            "html_url": f"{server.url}/{ref.full_name}/issues/{issue.number}",
        }
        assert thread["repository"]["full_name"] == ref.full_name
        assert api.get("/notifications", params={"participating": "true"}).json() == []
        one = api.get(f"/notifications/threads/{thread['id']}")
        assert one.status_code == 200 and one.json()["id"] == thread["id"]
        assert [t["id"] for t in api.get(f"/repos/{ref.full_name}/notifications").json()] == [thread["id"]]

        assert api.patch(f"/notifications/threads/{thread['id']}").status_code == 205
        assert api.get("/notifications").json() == []
        [read] = api.get("/notifications", params={"all": "true"}).json()
        assert read["unread"] is False and read["last_read_at"] is not None

    # Someone else's thread is not found, whatever their scopes.
    with client(server, factory.token(bob, READ_WRITE)) as api:
        assert api.get(f"/notifications/threads/{thread['id']}").status_code == 404
        assert api.patch(f"/notifications/threads/{thread['id']}").status_code == 404
    with client(server, factory.token(alice, ["read:notification"])) as api:
        refused = api.patch(f"/notifications/threads/{thread['id']}")
        assert refused.status_code == 403 and "write:notification" in refused.json()["message"]
    with client(server, factory.token(alice, ["read:repo"])) as api:
        assert api.get("/notifications").status_code == 403
    with client(server) as anon:
        assert anon.get("/notifications").status_code == 401


def test_a_comment_marks_the_thread_unread_and_mark_all_read_respects_last_read_at(
        server: LiveServer, factory: Any) -> None:
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    issue = open_issue(server, server.settings, alice, ref, title="Alice's own issue")
    tok = factory.token(alice, READ_WRITE)
    with client(server, tok) as api:
        assert api.get("/notifications").json() == []  # her own activity does not notify her
        comment(server, server.settings, bob, ref, issue, "I can reproduce this.")
        [thread] = api.get("/notifications").json()
        assert thread["subject"]["title"] == "Alice's own issue"
        long_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        assert api.put("/notifications", json={"last_read_at": long_ago}).status_code == 205
        assert len(api.get("/notifications").json()) == 1  # newer than last_read_at: still unread
        assert api.get("/notifications", params={"since": datetime.now(UTC).isoformat()}).json() == []
        assert api.get("/notifications", params={"before": long_ago}).json() == []
        assert api.get("/notifications", params={"since": "yesterday"}).status_code == 422
        assert api.put(f"/repos/{ref.full_name}/notifications").status_code == 205
        assert api.get("/notifications").json() == []
        comment(server, server.settings, bob, ref, issue, "Still happening.")
        assert len(api.get("/notifications").json()) == 1
        assert api.put("/notifications").status_code == 205
        assert api.get("/notifications").json() == []


def test_subscription_maps_to_watch_levels(server: LiveServer, factory: Any) -> None:
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    secret = factory.repo(alice, private=True)
    path = f"/repos/{ref.full_name}/subscription"
    with client(server, factory.token(bob, READ_WRITE)) as api:
        default = api.get(path).json()
        assert (default["subscribed"], default["ignored"], default["level"]) == (False, False, "participating")
        watched = api.put(path, json={"subscribed": True})
        assert watched.status_code == 200 and watched.json()["level"] == "all"
        assert api.get(path).json()["subscribed"] is True
        ignored = api.put(path, json={"subscribed": True, "ignored": True}).json()
        assert (ignored["subscribed"], ignored["ignored"], ignored["level"]) == (False, True, "ignore")
        assert api.delete(path).status_code == 204
        assert api.get(path).json()["level"] == "participating"
        assert api.get(f"/repos/{secret.full_name}/subscription").status_code == 404
        assert api.put(path, json={"watch": True}).status_code == 422
    # Bob watching everything hears about Alice's new issue.
    with client(server, factory.token(bob, READ_WRITE)) as api:
        api.put(path, json={"subscribed": True})
        open_issue(server, server.settings, alice, ref, title="Watched")
        assert [t["subject"]["title"] for t in api.get("/notifications").json()] == ["Watched"]
    with client(server, factory.token(alice, ["read:notification"])) as api:
        assert api.get(f"/repos/{secret.full_name}/subscription").json()["level"] == "all"
        assert api.put(path, json={"subscribed": True}).status_code == 403
