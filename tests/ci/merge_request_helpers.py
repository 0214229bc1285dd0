"""Helpers for merge request pipeline tests: branches and forks pushed with real git, pull requests made the way
the core makes them (an ``issue`` row with ``is_pull``, a ``pull_request`` row, the head copied to
``refs/pull/<n>/head``, and a ``pull.opened`` activity row), CI's handling of that activity, and a runner over
HTTP."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import httpx
from sqlmodel import col, select

from ci import merge_requests
from ci.models import Job, Pipeline
from ci.models.merge_requests import MergeRequestSeen
from ci.tokens import Scope
from forge import activity
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.issues.models import CLOSED, OPEN, Issue, IssueCounter, IssueLabel, Label, Milestone
from forge.pulls.models import PullRequest
from forge.repos import services as repos
from forge.repos.models import CommitStatus
from forge.repos.services import RepoRef
from tests.ci.runner_helpers import registration_token
from tests.factories import unique
from tests.gitclient import GitClient, Work

API = "/api/v1/runners"


def start_repo(git: GitClient, ref: RepoRef, tag: str, pipeline: str) -> Work:
    """A working copy whose main branch (pushed to ``ref``) holds ``pipeline`` with ``{tag}`` filled in."""
    work = git.new_work(unique("w"))
    work.commit({".forge-ci.yml": pipeline.format(tag=tag), "README.md": "hello\n"}, "Add CI")
    git.push_to(work.path, ref)
    return work


def push_branch(git: GitClient, work: Work, ref: RepoRef, branch: str, files: dict[str, Any], message: str,
                user: Account | None = None) -> str:
    work.git("checkout", "-q", "-B", branch)
    sha = work.commit(files, message)
    git.push_to(work.path, ref, f"{branch}:{branch}", user=user)
    return sha


def copy_head(server, base: RepoRef, head: RepoRef, branch: str, number: int) -> str:  # type: ignore[no-untyped-def]
    """What the core does for a pull request: the head branch fetched into the base's refs/pull/<n>/head."""
    base_path = repos.path_of(server.settings.repos_dir, base)
    head_path = repos.path_of(server.settings.repos_dir, head)
    subprocess.run(["git", "-C", str(base_path), "fetch", "-q", str(head_path),
                    f"+refs/heads/{branch}:refs/pull/{number}/head"], check=True, capture_output=True)
    done = subprocess.run(["git", "-C", str(base_path), "rev-parse", f"refs/pull/{number}/head"], check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def open_pull(server, base: RepoRef, head: RepoRef, branch: str, author: Account, *,  # type: ignore[no-untyped-def]
              title: str = "Add a feature", body: str = "", draft: bool = False,
              labels: tuple[str, ...] = (), milestone: str = "", closed: bool = False) -> tuple[int, int, int]:
    """A pull request of ``branch`` of ``head`` into main of ``base``: (pull id, number, pull.opened activity id)."""
    with session_scope(server.engine) as s:
        assert base.repo.id is not None and head.repo.id is not None
        counter = s.get(IssueCounter, base.repo.id) or IssueCounter(repo_id=base.repo.id)
        counter.last_number += 1
        s.add(counter)
        s.flush()
        number = counter.last_number
        milestone_id = None
        if milestone:
            row = Milestone(repo_id=base.repo.id, title=milestone, lower_title=milestone.lower())
            s.add(row)
            s.flush()
            milestone_id = row.id
        issue = Issue(repo_id=base.repo.id, number=number, is_pull=True, title=title, body=body,
                      author_id=author.id, milestone_id=milestone_id, state=CLOSED if closed else OPEN)
        s.add(issue)
        s.flush()
        for name in labels:
            label = Label(repo_id=base.repo.id, scope=f"repo:{base.repo.id}", name=name, lower_name=name.lower())
            s.add(label)
            s.flush()
            assert issue.id is not None and label.id is not None
            s.add(IssueLabel(issue_id=issue.id, label_id=label.id))
        assert issue.id is not None
        pull = PullRequest(issue_id=issue.id, base_repo_id=base.repo.id, base_branch="main",
                           head_repo_id=head.repo.id, head_branch=branch, is_draft=draft,
                           head_sha=copy_head(server, base, head, branch, number))
        s.add(pull)
        s.flush()
        opened = activity.record(s, activity.PULL_OPENED, repo_id=base.repo.id, issue_id=issue.id,
                                 actor_id=author.id)
        assert pull.id is not None and opened.id is not None
        return pull.id, number, opened.id


def new_commits(server, base: RepoRef, head: RepoRef, pull_id: int, number: int,  # type: ignore[no-untyped-def]
                branch: str, actor: Account) -> int:
    """What the core does after a push to a pull request's head: the copy updated, "synchronized" recorded."""
    with session_scope(server.engine) as s:
        pull = s.get(PullRequest, pull_id)
        assert pull is not None
        before = pull.head_sha
        pull.head_sha = copy_head(server, base, head, branch, number)
        s.add(pull)
        row = activity.record(s, activity.PULL_SYNCHRONIZED, repo_id=pull.base_repo_id, issue_id=pull.issue_id,
                              actor_id=actor.id, data={"before": before, "after": pull.head_sha})
        assert row.id is not None
        return row.id


def handled(server, activity_id: int, timeout: float = 15.0) -> MergeRequestSeen:  # type: ignore[no-untyped-def]
    """Process pending activity (as the git handler does after a push) and wait for CI's claim on ``activity_id``
    (the periodic sweep may have taken it first)."""
    deadline = time.monotonic() + timeout
    while True:
        merge_requests.process_pending(server.engine, server.settings)
        with session_scope(server.engine) as s:
            seen = s.get(MergeRequestSeen, activity_id)
            if seen is not None:
                return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"CI did not handle activity {activity_id}")
        time.sleep(0.05)


