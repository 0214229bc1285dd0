"""CI pages over the live server: pipelines made by real pushes, looked at and acted on the way a person does
(the commit status API's tests are in tests/api/test_statuses.py)."""

from __future__ import annotations

import re

from ci import pipelines
from forge.db.engine import session_scope
from forge.repos import services as repos
from tests.ci.pipeline_helpers import finish_job, jobs_by_name, only_pipeline, push_files, repo_pipelines, wait_seen
from tests.factories import PASSWORD

CONFIG = """\
stages: [build, test]
compile:
  stage: build
  script: [make]
unit:
  stage: test
  needs: [compile]
  script: [test]
docs:
  stage: test
  script: [docs]
manual-deploy:
  stage: test
  when: manual
  script: [deploy]
"""


def _setup(server, factory, git, config=CONFIG, private=False):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    pushed = push_files(git, ref, {".forge-ci.yml": config, "README.md": "hi\n"}, name=f"work-{ref.repo.name}")
    wait_seen(server.engine, ref.repo.id)
    pipeline = only_pipeline(server.engine, ref.repo.id)
    return owner, ref, pushed, pipeline


def _icon_state(html: str, url: str) -> str | None:
    m = re.search(r'class="ci-icon ci-(\w+)" href="' + re.escape(url) + '"', html)
    return m.group(1) if m else None


