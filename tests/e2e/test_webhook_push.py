"""Push, create and delete webhooks end to end: real git pushes to the live server, the fan-out turns the push
events into deliveries, the sender posts them to a real receiver on loopback."""

from __future__ import annotations

from forge.accounts.models import Account
from forge.repos.services import RepoRef
from tests.factories import Factory, unique
from tests.gitclient import GitClient, Work
from tests.hookevents import add_hook, event_of, settle, wait_event, wait_pushes_seen
from tests.hookreceiver import HookReceiver


def _pushed_main(git: GitClient, factory: Factory) -> tuple[Account, RepoRef, Work, str]:
    """A repository whose main has one commit, pushed and already seen by the webhook fan-out."""
    owner = factory.user()
    ref = factory.repo(owner)
    work = git.new_work(unique("w"))
    first = work.commit({"README.md": "hi\n"}, "first")
    git.push_to(work.path, ref)
    assert ref.repo.id is not None
    wait_pushes_seen(factory, ref.repo.id, 1)
    return owner, ref, work, first


def test_push_lists_the_commits_with_their_files(git, factory, server):  # type: ignore[no-untyped-def]
    owner, ref, work, first = _pushed_main(git, factory)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref, events=["push"])
        added = work.commit({"a.txt": "a\n"}, "add a")
        edited = work.commit({"README.md": "hello\n"}, "edit readme")
        last = work.commit({"a.txt": None}, "remove a")
        git.push_to(work.path, ref)
        payload = wait_event(receiver, "push")
        settle()
        assert [event_of(h) for h in receiver.requests] == [("push", "")]
    assert (payload["ref"], payload["before"], payload["after"]) == ("refs/heads/main", first, last)
    assert (payload["created"], payload["deleted"], payload["forced"]) == (False, False, False)
    assert [c["id"] for c in payload["commits"]] == [added, edited, last]
    assert [c["message"].strip() for c in payload["commits"]] == ["add a", "edit readme", "remove a"]
    assert [(c["added"], c["removed"], c["modified"]) for c in payload["commits"]] == [
        (["a.txt"], [], []), ([], [], ["README.md"]), ([], ["a.txt"], [])]
    commit = payload["commits"][0]
    assert commit["url"] == f"{server.url}/{ref.full_name}/commit/{added}"
    assert commit["author"] == {"name": "Test Author", "email": "author@example.com", "username": None}
    assert commit["timestamp"].startswith("2026-01-01T00:00:00")
    assert payload["head_commit"]["id"] == last and payload["total_commits"] == 3
    assert payload["compare"] == f"{server.url}/{ref.full_name}/compare/{first[:12]}...{last[:12]}"
    assert payload["pusher"] == {"name": owner.name, "email": f"{owner.name}@example.com"}
    assert payload["sender"]["login"] == owner.name
    assert payload["repository"]["full_name"] == ref.full_name
    assert payload["repository"]["default_branch"] == "main"
    assert "organization" not in payload


def test_forced_push_is_marked(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, first = _pushed_main(git, factory)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref, events=["push"])
        work.git("commit", "-q", "--amend", "-m", "first, reworded")
        git.push_to(work.path, ref, "+main")
        payload = wait_event(receiver, "push")
    assert payload["forced"] is True and payload["before"] == first
    assert [c["message"].strip() for c in payload["commits"]] == ["first, reworded"]


def test_new_branch_sends_push_and_create_and_deleting_it_push_and_delete(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, first = _pushed_main(git, factory)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref)  # every event
        work.git("checkout", "-q", "-b", "topic")
        topic = work.commit({"t.txt": "t\n"}, "topic work")
        git.push_to(work.path, ref, "topic")
        push = wait_event(receiver, "push")
        create = wait_event(receiver, "create")
        assert push["created"] is True and push["before"] == "0" * 40 and push["after"] == topic
        # Only what main does not have yet, as GitHub lists a new branch's commits.
        assert [c["id"] for c in push["commits"]] == [topic] and push["total_commits"] == 1
        assert push["compare"].endswith(f"/compare/main...{topic[:12]}")
        assert (create["ref"], create["ref_type"], create["master_branch"], create["pusher_type"]) == (
            "topic", "branch", "main", "user")
        assert create["sender"]["login"] == owner.name
        receiver.clear()
        git.push_to(work.path, ref, ":topic")
        gone = wait_event(receiver, "push")
        delete = wait_event(receiver, "delete")
    assert gone["deleted"] is True and gone["after"] == "0" * 40 and gone["commits"] == []
    assert gone["head_commit"] is None
    assert (delete["ref"], delete["ref_type"]) == ("topic", "branch")


def test_tag_sends_create_and_delete_only(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, first = _pushed_main(git, factory)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref, events=["push", "tag"])
        work.git("tag", "v1.0")
        git.push_to(work.path, ref, "v1.0")
        create = wait_event(receiver, "create")
        assert (create["ref"], create["ref_type"], create["sha"]) == ("v1.0", "tag", first)
        git.push_to(work.path, ref, ":refs/tags/v1.0")
        delete = wait_event(receiver, "delete")
        settle()
        assert [event_of(h)[0] for h in receiver.requests] == ["create", "delete"]
    assert (delete["ref"], delete["ref_type"]) == ("v1.0", "tag")


def test_branch_filter_is_respected(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, first = _pushed_main(git, factory)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref, events=["push"], branch_filter="{main,release/*}")
        work.git("checkout", "-q", "-b", "feature")
        work.commit({"f.txt": "f\n"}, "feature")
        git.push_to(work.path, ref, "feature")
        work.git("checkout", "-q", "-b", "release/1")
        git.push_to(work.path, ref, "release/1")
        wait_event(receiver, "push", ref="refs/heads/release/1")
        settle()
        assert [h.json()["ref"] for h in receiver.requests] == ["refs/heads/release/1"]


def test_no_hook_no_delivery_and_other_repositories_hooks_hear_nothing(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, first = _pushed_main(git, factory)
    other = factory.repo(owner)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=other, events=["push"])
        work.commit({"b.txt": "b\n"}, "b")
        git.push_to(work.path, ref)
        settle()
        assert receiver.requests == []
