"""Webhook events from issues, pull requests, reviews, pipelines, jobs and repositories, delivered by the live
server to a real receiver; and the fan-out's exactly-once claim with several sweeps at once."""

from __future__ import annotations

import threading

from sqlmodel import col, select

from ci import job_hooks, jobstate
from ci.models import RUNNING
from forge import activity as act
from forge.activity import Activity
from forge.db.models_base import utcnow
from forge.git.push_commits import pushed_commits
from forge.git.repository import ZERO_SHA, GitRepo
from forge.issues import comments
from forge.issues import services as issues
from forge.issues.models import Issue
from forge.pulls import merging, reviews
from forge.pulls.models import MERGE
from forge.repos import services as repos
from forge.webhooks import fanout, payloads_issues
from forge.webhooks.models import WebhookDelivery
from tests.ci.pipeline_helpers import jobs_by_name_in, only_pipeline, push_files
from tests.forge.pulls.pullsetup import diverged, load, open_pull
from tests.hookevents import add_hook, event_of, settle, wait_event
from tests.hookreceiver import HookReceiver


def _open_pull(git, factory, owner, ref):  # type: ignore[no-untyped-def]
    """main and topic pushed to ``ref``, and a pull request topic -> main opened by ``owner``; its number and the
    working repository."""
    work = diverged(git)
    git.push_to(work.path, ref, "main", "topic")
    return open_pull(factory, owner, ref, ref), work


def _issue(factory, actor, ref, title="Broken"):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        return issues.create_issue(s, s.merge(actor), fresh, title=title, body="It breaks.").number


def test_issue_opened_commented_closed(factory, server):  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(org, actor=owner)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref, events=["issues", "issue_comment"])
        number = _issue(factory, owner, ref)
        opened = wait_event(receiver, "issues", "opened")
        with factory.session() as s:
            fresh = repos.get_repo_by_id(s, ref.repo.id)
            issue = issues.get_issue(s, fresh, number)
            comments.add_comment(s, s.merge(owner), fresh, issue, "Looking into it.")
        commented = wait_event(receiver, "issue_comment", "created")
        with factory.session() as s:
            fresh = repos.get_repo_by_id(s, ref.repo.id)
            issues.close_issue(s, s.merge(owner), fresh, issues.get_issue(s, fresh, number))
        closed = wait_event(receiver, "issues", "closed")
    assert opened["issue"]["number"] == number and opened["issue"]["title"] == "Broken"
    assert opened["issue"]["state"] == "open" and opened["issue"]["pull_request"] is None
    assert opened["issue"]["html_url"] == f"{server.url}/{ref.full_name}/issues/{number}"
    assert opened["sender"]["login"] == owner.name
    assert opened["organization"]["login"] == org.name and opened["organization"]["type"] == "Organization"
    assert commented["comment"]["body"] == "Looking into it." and commented["issue"]["number"] == number
    assert commented["comment"]["user"]["login"] == owner.name
    assert closed["issue"]["state"] == "closed" and closed["issue"]["state_reason"] == "completed"


def test_pull_request_opened_reviewed_commented_merged(git, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    reviewer = factory.user()
    ref = factory.repo(owner)
    with factory.session() as s:
        repos.set_collaborator(s, s.merge(owner), repos.get_repo_by_id(s, ref.repo.id), s.merge(reviewer), "write")
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref,
                 events=["pull_request", "pull_request_review", "issue_comment", "issues"])
        number, work = _open_pull(git, factory, owner, ref)
        opened = wait_event(receiver, "pull_request", "opened")
        with factory.session() as s:
            fresh, issue, pull = load(s, ref, number)
            reviews.submit_review(s, s.merge(reviewer), fresh, pull, state="approved", body="Ship it")
            comments.add_comment(s, s.merge(reviewer), fresh, issue, "Thanks!")
        reviewed = wait_event(receiver, "pull_request_review", "submitted")
        commented = wait_event(receiver, "issue_comment", "created")
        with factory.session() as s:
            fresh, _issue, pull = load(s, ref, number)
            merging.merge_pull(s, factory.settings, s.merge(owner), fresh, pull, style=MERGE)
        merged = wait_event(receiver, "pull_request", "closed")
        settle()
        seen = [event_of(h) for h in receiver.requests]
    assert opened["number"] == number and opened["pull_request"]["state"] == "open"
    assert opened["pull_request"]["head"]["ref"] == "topic" and opened["pull_request"]["base"]["ref"] == "main"
    assert opened["pull_request"]["commits"] == 2
    assert reviewed["review"]["state"] == "approved" and reviewed["review"]["body"] == "Ship it"
    assert reviewed["review"]["user"]["login"] == reviewer.name and reviewed["review"]["commit_id"]
    assert reviewed["pull_request"]["number"] == number
    assert commented["issue"]["pull_request"] is not None and commented["comment"]["body"] == "Thanks!"
    assert merged["pull_request"]["merged"] is True and merged["pull_request"]["state"] == "closed"
    assert merged["pull_request"]["merge_commit_sha"]
    # The merge closes the issue too: no "issues" event for a pull request, and one "closed" only.
    assert seen.count(("pull_request", "closed")) == 1 and not any(e == "issues" for e, _ in seen)


