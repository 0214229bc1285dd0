"""Merge request pipelines (ci.merge_requests): pull request activity becomes a pipeline on the pull request's head
in the base repository, with GitLab's rules and CI_MERGE_REQUEST_* variables; a runner gets the job over real HTTP
and fetches the head from ``refs/pull/<n>/head`` with the job token; a pull request from a fork gets no secrets;
the pull request's checks box and the pipeline pages say what ran for which pull request.

Branches and forks are pushed with real git to the live server. Pull requests are made the way the core makes
them (an ``issue`` row with ``is_pull``, a ``pull_request`` row, the head copied to ``refs/pull/<n>/head``, and a
``pull.opened`` activity row), so these tests only depend on the contract between the core and CI.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from sqlmodel import col, select

from ci import merge_requests, triggers
from ci.models import Job
from ci.models.merge_requests import MergeRequestSeen
from ci.project_variables import Place, VariableInput, create_variable
from forge import activity
from forge.db.engine import session_scope
from forge.issues.models import OPEN, Issue
from forge.pulls.models import PullRequest
from forge.repos import protection
from forge.repos import services as repos
from forge.repos.services import RepoRef
from runners.checkout import checkout
from runners.executors.common import JobControl
from runners.logs import BufferLog
from runners.payload import Job as RunnerJob
from tests.ci.merge_request_helpers import (
    finish,
    handled,
    mr_pipelines,
    new_commits,
    open_pull,
    push_branch,
    runner_for,
    status_of,
    take_jobs,
    variables_of,
)
from tests.ci.merge_request_helpers import start_repo as start_with
from tests.ci.pipeline_helpers import jobs_by_name, repo_pipelines, wait_seen
from tests.factories import PASSWORD, unique
from tests.gitclient import GitClient, Work
from web.pull_checks import checks_for

MR_CONTEXT = "ci/forge/merge-request"

PIPELINE = """\
build:
  tags: [{tag}]
  script: [make]
mr-test:
  tags: [{tag}]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script: ['echo "testing !$CI_MERGE_REQUEST_IID"']
legacy:
  tags: [{tag}]
  only: [merge_requests]
  script: [./legacy]
