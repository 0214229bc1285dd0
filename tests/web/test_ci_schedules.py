"""The schedules pages and the "Pipeline triggers" settings page over the live server, used the way a person uses
them: forms submitted with the CSRF token printed on the page, what each role sees and may do."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlmodel import select

from ci.models import Pipeline
from ci.models.schedules import PipelineSchedule
from forge.db.engine import session_scope
from forge.repos import services as repos
from tests.ci.pipeline_helpers import push_files, wait_seen
from tests.factories import PASSWORD
from tests.webclient import WebClient

CONFIG = """\
nightly:
  script: [echo nightly]
"""


def _setup(server: Any, factory: Any, git: Any) -> tuple[Any, Any, str]:
    owner = factory.user()
    ref = factory.repo(owner)
    push_files(git, ref, {".forge-ci.yml": CONFIG}, name=f"work-{ref.repo.name}")
    wait_seen(server.engine, ref.repo.id)
    return owner, ref, f"/{ref.full_name}/-/pipeline_schedules"


def _collaborator(server: Any, owner: Any, ref: Any, user: Any, permission: str) -> None:
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, repos.get_repo_by_id(s, ref.repo.id), user, permission)


def _form(**overrides: str) -> dict[str, Any]:
    data: dict[str, Any] = {"description": "Nightly build", "cron": "0 2 * * *", "timezone": "Asia/Shanghai",
                            "ref": "main", "key": ["NIGHTLY", ""], "value": ["yes", ""], "active": "on"}
    data.update(overrides)
    return data


def _row(page: str, schedule_id: int) -> str:
    match = re.search(rf'<tr id="schedule-{schedule_id}".*?</tr>', page, flags=re.S)
    assert match, f"no row for schedule {schedule_id}"
    return match.group(0)


def _only_schedule(server: Any, ref: Any) -> PipelineSchedule:
    with session_scope(server.engine) as s:
        rows = list(s.exec(select(PipelineSchedule).where(PipelineSchedule.repo_id == ref.repo.id)))
    assert len(rows) == 1
    return rows[0]


def test_create_a_schedule_and_see_its_next_run(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, base = _setup(server, factory, git)
    web.login(owner.name, PASSWORD)
    empty = web.get(base)
    assert empty.status_code == 200 and "No pipeline schedules yet." in empty.text
    assert f'href="{base}/new"' in empty.text
    # The form starts from the default branch, and from China's time zone for Chinese readers.
    assert 'name="timezone" value="UTC"' in web.get(f"{base}/new", headers={"accept-language": "en"}).text
    chinese = web.get(f"{base}/new", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    assert 'name="timezone" value="Asia/Shanghai"' in chinese and 'name="ref" value="main"' in chinese
    resp = web.submit(f"{base}/new", base, _form())
    assert resp.status_code == 303 and resp.headers["location"] == base
    schedule = _only_schedule(server, ref)
    assert schedule.owner_id == owner.id and schedule.variables == [{"key": "NIGHTLY", "value": "yes"}]
    page = web.follow(resp)
    assert "The schedule was saved." in page.text
    row = _row(page.text, schedule.id or 0)
    assert "Nightly build" in row and "0 2 * * *" in row and "Asia/Shanghai" in row and ">main</a>" in row
    assert "never" in row  # no last run yet
    assert schedule.next_run_at is not None
    assert f'datetime="{schedule.next_run_at.isoformat()}"' in row  # the next run, with its time in Shanghai:
    assert re.search(r"2:00(:00)?\s*AM \(Asia/Shanghai\)", html.unescape(row)), row
    assert f'href="/{owner.name}"' in row and "NIGHTLY" in row and "yes" not in row  # values are not listed


def test_a_bad_cron_or_zone_comes_back_with_the_reason_and_what_was_typed(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, base = _setup(server, factory, git)
    web.login(owner.name, PASSWORD)
    resp = web.submit(f"{base}/new", base, _form(cron="0 2 * *", description="Keep me"))
    assert resp.status_code == 422
    assert "A cron expression has five fields" in html.unescape(resp.text) and 'value="Keep me"' in resp.text
    resp = web.submit(f"{base}/new", base, _form(timezone="Beijing"))
    assert resp.status_code == 422 and "is not a time zone name" in html.unescape(resp.text)
    resp = web.submit(f"{base}/new", base, _form(ref="nope"))
    assert resp.status_code == 422 and "is not a branch or tag" in html.unescape(resp.text)
    with session_scope(server.engine) as s:
        assert list(s.exec(select(PipelineSchedule).where(PipelineSchedule.repo_id == ref.repo.id))) == []


def test_run_now_shows_the_last_run_with_its_status(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, base = _setup(server, factory, git)
    web.login(owner.name, PASSWORD)
    web.submit(f"{base}/new", base, _form())
    schedule = _only_schedule(server, ref)
    resp = web.submit(base, f"{base}/{schedule.id}/play", {})
    assert resp.status_code == 303
    match = re.fullmatch(rf"/{re.escape(ref.full_name)}/-/pipelines/(\d+)", resp.headers["location"])
    assert match, resp.headers["location"]
    pipeline_id = int(match.group(1))
    row = _row(web.get(base).text, schedule.id or 0)
    assert f'href="/{ref.full_name}/-/pipelines/{pipeline_id}"' in row and f"#{pipeline_id}" in row
    assert "ci-badge ci-pending" in row or "ci-badge ci-running" in row
    pipeline_page = web.get(resp.headers["location"])
    assert "Run by a schedule" in pipeline_page.text


def test_a_reader_sees_schedules_but_cannot_run_or_change_them(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, base = _setup(server, factory, git)
    reader = factory.user()
    _collaborator(server, owner, ref, reader, "read")
    web.login(owner.name, PASSWORD)
    web.submit(f"{base}/new", base, _form())
    schedule = _only_schedule(server, ref)
    with web.as_user(reader.name, PASSWORD) as other:
        page = other.get(base)
        assert page.status_code == 200 and "Nightly build" in page.text
        assert "/play" not in page.text and f'href="{base}/new"' not in page.text
        assert other.post(f"{base}/{schedule.id}/play").status_code == 403
        assert other.get(f"{base}/new").status_code == 403
        assert other.post(f"{base}/{schedule.id}/delete").status_code == 403
    assert _only_schedule(server, ref).id == schedule.id


def test_an_admin_takes_ownership_before_editing(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, base = _setup(server, factory, git)
    writer, admin = factory.user(), factory.user()
    _collaborator(server, owner, ref, writer, "write")
    _collaborator(server, owner, ref, admin, "admin")
    web.login(writer.name, PASSWORD)
    web.submit(f"{base}/new", base, _form())
    schedule = _only_schedule(server, ref)
    with web.as_user(admin.name, PASSWORD) as other:
        row = _row(other.get(base).text, schedule.id or 0)
        assert "Take ownership" in row and f"{base}/{schedule.id}/edit" not in row
        edit = other.get(f"{base}/{schedule.id}/edit")
        assert edit.status_code == 200 and "Take ownership first." in edit.text and "<fieldset disabled" in edit.text
        refused = other.post(f"{base}/{schedule.id}", _form(description="Hijacked"))
        assert refused.status_code == 403
        taken = other.submit(base, f"{base}/{schedule.id}/take_ownership", {})
        assert taken.status_code == 303
        assert "You are now the owner" in other.follow(taken).text
        saved = other.submit(f"{base}/{schedule.id}/edit", f"{base}/{schedule.id}",
                             _form(description="Weekly", cron="0 4 * * 0", timezone="UTC", active=""))
        assert saved.status_code == 303, saved.text[:500]
        row = _row(other.get(base).text, schedule.id or 0)
        assert "Weekly" in row and "inactive" in row and f'href="/{admin.name}"' in row
    changed = _only_schedule(server, ref)
    assert (changed.owner_id, changed.active, changed.next_run_at) == (admin.id, False, None)
    # The writer is no longer the owner: no edit link, no delete.
    row = _row(web.get(base).text, schedule.id or 0)
    assert "/edit" not in row and "/delete" not in row and "/play" in row


def test_an_owner_without_access_shows_why_the_schedule_does_not_run(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, base = _setup(server, factory, git)
    writer = factory.user()
    _collaborator(server, owner, ref, writer, "write")
    web.login(writer.name, PASSWORD)
    web.submit(f"{base}/new", base, _form())
    schedule = _only_schedule(server, ref)
    _collaborator(server, owner, ref, writer, "read")
    with web.as_user(owner.name, PASSWORD) as other:
        row = html.unescape(_row(other.get(base).text, schedule.id or 0))
        assert f"{writer.name} no longer has write access" in row


def test_delete_a_schedule_its_pipelines_stay(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, base = _setup(server, factory, git)
    web.login(owner.name, PASSWORD)
    web.submit(f"{base}/new", base, _form())
    schedule = _only_schedule(server, ref)
    ran = web.submit(base, f"{base}/{schedule.id}/play", {})
    pipeline_url = ran.headers["location"]
    resp = web.submit(base, f"{base}/{schedule.id}/delete", {})
    assert resp.status_code == 303 and "The schedule was deleted." in web.follow(resp).text
    assert "No pipeline schedules yet." in web.get(base).text
    assert web.get(f"{base}/{schedule.id}/edit").status_code == 404
    assert web.get(pipeline_url).status_code == 200
    with session_scope(server.engine) as s:
        pipeline = s.get(Pipeline, int(pipeline_url.rsplit("/", 1)[1]))
        assert pipeline is not None and pipeline.schedule_id is None and pipeline.source == "schedule"


def test_run_now_on_a_deleted_branch_says_so_on_the_list(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, base = _setup(server, factory, git)
    web.login(owner.name, PASSWORD)
    web.submit(f"{base}/new", base, _form())
    schedule = _only_schedule(server, ref)
    with session_scope(server.engine) as s:
        row = s.get(PipelineSchedule, schedule.id)
        assert row is not None
        row.ref = "deleted-branch"
    resp = web.submit(base, f"{base}/{schedule.id}/play", {})
    assert resp.status_code == 303 and resp.headers["location"] == base
    page = html.unescape(web.follow(resp).text)
    assert "“deleted-branch” is not a branch or tag of this repository." in page


# --- trigger tokens -------------------------------------------------------------------------------------------


def test_trigger_tokens_are_shown_once_listed_and_revoked(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, _ = _setup(server, factory, git)
    page_url = f"/{ref.full_name}/settings/ci/triggers"
    web.login(owner.name, PASSWORD)
    page = web.get(page_url)
    assert page.status_code == 200 and "No trigger tokens yet." in page.text
    assert 'class="active">Pipeline triggers</a>' in page.text
    made = web.submit(page_url, page_url, {"description": "release server"})
    assert made.status_code == 200
    secret = re.search(r'<code class="token-secret">(fpt_[^<]+)</code>', made.text)
    assert secret, made.text[:2000]
    assert f"{server.url}/api/v1/repos/{ref.full_name}/trigger/pipeline" in made.text
    listing = web.get(page_url)
    assert secret.group(1) not in listing.text  # shown once only
    row = re.search(r'<tr id="trigger-token-(\d+)">.*?</tr>', listing.text, flags=re.S)
    assert row and "release server" in row.group(0) and secret.group(1)[:8] in row.group(0)
    assert "never" in row.group(0) and owner.name in row.group(0)
    empty = web.submit(page_url, page_url, {"description": " "})
    assert empty.status_code == 422 and "Describe what the trigger token is for" in empty.text
    revoked = web.submit(page_url, f"{page_url}/{row.group(1)}/revoke", {})
    assert revoked.status_code == 303 and "The trigger token was revoked." in web.follow(revoked).text
    assert f'id="trigger-token-{row.group(1)}"' not in web.get(page_url).text


def test_only_repository_admins_see_the_trigger_settings(server, factory, git, web):  # type: ignore[no-untyped-def]
    owner, ref, _ = _setup(server, factory, git)
    writer = factory.user()
    _collaborator(server, owner, ref, writer, "write")
    page_url = f"/{ref.full_name}/settings/ci/triggers"
    web.login(writer.name, PASSWORD)
    assert web.get(page_url).status_code == 403
    assert web.post(page_url, {"description": "sneaky"}).status_code == 403
    stranger = WebClient(server.url)
    try:
        anonymous = stranger.get(page_url)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/user/login")
    finally:
        stranger.close()