def test_pull_request_closed_without_merge_and_reopened(git, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref, events=["pull_request"])
        number, work = _open_pull(git, factory, owner, ref)
        wait_event(receiver, "pull_request", "opened")
        with factory.session() as s:
            _fresh, _issue, pull = load(s, ref, number)
            before = pull.head_sha
        work.git("checkout", "-q", "topic")
        after = work.commit({"topic.txt": "t1\nt2\nt3\n"}, "topic three")
        git.push_to(work.path, ref, "topic")
        synchronized = wait_event(receiver, "pull_request", "synchronize")
        with factory.session() as s:
            fresh, issue, _pull = load(s, ref, number)
            issues.close_issue(s, s.merge(owner), fresh, issue)
        closed = wait_event(receiver, "pull_request", "closed")
        with factory.session() as s:
            fresh, issue, _pull = load(s, ref, number)
            issues.reopen_issue(s, s.merge(owner), fresh, issue)
        reopened = wait_event(receiver, "pull_request", "reopened")
    assert (synchronized["before"], synchronized["after"]) == (before, after)
    assert synchronized["pull_request"]["head"]["sha"] == after and synchronized["pull_request"]["commits"] == 3
    assert closed["pull_request"]["merged"] is False and closed["pull_request"]["state"] == "closed"
    assert reopened["pull_request"]["state"] == "open"


PIPELINE = """
build:
  script: [make]
"""


def test_pipeline_and_job_events(git, factory, server):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), repo=ref, events=["pipeline", "job"])
        push_files(git, ref, {".forge-ci.yml": PIPELINE})
        created = wait_event(receiver, "pipeline", "created")
        pipeline_id = only_pipeline(server.engine, ref.repo.id).id
        # What the dispatcher does when a runner takes the job and when it reports success.
        with factory.session() as s:
            job = jobs_by_name_in(s, pipeline_id, "build")
            job.status, job.started_at = RUNNING, utcnow()
            s.add(job)
            job_hooks.job_started(s, job)
        running = wait_event(receiver, "job", "running")
        with factory.session() as s:
            job = jobs_by_name_in(s, pipeline_id, "build")
            job.status, job.finished_at, job.exit_code = "success", utcnow(), 0
            s.add(job)
            job_hooks.job_finished(s, job)
            jobstate.on_job_finished(s, job)
        succeeded = wait_event(receiver, "job", "success")
        passed = wait_event(receiver, "pipeline", "success")
    assert created["pipeline"]["id"] == pipeline_id and created["pipeline"]["ref"] == "main"
    assert created["pipeline"]["source"] == "push"
    assert [(j["name"], j["status"]) for j in created["jobs"]] == [("build", "pending")]
    assert created["repository"]["full_name"] == ref.full_name
    assert running["job"]["name"] == "build" and running["job"]["status"] == "running"
    assert running["pipeline"]["id"] == pipeline_id
    assert succeeded["job"]["status"] == "success"
    assert passed["pipeline"]["status"] == "success" and passed["jobs"][0]["status"] == "success"