def mr_pipelines(server, pull_id: int) -> list[Pipeline]:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        return list(s.exec(select(Pipeline).where(Pipeline.pull_id == pull_id).order_by(col(Pipeline.id))))


def variables_of(job: Job) -> dict[str, str]:
    return {v["key"]: v["value"] for v in job.spec["variables"]}


def runner_for(server, owner: Account, ref: RepoRef, label: str) -> str:  # type: ignore[no-untyped-def]
    secret = registration_token(server.engine, owner, Scope.repo(ref.repo))
    resp = httpx.post(server.url + API + "/register", timeout=30, json={
        "registration_token": secret, "name": unique("r"), "labels": [label], "executor": "shell", "concurrency": 8})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


def take_jobs(server, token: str, count: int) -> dict[tuple[int, str], dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Claim ``count`` jobs over HTTP as a runner; the payloads by (pipeline id, job name)."""
    taken: dict[tuple[int, str], dict[str, Any]] = {}
    with httpx.Client(base_url=server.url + API, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for _ in range(count):
            resp = c.post("/jobs/request", json={"wait": 5})
            assert resp.status_code == 200, resp.text
            taken[(resp.json()["pipeline_id"], resp.json()["name"])] = resp.json()
    return taken


def finish(server, payload: dict[str, Any], state: str = "success") -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {payload['token']}"}
    with httpx.Client(base_url=server.url + API, headers=headers, timeout=60) as c:
        assert c.post(f"/jobs/{payload['id']}/state", json={"state": "running"}).status_code == 200
        body: dict[str, Any] = {"state": state}
        if state == "failed":
            body["exit_code"] = 1
        resp = c.post(f"/jobs/{payload['id']}/state", json=body)
        assert resp.status_code == 200 and resp.json()["state"] == state, resp.text


def status_of(server, repo_id: int, sha: str, context: str) -> str | None:  # type: ignore[no-untyped-def]
    with session_scope(server.engine) as s:
        row = s.exec(select(CommitStatus).where(CommitStatus.repo_id == repo_id, CommitStatus.sha == sha,
                                                CommitStatus.context == context)).first()
        return row.state if row is not None else None