def test_pipeline_list_pipeline_page_and_job_page(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pipeline = _setup(server, factory, git)
    base = f"/{ref.full_name}"
    listing = web.get(f"{base}/-/pipelines")
    assert listing.status_code == 200, listing.text[:500]
    assert f'href="{base}/-/pipelines/{pipeline.id}"' in listing.text
    assert "ci-badge ci-running" in listing.text and pushed.sha[:8] in listing.text and ">main</a>" in listing.text
    assert "add pipeline" in listing.text and owner.name in listing.text
    assert 'class="active">CI</a>' in listing.text

    page = web.get(f"{base}/-/pipelines/{pipeline.id}")
    assert page.status_code == 200, page.text[:500]
    stages = re.findall(r'<section class="ci-stage" role="listitem">\s*<h3>([^<]+)</h3>', page.text)
    assert stages == ["build", "test"]
    assert "needs: compile" in page.text
    # The dependency graph: unit's needs edge from compile, and stage-order edges to the jobs without needs.
    edges = set(re.findall(r'class="(needs|implicit)" data-from="([^"]+)" data-to="([^"]+)"', page.text))
    assert edges == {("needs", "compile", "unit"), ("implicit", "compile", "docs"),
                     ("implicit", "compile", "manual-deploy")}
    jobs = jobs_by_name(server.engine, pipeline.id)
    assert f'href="{base}/-/jobs/{jobs["unit"].id}"' in page.text
    # Readers get no buttons.
    assert "/cancel" not in page.text and "/play" not in page.text

    job_page = web.get(f"{base}/-/jobs/{jobs['compile'].id}")
    assert job_page.status_code == 200, job_page.text[:500]
    assert "compile" in job_page.text and "ci-badge ci-pending" in job_page.text
    assert f'href="{base}/-/pipelines/{pipeline.id}"' in job_page.text

    web.login(owner.name, PASSWORD)
    page = web.get(f"{base}/-/pipelines/{pipeline.id}")
    assert f'action="{base}/-/pipelines/{pipeline.id}/cancel"' in page.text
    assert f'action="{base}/-/jobs/{jobs["manual-deploy"].id}/play"' not in page.text  # not its turn yet

    finish_job(server.engine, pipeline.id, "compile", "failed")
    page = web.get(f"{base}/-/pipelines/{pipeline.id}")
    assert f'action="{base}/-/pipelines/{pipeline.id}/retry"' in page.text
    resp = web.submit(f"{base}/-/jobs/{jobs['compile'].id}", f"{base}/-/jobs/{jobs['compile'].id}/retry", {})
    assert resp.status_code == 303
    new_id = jobs_by_name(server.engine, pipeline.id)["compile"].id
    assert new_id != jobs["compile"].id and resp.headers["location"] == f"{base}/-/jobs/{new_id}"
    retried = web.follow(resp)
    assert "The job will run again." in retried.text and "Attempts:" in retried.text
    # The old attempt can no longer be retried; its page says so instead of failing.
    again = web.post(f"{base}/-/jobs/{jobs['compile'].id}/retry")
    assert again.status_code == 303 and "retry its latest attempt" in web.follow(again).text

    resp = web.submit(f"{base}/-/pipelines/{pipeline.id}", f"{base}/-/pipelines/{pipeline.id}/cancel", {})
    assert resp.status_code == 303
    assert "The pipeline was canceled." in web.follow(resp).text
    assert repo_pipelines(server.engine, ref.repo.id)[0].status == "canceled"


def test_pipeline_list_is_paginated_and_filtered(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, pushed, first = _setup(server, factory, git, "job:\n  script: [x]\n")
    pushed.work.git("branch", "other")
    git.push_to(pushed.work.path, ref, "other")
    wait_seen(server.engine, ref.repo.id, 2)
    with session_scope(server.engine) as s:
        for _ in range(30):
            pipelines.run_pipeline(s, server.settings, ref, owner, "main", {})
    base = f"/{ref.full_name}/-/pipelines"
    page1 = web.get(base)
    ids = [int(i) for i in re.findall(r'<a href="/[^"]+/-/pipelines/(\d+)">#', page1.text)]
    assert len(ids) == 30 and ids == sorted(ids, reverse=True)
    assert 'href="?page=2"' in page1.text
    page2 = web.get(base + "?page=2")
    ids2 = [int(i) for i in re.findall(r'<a href="/[^"]+/-/pipelines/(\d+)">#', page2.text)]
    assert ids2 == [first.id + 1, first.id] and "?page=3" not in page2.text  # the "other" push, then the first
    other = web.get(base + "?ref=other")
    assert len(re.findall(r'<a href="/[^"]+/-/pipelines/(\d+)">#', other.text)) == 1
    assert "run by hand" in page1.text


def test_run_pipeline_form(server, factory, git, web):  # type: ignore[no-untyped-def]
    config = "job:\n  script: [x]\ngated:\n  rules:\n    - if: $GO == \"1\"\n  script: [y]\n"
    owner, ref, _, _ = _setup(server, factory, git, config)
    base = f"/{ref.full_name}"
    assert web.get(f"{base}/-/pipelines/new").status_code == 303  # anonymous: sign in first
    web.login(owner.name, PASSWORD)
    form = web.get(f"{base}/-/pipelines/new")
    assert form.status_code == 200 and 'value="main"' in form.text
    resp = web.submit(f"{base}/-/pipelines/new", f"{base}/-/pipelines",
                      {"ref": "main", "key": ["GO", ""], "value": ["1", ""]})
    assert resp.status_code == 303, resp.text[:500]
    run = repo_pipelines(server.engine, ref.repo.id)[-1]
    assert resp.headers["location"] == f"{base}/-/pipelines/{run.id}"
    page = web.follow(resp)
    assert f"Pipeline #{run.id} was created." in page.text and "gated" in page.text and "GO" in page.text
    assert run.source == "web" and run.variables == {"GO": "1"}

    bad_ref = web.post(f"{base}/-/pipelines", {"ref": "nope", "key": "", "value": ""})
    assert bad_ref.status_code == 422 and "“nope” is not a branch or tag" in bad_ref.text
    bad_var = web.post(f"{base}/-/pipelines", {"ref": "main", "key": "9X", "value": "1"})
    assert bad_var.status_code == 422 and "“9X” is not a valid variable name" in bad_var.text
    assert 'value="9X"' in bad_var.text  # what was typed is kept

    reader = factory.user()
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, ref, reader, "read")
    with web.as_user(reader.name, PASSWORD) as other:
        assert other.get(f"{base}/-/pipelines/new").status_code == 403
        assert other.post(f"{base}/-/pipelines", {"ref": "main"}).status_code == 403
        assert "Run pipeline" not in other.get(f"{base}/-/pipelines").text


def test_config_error_is_shown_on_the_commit_and_pipeline(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pipeline = _setup(server, factory, git, "build:\n  script: [make]\n  scritp: [x]\n")
    base = f"/{ref.full_name}"
    commit = web.get(f"{base}/commit/{pushed.sha}")
    assert commit.status_code == 200
    assert "has errors" in commit.text and f'href="{base}/blob/{pushed.sha}/.forge-ci.yml#L3"' in commit.text
    assert "scritp" in commit.text
    assert _icon_state(commit.text, f"{base}/-/pipelines/{pipeline.id}") == "failed"
    page = web.get(f"{base}/-/pipelines/{pipeline.id}")
    assert "ci-badge ci-config_error" in page.text and "scritp" in page.text and "line 3" in page.text


def test_status_icons_on_commits_branches_home_and_commit(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pipeline = _setup(server, factory, git, "job:\n  script: [x]\n")
    base = f"/{ref.full_name}"
    url = f"{base}/-/pipelines/{pipeline.id}"
    # A second commit with no CI file has no status.
    bare = pushed.work.commit({".forge-ci.yml": None}, "drop ci")
    git.push_to(pushed.work.path, ref)
    wait_seen(server.engine, ref.repo.id, 2)
    commits = web.get(f"{base}/commits/main")
    assert _icon_state(commits.text, url) == "running"
    assert commits.text.count('class="ci-icon') == 1
    finish_job(server.engine, pipeline.id, "job", "success")
    pushed.work.git("branch", "-f", "green", pushed.sha)
    git.push_to(pushed.work.path, ref, "green")
    wait_seen(server.engine, ref.repo.id, 3)  # same commit as the first pipeline: a second pipeline for it
    green = repo_pipelines(server.engine, ref.repo.id)[-1]
    green_url = f"{base}/-/pipelines/{green.id}"
    finish_job(server.engine, green.id, "job", "success")
    assert _icon_state(web.get(f"{base}/commits/main").text, green_url) == "success"
    branches = web.get(f"{base}/branches")
    assert _icon_state(branches.text, green_url) == "success"
    assert branches.text.count('class="ci-icon') == 1  # main's tip (bare) has none
    home = web.get(base)
    assert 'class="ci-icon' not in home.text  # the default branch's tip is the commit without CI
    commit = web.get(f"{base}/commit/{pushed.sha}")
    assert _icon_state(commit.text, green_url) == "success" and "ci/forge" in commit.text
    assert bare


def test_home_shows_the_latest_commit_status(server, factory, git, web):  # type: ignore[no-untyped-def]
    _, ref, _, pipeline = _setup(server, factory, git, "job:\n  script: [x]\n")
    finish_job(server.engine, pipeline.id, "job", "failed")
    base = f"/{ref.full_name}"
    assert _icon_state(web.get(base).text, f"{base}/-/pipelines/{pipeline.id}") == "failed"


def test_lint_page(server, factory, git, web):  # type: ignore[no-untyped-def]
    _, ref, _, _ = _setup(server, factory, git, "job:\n  script: [x]\n")
    base = f"/{ref.full_name}"
    page = web.get(f"{base}/-/ci/lint")
    assert page.status_code == 200 and "job:" in page.text  # the current file, ready to edit
    bad = web.submit(f"{base}/-/ci/lint", f"{base}/-/ci/lint", {"content": "a:\n  script: [x]\n  scritp: [y]\n"})
    assert bad.status_code == 200 and "ci-lint-errors" in bad.text and "scritp" in bad.text
    assert 'href="#lint-line-3"' in bad.text
    good = web.submit(f"{base}/-/ci/lint", f"{base}/-/ci/lint", {
        "content": "stages: [b, t]\nx:\n  stage: b\n  script: [x]\ny:\n  stage: t\n  needs: [x]\n  script: [y]\n"
                   "z:\n  stage: t\n  rules:\n    - if: $CI_COMMIT_TAG\n  script: [z]\n"})
    assert "The file is valid." in good.text and "2 jobs would run." in good.text
    rows = re.findall(r"<tr><td>(\w+)</td><td><strong>(\w+)</strong>", good.text)
    assert rows == [("b", "x"), ("t", "y")]


def test_private_repository_ci_pages_are_hidden(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, pushed, pipeline = _setup(server, factory, git, "job:\n  script: [x]\n", private=True)
    job_id = jobs_by_name(server.engine, pipeline.id)["job"].id
    base = f"/{ref.full_name}"
    pages = [f"{base}/-/pipelines", f"{base}/-/pipelines/{pipeline.id}", f"{base}/-/jobs/{job_id}",
             f"{base}/-/ci/lint", f"{base}/-/pipelines/new"]
    outsider = factory.user()
    for path in pages:
        assert web.get(path).status_code == 404, path
    with web.as_user(outsider.name, PASSWORD) as other:
        for path in pages:
            assert other.get(path).status_code == 404, path
        for action in (f"{base}/-/pipelines/{pipeline.id}/cancel", f"{base}/-/jobs/{job_id}/retry",
                       f"{base}/-/pipelines", f"{base}/-/ci/lint"):
            assert other.post(action, {"ref": "main", "content": "x"}).status_code == 404, action
    web.login(owner.name, PASSWORD)
    for path in pages:
        assert web.get(path).status_code == 200, path


def test_missing_pipeline_and_job_are_404(server, factory, git, web):  # type: ignore[no-untyped-def]
    _, ref, _, pipeline = _setup(server, factory, git, "job:\n  script: [x]\n")
    _, other_ref, _, other_pipeline = _setup(server, factory, git, "job:\n  script: [x]\n")
    base = f"/{ref.full_name}"
    missing = web.get(f"{base}/-/pipelines/999999")
    assert missing.status_code == 404 and "Pipeline #999999" in missing.text
    # Another repository's pipeline is not reachable through this one.
    assert web.get(f"{base}/-/pipelines/{other_pipeline.id}").status_code == 404
    assert web.get(f"{base}/-/jobs/999999").status_code == 404


def test_empty_repository_and_repository_without_ci(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    empty = factory.repo(owner)
    web.login(owner.name, PASSWORD)
    base = f"/{empty.full_name}"
    assert web.get(f"{base}/-/pipelines").status_code == 200
    lint = web.submit(f"{base}/-/ci/lint", f"{base}/-/ci/lint", {"content": "job:\n  script: [x]\n"})
    assert lint.status_code == 200 and "The file is valid." in lint.text
    assert web.post(f"{base}/-/pipelines", {"ref": "main"}).status_code == 422

    plain = factory.repo(owner)
    push_files(git, plain, {"README.md": "no ci\n"}, name="plain")
    wait_seen(server.engine, plain.repo.id)
    resp = web.post(f"/{plain.full_name}/-/pipelines", {"ref": "main"})
    assert resp.status_code == 422 and "There is no .forge-ci.yml or .gitlab-ci.yml at main." in resp.text
    assert "No pipelines yet." in web.get(f"/{plain.full_name}/-/pipelines").text


def test_actions_on_finished_jobs_explain_themselves(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, _, pipeline = _setup(server, factory, git, "job:\n  script: [x]\n")
    job_id = jobs_by_name(server.engine, pipeline.id)["job"].id
    finish_job(server.engine, pipeline.id, "job", "success")
    web.login(owner.name, PASSWORD)
    base = f"/{ref.full_name}/-"
    resp = web.post(f"{base}/jobs/{job_id}/cancel")
    assert resp.status_code == 303 and resp.headers["location"] == f"{base}/jobs/{job_id}"
    assert f"Job #{job_id} has already finished." in web.follow(resp).text
    resp = web.post(f"{base}/pipelines/{pipeline.id}/retry")
    assert "has no failed or canceled jobs to retry" in web.follow(resp).text
    assert web.post(f"{base}/jobs/{job_id}/play").status_code == 303
    # Without the form's CSRF token nothing happens.
    assert web.post(f"{base}/jobs/{job_id}/retry", csrf=False).status_code == 403


def test_lint_page_reads_local_includes_from_the_default_branch(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    push_files(git, ref, {".forge-ci.yml": "include: ci/jobs.yml\n",
                          "ci/jobs.yml": "from-include:\n  script: [x]\n"}, name=f"work-{ref.repo.name}")
    wait_seen(server.engine, ref.repo.id)
    base = f"/{ref.full_name}"
    result = web.submit(f"{base}/-/ci/lint", f"{base}/-/ci/lint",
                        {"content": "include:\n  - local: ci/jobs.yml\nown:\n  script: [y]\n"})
    assert "The file is valid." in result.text and "2 jobs would run." in result.text, result.text[:2000]
    assert "from-include" in result.text
    missing = web.submit(f"{base}/-/ci/lint", f"{base}/-/ci/lint", {"content": "include: ci/nope.yml\n"})
    assert "ci-lint-errors" in missing.text and "ci/nope.yml" in missing.text


def test_file_warnings_show_on_the_lint_page_and_the_pipeline_page(server, factory, git, web):  # type: ignore[no-untyped-def]
    from ci.models import Pipeline

    _, ref, _, pipeline = _setup(server, factory, git, "job:\n  script: [x]\n")
    base = f"/{ref.full_name}"
    twice = web.submit(f"{base}/-/ci/lint", f"{base}/-/ci/lint", {"content": "a:\n  script: [x]\n  script: [y]\n"})
    assert "ci-lint-warnings" in twice.text and "1 warning" in twice.text and "line 3" in twice.text, twice.text[:3000]
    assert "The file is valid." in twice.text

    page = web.get(f"{base}/-/pipelines/{pipeline.id}")
    assert "ci-config-warnings" not in page.text
    with session_scope(server.engine) as s:
        row = s.get(Pipeline, pipeline.id)
        assert row is not None
        row.config_warnings = [{"line": 2, "message": "GitLab's template “X.gitlab-ci.yml” is not available"}]
        s.add(row)
    page = web.get(f"{base}/-/pipelines/{pipeline.id}")
    assert "The pipeline file has 1 warning." in page.text and "is not available" in page.text
    assert f'{base}/blob/{pipeline.sha}/.forge-ci.yml#L2' in page.text