def test_organization_hook_hears_repository_life(factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    with HookReceiver() as receiver:
        add_hook(factory, owner, receiver.url(), org=org, events=["repository"])
        ref = factory.repo(org, actor=owner)
        created = wait_event(receiver, "repository", "created")
        with factory.session() as s:
            fresh = repos.get_repo_by_id(s, ref.repo.id)
            repos.update_settings(s, s.merge(owner), fresh, private=True)
        privatized = wait_event(receiver, "repository", "privatized")
        with factory.session() as s:
            fresh = repos.get_repo_by_id(s, ref.repo.id)
            repos.rename_repository(s, factory.settings.repos_dir, s.merge(owner), fresh, "renamed-" + ref.repo.name)
        renamed = wait_event(receiver, "repository", "renamed")
        with factory.session() as s:
            fresh = repos.get_repo_by_id(s, ref.repo.id)
            repos.delete_repository(s, factory.settings.repos_dir, s.merge(owner), fresh, fresh.full_name)
        deleted = wait_event(receiver, "repository", "deleted")
        mine = factory.repo(owner)
        with factory.session() as s:
            fresh = repos.get_repo_by_id(s, mine.repo.id)
            repos.transfer_repository(s, factory.settings.repos_dir, s.merge(owner), fresh, org.name)
        transferred = wait_event(receiver, "repository", "transferred")
    assert created["repository"]["full_name"] == ref.full_name and created["organization"]["login"] == org.name
    assert created["sender"]["login"] == owner.name
    assert privatized["repository"]["private"] is True
    assert renamed["changes"] == {"repository": {"name": {"from": ref.repo.name}}}
    assert renamed["repository"]["name"] == "renamed-" + ref.repo.name
    assert deleted["repository"]["id"] == ref.repo.id
    assert transferred["repository"]["full_name"] == f"{org.name}/{mine.repo.name}"
    assert transferred["changes"]["owner"]["from"]["user"]["login"] == owner.name


def test_each_activity_is_delivered_once_with_several_sweeps(factory, server):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with HookReceiver() as receiver:
        hook_id = add_hook(factory, owner, receiver.url(), repo=ref, events=["issues"])
        numbers = [_issue(factory, owner, ref, title=f"Issue {i}") for i in range(5)]
        # The server's own sweep and kick run too: three more fan-outs race for the same rows.
        threads = [threading.Thread(target=fanout.process_pending, args=(server.engine, server.settings))
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        receiver.wait_for(5)
        settle()
        delivered = sorted(h.json()["issue"]["number"] for h in receiver.requests)
    assert delivered == sorted(numbers)
    with factory.session() as s:
        rows = list(s.exec(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)))
        opened = list(s.exec(select(Activity.id).where(Activity.repo_id == ref.repo.id,
                                                       col(Activity.kind) == act.ISSUE_OPENED)))
    assert len(rows) == 5 and len(opened) == 5


def _planned(kind, *, is_pull=False, data=None, comment_id=None):  # type: ignore[no-untyped-def]
    activity = Activity(kind=kind, repo_id=1, issue_id=1, data=data or {}, comment_id=comment_id)
    return [(p.event, p.action, p.extra) for p in payloads_issues.plan(activity, Issue(is_pull=is_pull))]


def test_activity_kinds_map_to_github_events() -> None:
    assert _planned(act.ISSUE_ASSIGNED, data={"user_ids": [3, 4]}) == [
        ("issues", "assigned", {"assignee": 3}), ("issues", "assigned", {"assignee": 4})]
    assert _planned(act.ISSUE_LABELED, is_pull=True, data={"label_ids": [7]}) == [
        ("pull_request", "labeled", {"label": 7})]
    assert _planned(act.ISSUE_EDITED) == [("issues", "edited", {})]
    assert _planned(act.ISSUE_OPENED, is_pull=True) == []  # pull.opened says it
    assert _planned(act.ISSUE_CLOSED, is_pull=True, data={"reason": "merged"}) == []  # pull.merged says it
    assert _planned(act.ISSUE_CLOSED, is_pull=True, data={"reason": "completed"}) == [
        ("pull_request", "closed", {})]
    assert _planned(act.PULL_MERGED, is_pull=True) == [("pull_request", "closed", {})]
    assert _planned(act.PULL_READY, is_pull=True) == [("pull_request", "ready_for_review", {})]
    assert _planned(act.PULL_REVIEW_REQUESTED, is_pull=True, data={"user_ids": [5]}) == [
        ("pull_request", "review_requested", {"requested_reviewer": 5})]
    assert _planned(act.ISSUE_COMMENTED, is_pull=True, comment_id=9) == [
        ("issue_comment", "created", {"comment": 9})]
    assert _planned(act.ISSUE_MENTIONED, data={"user_ids": [1]}) == []


def test_pushed_commits_of_a_first_push_and_a_rename(work) -> None:  # type: ignore[no-untyped-def]
    work.commit({"a.txt": "a\n", "b.txt": "b\n"}, "root")
    work.git("mv", "a.txt", "c.txt")
    last = work.commit({"b.txt": "b2\n"}, "rename a, change b")
    git = GitRepo(work.path)
    found = pushed_commits(git, ZERO_SHA, last)
    assert found.total == 2
    assert [(c.added, c.removed, c.modified) for c in found.commits] == [
        (("a.txt", "b.txt"), (), ()), (("c.txt",), ("a.txt",), ("b.txt",))]
    assert pushed_commits(git, ZERO_SHA, last, limit=1).commits[0].info.sha == last
    assert pushed_commits(git, last, ZERO_SHA).total == 0