docs:
  tags: [{tag}]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      changes: [docs/**]
  script: [./docs]
not-for-drafts:
  tags: [{tag}]
  rules:
    - if: $CI_MERGE_REQUEST_DRAFT == "true"
      when: never
    - if: $CI_MERGE_REQUEST_LABELS =~ /ready/
  script: [./ready]
"""


def start_repo(git: GitClient, ref: RepoRef, tag: str, pipeline: str = PIPELINE) -> Work:
    return start_with(git, ref, tag, pipeline)


# --- tests --------------------------------------------------------------------------------------------------------


def test_a_pull_request_runs_the_jobs_that_ask_for_merge_request_pipelines(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    tag = unique("t")
    work = start_repo(git, ref, tag)
    head = push_branch(git, work, ref, "feature", {"docs/guide.md": "# Guide\n", "app.py": "print(1)\n"},
                       "Add the guide\n\nWith an app.")
    wait_seen(server.engine, ref.repo.id, 2)
    pull_id, number, opened = open_pull(server, ref, ref, "feature", owner, title="Guide and app",
                                        body="Adds **docs**.", labels=("ready", "Docs"), milestone="v1")
    seen = handled(server, opened)
    assert seen.outcome == "" and seen.pipeline_id is not None

    [pipeline] = mr_pipelines(server, pull_id)
    assert pipeline.id == seen.pipeline_id
    assert (pipeline.source, pipeline.ref, pipeline.ref_kind, pipeline.sha) == (
        "merge_request_event", "feature", "pull", head)
    assert pipeline.triggered_by_id == owner.id and pipeline.commit_title == "Add the guide"
    jobs = jobs_by_name(server.engine, pipeline.id)
    # GitLab's semantics: a job without rules (only: [branches, tags]) stays out of merge request pipelines.
    assert sorted(jobs) == ["docs", "legacy", "mr-test", "not-for-drafts"]
    values = variables_of(jobs["mr-test"])
    assert values["CI_PIPELINE_SOURCE"] == "merge_request_event"
    assert "CI_COMMIT_BRANCH" not in values and "CI_COMMIT_TAG" not in values
    assert values["CI_COMMIT_REF_NAME"] == "feature" and values["CI_COMMIT_SHA"] == head
    assert values["CI_COMMIT_BEFORE_SHA"] == "0" * 40 and values["CI_COMMIT_REF_PROTECTED"] == "false"
    base_tip = work.git("rev-parse", "main").strip()
    url = f"{server.settings.public_url()}/{ref.full_name}"
    assert {k: v for k, v in values.items() if k.startswith("CI_MERGE_REQUEST_")} == {
        "CI_MERGE_REQUEST_ID": str(pull_id),
        "CI_MERGE_REQUEST_IID": str(number),
        "CI_MERGE_REQUEST_TITLE": "Guide and app",
        "CI_MERGE_REQUEST_DESCRIPTION": "Adds **docs**.",
        "CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED": "false",
        "CI_MERGE_REQUEST_EVENT_TYPE": "detached",
        "CI_MERGE_REQUEST_REF_PATH": f"refs/pull/{number}/head",
        "CI_MERGE_REQUEST_PROJECT_ID": str(ref.repo.id),
        "CI_MERGE_REQUEST_PROJECT_PATH": ref.full_name,
        "CI_MERGE_REQUEST_PROJECT_URL": url,
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": str(ref.repo.id),
        "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH": ref.full_name,
        "CI_MERGE_REQUEST_SOURCE_PROJECT_URL": url,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": head,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_PROTECTED": "false",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": base_tip,
        "CI_MERGE_REQUEST_TARGET_BRANCH_PROTECTED": "false",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base_tip,
        "CI_MERGE_REQUEST_DRAFT": "false",
        "CI_MERGE_REQUEST_LABELS": "Docs,ready",
        "CI_MERGE_REQUEST_MILESTONE": "v1",
    }
    assert values["CI_OPEN_MERGE_REQUESTS"] == f"{ref.full_name}!{number}"
    # The pull request's commit carries its own context, next to the branch pipeline's "ci/forge".
    assert status_of(server, ref.repo.id, head, MR_CONTEXT) == "running"  # queued jobs count as running
    assert status_of(server, ref.repo.id, head, "ci/forge") == "running"

    # Handled once: the sweep and later calls find nothing more to do.
    assert merge_requests.process_pending(server.engine, server.settings) == 0
    assert len(mr_pipelines(server, pull_id)) == 1


def test_new_commits_run_a_new_pipeline_and_cancel_the_old_one(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    tag = unique("t")
    work = start_repo(git, ref, tag)
    first = push_branch(git, work, ref, "topic", {"app.py": "print(1)\n"}, "First")
    wait_seen(server.engine, ref.repo.id, 2)
    pull_id, number, opened = open_pull(server, ref, ref, "topic", owner)
    assert handled(server, opened).outcome == ""
    [old] = mr_pipelines(server, pull_id)
    # Nothing under docs/ changed: the docs job is left out; not-for-drafts has no "ready" label.
    assert sorted(jobs_by_name(server.engine, old.id)) == ["legacy", "mr-test"]

    second = work.commit({"docs/x.md": "x\n"}, "Second")
    git.push_to(work.path, ref, "topic:topic")
    seen = wait_seen(server.engine, ref.repo.id, 3)
    # The branch pipeline of the push knows the branch has an open pull request (CI_OPEN_MERGE_REQUESTS).
    branch_pipeline = next(p for p in repo_pipelines(server.engine, ref.repo.id) if p.id == seen[-1].pipeline_id)
    assert branch_pipeline.sha == second and branch_pipeline.source == "push"
    build = jobs_by_name(server.engine, branch_pipeline.id)["build"]
    assert variables_of(build)["CI_OPEN_MERGE_REQUESTS"] == f"{ref.full_name}!{number}"

    synced = new_commits(server, ref, ref, pull_id, number, "topic", owner)
    handled(server, synced)
    pipelines_now = mr_pipelines(server, pull_id)
    assert [p.sha for p in pipelines_now] == [first, second]
    newer = pipelines_now[1]
    assert sorted(jobs_by_name(server.engine, newer.id)) == ["docs", "legacy", "mr-test"]
    assert variables_of(jobs_by_name(server.engine, newer.id)["docs"])["CI_COMMIT_BEFORE_SHA"] == "0" * 40
    # The older pipeline's jobs had not started: canceled as redundant.
    assert pipelines_now[0].status == "canceled"
    assert {j.status for j in jobs_by_name(server.engine, old.id).values()} == {"canceled"}
    # A second "synchronized" for the same head (the core and a retry) makes no second pipeline.
    again = new_commits(server, ref, ref, pull_id, number, "topic", owner)
    assert handled(server, again).outcome == "duplicate"
    assert len(mr_pipelines(server, pull_id)) == 2


def test_closed_pull_requests_run_nothing_and_reopening_runs_again(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    work = start_repo(git, ref, unique("t"))
    push_branch(git, work, ref, "fix", {"app.py": "print(2)\n"}, "Fix")
    # Closed before CI got to the "opened" row.
    pull_id, _, opened = open_pull(server, ref, ref, "fix", owner, draft=True, closed=True)
    assert handled(server, opened).outcome == "closed"
    assert mr_pipelines(server, pull_id) == []
    with session_scope(server.engine) as s:
        pull = s.get(PullRequest, pull_id)
        assert pull is not None
        issue = s.get(Issue, pull.issue_id)
        assert issue is not None
        issue.state = OPEN
        s.add(issue)
        reopened = activity.record(s, activity.ISSUE_REOPENED, repo_id=ref.repo.id, issue_id=issue.id,
                                   actor_id=owner.id)
        assert reopened.id is not None
        reopened_id = reopened.id
    assert handled(server, reopened_id).outcome == ""
    [pipeline] = mr_pipelines(server, pull_id)
    jobs = jobs_by_name(server.engine, pipeline.id)
    assert "not-for-drafts" not in jobs
    assert variables_of(jobs["mr-test"])["CI_MERGE_REQUEST_DRAFT"] == "true"
    assert "CI_MERGE_REQUEST_LABELS" not in variables_of(jobs["mr-test"])


def test_reopening_an_issue_is_not_a_merge_request_event(server, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with session_scope(server.engine) as s:
        issue = Issue(repo_id=ref.repo.id, number=1, title="A bug", author_id=owner.id)
        s.add(issue)
        s.flush()
        row = activity.record(s, activity.ISSUE_REOPENED, repo_id=ref.repo.id, issue_id=issue.id)
        row_id = row.id
    merge_requests.process_pending(server.engine, server.settings)
    with session_scope(server.engine) as s:
        # Not even claimed: plain issues are none of CI's business.
        assert s.get(MergeRequestSeen, row_id) is None


def test_a_file_without_merge_request_jobs_makes_no_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    work = start_repo(git, ref, unique("t"), pipeline="build:\n  tags: [{tag}]\n  script: [make]\n")
    push_branch(git, work, ref, "plain", {"a.txt": "a\n"}, "A")
    pull_id, _, opened = open_pull(server, ref, ref, "plain", owner)
    assert handled(server, opened).outcome == "no_jobs"
    assert mr_pipelines(server, pull_id) == []


WORKFLOW = """\
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH
test:
  tags: [{tag}]
  script: [make test]
"""


def test_workflow_rules_run_either_the_branch_or_the_merge_request_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    # GitLab's documented pattern against duplicate pipelines: once a branch has an open merge request, its
    # pushes run only the merge request pipeline.
    owner = factory.user()
    ref = factory.repo(owner)
    work = start_repo(git, ref, unique("t"), pipeline=WORKFLOW)
    push_branch(git, work, ref, "wf", {"a.txt": "a\n"}, "A")
    seen = wait_seen(server.engine, ref.repo.id, 2)
    assert seen[-1].outcome == ""  # no pull request yet: the branch pipeline runs
    pull_id, number, opened = open_pull(server, ref, ref, "wf", owner)
    assert handled(server, opened).outcome == ""
    [pipeline] = mr_pipelines(server, pull_id)
    assert sorted(jobs_by_name(server.engine, pipeline.id)) == ["test"]
    work.commit({"b.txt": "b\n"}, "B")
    git.push_to(work.path, ref, "wf:wf")
    assert wait_seen(server.engine, ref.repo.id, 3)[-1].outcome == "workflow"
    synced = new_commits(server, ref, ref, pull_id, number, "wf", owner)
    # "duplicate" when the core's own handling of the push recorded "synchronized" first.
    assert handled(server, synced).outcome in ("", "duplicate")
    assert len(mr_pipelines(server, pull_id)) == 2


def test_a_runner_fetches_the_head_and_only_same_repository_pull_requests_get_secrets(  # type: ignore[no-untyped-def]
        server, factory, git, tmp_path: Path):
    owner = factory.user()
    contributor = factory.user()
    base = factory.repo(owner)
    tag = unique("t")
    work = start_repo(git, base, tag)
    with session_scope(server.engine) as s:
        create_variable(s, owner, Place.of_repo(base), VariableInput(key="DEPLOY_TOKEN", value="s3cr3t-token-value",
                                                                     masked=True))
    # One pull request from a branch of the repository, one from a contributor's fork.
    push_branch(git, work, base, "inside", {"in.txt": "in\n"}, "Inside")
    with session_scope(server.engine) as s:
        fork = repos.fork_repository(s, server.settings.repos_dir, server.settings.git_bin, contributor, base)
    fork_head = push_branch(git, work, fork, "outside", {"out.txt": "out\n"}, "Outside", user=contributor)
    inside_id, _, inside_opened = open_pull(server, base, base, "inside", owner)
    fork_id, fork_number, fork_opened = open_pull(server, base, fork, "outside", contributor)
    handled(server, inside_opened)
    handled(server, fork_opened)
    [fork_pipeline] = mr_pipelines(server, fork_id)
    assert (fork_pipeline.repo_id, fork_pipeline.ref, fork_pipeline.sha) == (base.repo.id, "outside", fork_head)
    fork_values = variables_of(jobs_by_name(server.engine, fork_pipeline.id)["mr-test"])
    assert fork_values["CI_MERGE_REQUEST_SOURCE_PROJECT_PATH"] == fork.full_name
    assert fork_values["CI_MERGE_REQUEST_PROJECT_PATH"] == base.full_name

    [inside_pipeline] = mr_pipelines(server, inside_id)
    token = runner_for(server, owner, base, tag)
    # mr-test and legacy of each pull request, and the build jobs of the pushes to main and "inside".
    taken = take_jobs(server, token, 6)
    both = (inside_pipeline.id, fork_pipeline.id)
    assert {(p, n) for p, n in taken if p in both} == {(p, n) for p in both for n in ("legacy", "mr-test")}
    inside_job = taken[(inside_pipeline.id, "mr-test")]
    fork_job = taken[(fork_pipeline.id, "mr-test")]
    inside_vars = {v["key"]: v for v in inside_job["variables"]}
    fork_vars = {v["key"]: v for v in fork_job["variables"]}
    assert inside_vars["DEPLOY_TOKEN"]["value"] == "s3cr3t-token-value" and inside_vars["DEPLOY_TOKEN"]["masked"]
    assert "DEPLOY_TOKEN" not in fork_vars
    assert fork_vars["CI_PIPELINE_SOURCE"]["value"] == "merge_request_event"
    # The runner clones the base repository and fetches the pull request's head, which only the base has as
    # refs/pull/<n>/head (the fork's branch is not in it).
    assert fork_job["git"]["url"] == f"{server.settings.public_url()}/{base.full_name}.git"
    assert fork_job["git"]["sha"] == fork_head and fork_job["git"]["ref"] == f"refs/pull/{fork_number}/head"
    job = RunnerJob.from_payload(fork_job)
    log = BufferLog()
    dest = tmp_path / "checkout" / "builds"
    outcome = checkout(job, dest, log, JobControl(), time.monotonic() + 60)
    assert outcome.exit_code == 0, log.getvalue()
    assert (dest / "out.txt").read_text() == "out\n"
    assert subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip() == fork_head


def test_the_checks_box_and_pipeline_pages_show_the_pull_request(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    tag = unique("t")
    work = start_repo(git, ref, tag, pipeline="mr-test:\n  tags: [{tag}]\n  only: [merge_requests]\n"
                                              "  script: [make]\n")
    head = push_branch(git, work, ref, "shown", {"a.txt": "a\n"}, "A")
    with session_scope(server.engine) as s:
        protection.save_rule(s, owner, ref, "main", required_contexts=[MR_CONTEXT, "lint/external"])
    pull_id, number, opened = open_pull(server, ref, ref, "shown", owner)
    handled(server, opened)
    [pipeline] = mr_pipelines(server, pull_id)
    with session_scope(server.engine) as s:
        pull = s.get(PullRequest, pull_id)
        assert pull is not None
        checks = checks_for(s, ref, pull)
    assert checks.pipeline is not None and checks.pipeline.id == pipeline.id and checks.pipeline_is_current
    assert [c.context for c in checks.statuses] == [MR_CONTEXT] and checks.missing == ["lint/external"]
    assert checks.state == "running"

    token = runner_for(server, owner, ref, tag)
    payload = take_jobs(server, token, 1)[(pipeline.id, "mr-test")]
    finish(server, payload)
    assert status_of(server, ref.repo.id, head, MR_CONTEXT) == "success"

    web.login(owner.name, PASSWORD)
    page = web.get(f"/{ref.full_name}/-/pipelines")
    assert page.status_code == 200
    assert f'href="/{ref.full_name}/pulls/{number}"' in page.text and f"Pull request #{number}" in page.text
    page = web.get(f"/{ref.full_name}/-/pipelines/{pipeline.id}")
    assert page.status_code == 200
    assert f"Pull request #{number}" in page.text and "Triggered by a pull request" in page.text
    page = web.get(f"/{ref.full_name}/-/jobs/{payload['id']}")
    assert page.status_code == 200 and f'href="/{ref.full_name}/tree/{head}">shown</a>' in page.text

    from web.templating import env

    with session_scope(server.engine) as s:
        pull = s.get(PullRequest, pull_id)
        assert pull is not None
        html = env.get_template("ci/pull_checks.html").render(checks=checks_for(s, ref, pull))
    assert MR_CONTEXT in html and f'href="/{ref.full_name}/-/pipelines/{pipeline.id}"' in html
    assert "lint/external" in html and "Waiting for status to be reported" in html


def test_auto_merge_is_offered_the_head_of_a_finished_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    tag = unique("t")
    work = start_repo(git, ref, tag, pipeline="mr-test:\n  tags: [{tag}]\n  only: [merge_requests]\n"
                                              "  script: [make]\n")
    head = push_branch(git, work, ref, "auto", {"a.txt": "a\n"}, "A")
    pull_id, _, opened = open_pull(server, ref, ref, "auto", owner)
    handled(server, opened)
    [pipeline] = mr_pipelines(server, pull_id)
    with session_scope(server.engine) as s:
        pull = s.get(PullRequest, pull_id)
        assert pull is not None
        pull.auto_merge_style = "merge"
        pull.auto_merge_by_id = owner.id
        s.add(pull)
    with session_scope(server.engine) as s:
        assert merge_requests.finished_with_auto_merge(s, 120) == []  # still running
    token = runner_for(server, owner, ref, tag)
    finish(server, take_jobs(server, token, 1)[(pipeline.id, "mr-test")])
    with session_scope(server.engine) as s:
        assert merge_requests.finished_with_auto_merge(s, 120) == [(pipeline.id, ref.repo.id, head)]


def test_pipelines_of_pushes_and_pull_requests_are_kept_apart(server, factory, git):  # type: ignore[no-untyped-def]
    # The push trigger leaves refs/pull/* alone (no pipeline for the copy itself).
    owner = factory.user()
    ref = factory.repo(owner)
    work = start_repo(git, ref, unique("t"))
    push_branch(git, work, ref, "kept", {"a.txt": "a\n"}, "A")
    wait_seen(server.engine, ref.repo.id, 2)
    pull_id, _, opened = open_pull(server, ref, ref, "kept", owner)
    handled(server, opened)
    triggers.process_pending(server.engine, server.settings)
    sources = sorted((p.source, p.ref_kind) for p in repo_pipelines(server.engine, ref.repo.id))
    assert sources == [("merge_request_event", "pull"), ("push", "branch"), ("push", "branch")]


@pytest.mark.parametrize("length", [10, 3000])
def test_long_descriptions_are_cut_as_gitlab_does(length):  # type: ignore[no-untyped-def]
    from ci.variables import MergeRequestFacts, merge_request_variables

    facts = MergeRequestFacts(id=1, number=2, title="t", description="x" * length, project_id=3,
                              project_path="o/r", source_project_id=None, source_project_path="",
                              source_branch="b", source_sha="a" * 40, source_protected=False, target_branch="main",
                              target_sha="b" * 40, target_protected=True, diff_base_sha="", draft=False)
    values = merge_request_variables(facts, "http://forge.test")
    assert len(values["CI_MERGE_REQUEST_DESCRIPTION"]) == min(length, 2700)
    assert values["CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED"] == ("true" if length > 2700 else "false")
    assert values["CI_MERGE_REQUEST_SOURCE_PROJECT_URL"] == ""  # the fork was deleted
    assert values["CI_MERGE_REQUEST_TARGET_BRANCH_PROTECTED"] == "true"


def test_auto_merge_when_the_required_merge_request_pipeline_passes(server, factory, git, web):  # type: ignore[no-untyped-def]
    # The whole way with the core's services: a protected branch requiring the merge request pipeline's context,
    # a pull request opened and set to merge automatically, the job passing on a runner -> merged.
    from forge.pulls import auto_merge
    from forge.pulls import services as pulls

    owner = factory.user()
    ref = factory.repo(owner)
    tag = unique("t")
    work = start_repo(git, ref, tag, pipeline="mr-test:\n  tags: [{tag}]\n  only: [merge_requests]\n"
                                              "  script: [make]\n")
    head = push_branch(git, work, ref, "ship", {"ship.txt": "ship\n"}, "Ship it")
    with session_scope(server.engine) as s:
        protection.save_rule(s, owner, ref, "main", required_contexts=[MR_CONTEXT])
        pull = pulls.open_pull(s, server.settings, owner, ref, base_branch="main", head=ref, head_branch="ship",
                               title="Ship it")
        pull_id = pull.id
        auto_merge.enable(s, owner, ref, pull, "merge")
    opened = None
    with session_scope(server.engine) as s:
        opened = s.exec(select(activity.Activity.id).where(activity.Activity.kind == activity.PULL_OPENED,
                                                           activity.Activity.repo_id == ref.repo.id)).one()
    handled(server, opened)
    [pipeline] = mr_pipelines(server, pull_id)
    assert pipeline.sha == head
    with session_scope(server.engine) as s:
        assert auto_merge.try_auto_merge(s, server.settings, ref.repo.id, head) == 0  # the check is running
        number = s.exec(select(Issue.number).join(PullRequest, col(PullRequest.issue_id) == Issue.id)
                        .where(PullRequest.id == pull_id)).one()
    # The pull request's page shows the running check, required by the protection rule, with its pipeline.
    page = web.get(f"/{ref.full_name}/pulls/{number}")
    assert page.status_code == 200
    box = page.text[page.text.index('id="checks"'):]
    assert MR_CONTEXT in box and f'href="/{ref.full_name}/-/pipelines/{pipeline.id}"' in box
    assert "Some checks have not completed yet" in box and "Required" in box

    token = runner_for(server, owner, ref, tag)
    finish(server, take_jobs(server, token, 1)[(pipeline.id, "mr-test")])
    deadline = time.monotonic() + 30
    while True:
        with session_scope(server.engine) as s:
            merged = s.get(PullRequest, pull_id)
            assert merged is not None
            if merged.merged_at is not None:
                break
        assert time.monotonic() < deadline, "the pull request was not merged automatically"
        time.sleep(0.1)
    assert merged.merge_style == "merge"
    page = web.get(f"/{ref.full_name}/pulls/{number}")
    assert "All checks have passed" in page.text[page.text.index('id="checks"'):]
    log = work.git("ls-remote", git.url(f"{ref.full_name}.git", owner.name, PASSWORD), "refs/heads/main")
    assert log.split()[0] == merged.merge_commit_sha


DEPLOY = """\
deploy:
  tags: [{tag}]
  only: [merge_requests]
  environment: review/$CI_COMMIT_REF_SLUG
  resource_group: production
  cache:
    key: deps
    paths: [vendor/]
  script: [./deploy]
"""


def test_fork_pipelines_cannot_deploy_hold_resource_groups_or_share_caches(server, factory, git):  # type: ignore[no-untyped-def]
    from ci import caches

    owner = factory.user()
    contributor = factory.user()
    base = factory.repo(owner)
    tag = unique("t")
    work = start_repo(git, base, tag, pipeline=DEPLOY)
    push_branch(git, work, base, "inside", {"in.txt": "in\n"}, "Inside")
    with session_scope(server.engine) as s:
        fork = repos.fork_repository(s, server.settings.repos_dir, server.settings.git_bin, contributor, base)
    push_branch(git, work, fork, "outside", {"out.txt": "out\n"}, "Outside", user=contributor)
    inside_id, _, inside_opened = open_pull(server, base, base, "inside", owner)
    fork_id, _, fork_opened = open_pull(server, base, fork, "outside", contributor)
    handled(server, inside_opened)
    handled(server, fork_opened)
    [inside] = mr_pipelines(server, inside_id)
    [outside] = mr_pipelines(server, fork_id)
    inside_job = jobs_by_name(server.engine, inside.id)["deploy"]
    outside_job = jobs_by_name(server.engine, outside.id)["deploy"]
    assert (inside_job.environment, inside_job.resource_group) == ("review/inside", "production")
    assert (outside_job.environment, outside_job.resource_group) == ("", "")
    assert outside_job.spec["environment"] is None and outside_job.spec["resource_group"] is None
    assert not inside.config_warnings
    assert outside.config_warnings and "runs code from a fork" in outside.config_warnings[-1]["message"]

    token = runner_for(server, owner, base, tag)
    taken = take_jobs(server, token, 2)
    assert set(taken) == {(inside.id, "deploy"), (outside.id, "deploy")}
    with session_scope(server.engine) as s:
        keys = {}
        for pipeline_id, _ in taken:
            job = s.get(Job, taken[(pipeline_id, "deploy")]["id"])
            assert job is not None
            keys[pipeline_id] = caches.cache_target(s, job, server.settings, "deps").key
    assert keys == {inside.id: "deps-non_protected", outside.id: f"deps-pull-{fork_id}"}
