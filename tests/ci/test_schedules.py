"""Pipeline schedules: cron and time zone reading, the schedule life cycle through ``ci.schedules``, and the sweep
that runs a due schedule exactly once — two workers racing in two threads with their own sessions, and the live
server's own periodic sweep."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from ci import cron, jobstate, pipelines, schedules
from ci.models import Pipeline
from ci.models.schedules import PipelineSchedule
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.errors import InvalidInput, PermissionDenied
from forge.repos import protection
from forge.repos import services as repos
from tests.ci.pipeline_helpers import push_files, wait_seen

CONFIG = """\
nightly:
  script: [echo "$NIGHTLY"]
"""


# --- cron and time zones -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "zone", "fragment"), [
    ("0 2 * *", "UTC", "has 4"),
    ("0 2 * * * *", "UTC", "has 6"),
    ("61 2 * * *", "UTC", "not a valid cron expression"),
    ("0 25 * * *", "UTC", "not a valid cron expression"),
    ("0 2 * * 8", "UTC", "not a valid day of the week"),
    ("0 2 * * fri-mon", "UTC", "not a valid day of the week"),
    ("0 2 * * */0", "UTC", "not a valid day of the week"),
    ("0 0 31 2 *", "UTC", "never matches"),
    ("0 2 * * *", "Mars/Olympus", "not a time zone"),
    ("0 2 * * *", "../../etc/passwd", "not a time zone"),
    ("0 2 * * *", "", "not a time zone"),
])
def test_bad_cron_or_time_zone_is_refused_with_the_reason(expression: str, zone: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        cron.parse_cron(expression, zone)
    assert fragment in str(caught.value)


THURSDAY = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _next(expression: str, after: datetime = THURSDAY, zone: str = "UTC") -> datetime | None:
    return cron.parse_cron(expression, zone).next_after(after)


def test_days_of_the_week_count_from_sunday_like_cron() -> None:
    # APScheduler 3 counts from Monday; cron (and GitLab) from Sunday, with 7 also Sunday.
    assert _next("0 2 * * 0") == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # Sunday
    assert _next("0 2 * * 7") == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert _next("0 2 * * sun") == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert _next("0 2 * * 1") == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday
    assert _next("0 13 * * 1-5") == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)  # Thursday is a weekday
    assert _next("0 11 * * 1-5") == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # then Friday
    assert _next("0 11 * * 6,0") == datetime(2026, 11, 28, 11, 0, tzinfo=UTC)  # Saturday
    assert _next("0 11 * * 5-7") == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # Fri..Sun
    assert _next("0 11 * * */2") == datetime(2026, 11, 26, 11, 0, tzinfo=UTC) + timedelta(days=2)  # sun,tue,thu,sat


def test_day_of_month_and_day_of_week_match_either_when_both_are_given() -> None:
    # Cron's rule (and GitLab's): "0 0 1 * 1" is the 1st of the month *or* any Monday.
    assert _next("0 0 1 * 1") == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # Monday the 30th comes first
    assert _next("0 0 28 * 1") == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # the 28th comes before Monday
    # With one of them "*", only the other one counts.
    assert _next("0 0 * * 1") == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert _next("0 0 1 * *") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def test_the_time_zone_decides_when_the_day_starts() -> None:
    # 02:00 in Shanghai (UTC+8) is 18:00 UTC the day before.
    assert _next("0 2 * * *", zone="Asia/Shanghai") == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    assert _next("0 2 * * *", zone="UTC") == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    # Strictly after: a schedule that fires at 12:00 sharp is next due at 12:00 the next day.
    assert _next("0 12 * * *") == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert _next("*/15 * * * *", THURSDAY + timedelta(seconds=30)) == THURSDAY + timedelta(minutes=15)


# --- set-up ----------------------------------------------------------------------------------------------------


def _repo(server: Any, factory: Any, git: Any, config: str = CONFIG) -> tuple[Any, Any]:
    owner = factory.user()
    ref = factory.repo(owner)
    push_files(git, ref, {".forge-ci.yml": config}, name=f"work-{ref.repo.name}")
    wait_seen(server.engine, ref.repo.id)
    return owner, ref


def _create(server: Any, repo_ref: Any, actor: Any, **overrides: Any) -> PipelineSchedule:
    values: dict[str, Any] = {"description": "Nightly build", "cron": "0 2 * * *", "timezone": "Asia/Shanghai",
                              "ref": "main", "variables": [("NIGHTLY", "yes")], "active": True}
    values.update(overrides)
    with session_scope(server.engine) as s:
        fresh = repos.get_repo_by_id(s, repo_ref.repo.id)
        return schedules.create_schedule(s, server.settings, fresh, actor, schedules.ScheduleInput(**values))


def _set_due(server: Any, schedule_id: int, at: datetime, **extra: Any) -> None:
    with session_scope(server.engine) as s:
        row = s.get(PipelineSchedule, schedule_id)
        assert row is not None
        row.next_run_at = at
        for key, value in extra.items():
            setattr(row, key, value)
        s.add(row)


def _schedule(server: Any, schedule_id: int) -> PipelineSchedule:
    with session_scope(server.engine) as s:
        row = s.get(PipelineSchedule, schedule_id)
        assert row is not None
        return row


def _pipelines_of(server: Any, schedule_id: int) -> list[Pipeline]:
    with session_scope(server.engine) as s:
        return list(s.exec(select(Pipeline).where(Pipeline.schedule_id == schedule_id).order_by(col(Pipeline.id))))


def _variables(server: Any, pipeline_id: int) -> dict[str, str]:
    with session_scope(server.engine) as s:
        job = jobstate.latest_attempts(pipelines.jobs_of(s, pipeline_id))[0]
        return {v["key"]: v["value"] for v in job.spec["variables"]}


# --- life cycle ------------------------------------------------------------------------------------------------


def test_a_new_schedule_is_owned_by_its_creator_and_due_at_its_next_cron_time(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    before = utcnow()
    schedule = _create(server, ref, owner)
    assert schedule.owner_id == owner.id and schedule.cron == "0 2 * * *" and schedule.timezone == "Asia/Shanghai"
    assert schedule.variables == [{"key": "NIGHTLY", "value": "yes"}]
    assert schedule.next_run_at is not None and before < schedule.next_run_at <= before + timedelta(days=1)
    assert schedule.next_run_at.astimezone(cron.check_timezone("Asia/Shanghai")).hour == 2

    inactive = _create(server, ref, owner, description="Paused", active=False)
    assert inactive.next_run_at is None


def test_creating_needs_write_access_and_a_real_ref(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    reader = factory.user()
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, repos.get_repo_by_id(s, ref.repo.id), reader, "read")
    with pytest.raises(PermissionDenied):
        _create(server, ref, reader)
    with pytest.raises(InvalidInput, match="not a branch or tag"):
        _create(server, ref, owner, ref="no-such-branch")
    with pytest.raises(InvalidInput, match="description"):
        _create(server, ref, owner, description="  ")
    with pytest.raises(InvalidInput, match="not a valid variable name"):
        _create(server, ref, owner, variables=[("1BAD", "x")])


def test_only_the_owner_edits_and_an_admin_takes_ownership(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    writer, admin = factory.user(), factory.user()
    with session_scope(server.engine) as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        repos.set_collaborator(s, owner, fresh, writer, "write")
        repos.set_collaborator(s, owner, fresh, admin, "admin")
    schedule = _create(server, ref, writer)
    assert schedule.id is not None
    data = schedules.ScheduleInput("Changed", "0 3 * * *", "UTC", "main", [])
    with session_scope(server.engine) as s, pytest.raises(PermissionDenied, match="Take ownership"):
        schedules.update_schedule(s, server.settings, repos.get_repo_by_id(s, ref.repo.id), admin, schedule.id, data)
    with session_scope(server.engine) as s, pytest.raises(PermissionDenied):
        schedules.take_ownership(s, repos.get_repo_by_id(s, ref.repo.id), factory.user(), schedule.id)
    with session_scope(server.engine) as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        schedules.take_ownership(s, fresh, admin, schedule.id)
        schedules.update_schedule(s, server.settings, fresh, admin, schedule.id, data)
    row = _schedule(server, schedule.id)
    assert (row.owner_id, row.description, row.cron, row.timezone, row.variables) == (admin.id, "Changed",
                                                                                     "0 3 * * *", "UTC", None)
    # The writer is no longer the owner: may not delete it either (admins may).
    with session_scope(server.engine) as s, pytest.raises(PermissionDenied):
        schedules.delete_schedule(s, repos.get_repo_by_id(s, ref.repo.id), writer, schedule.id)
    with session_scope(server.engine) as s:
        schedules.delete_schedule(s, repos.get_repo_by_id(s, ref.repo.id), owner, schedule.id)
    with session_scope(server.engine) as s:
        assert s.get(PipelineSchedule, schedule.id) is None


# --- running ---------------------------------------------------------------------------------------------------


def test_two_workers_racing_for_a_due_schedule_make_one_pipeline(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    schedule = _create(server, ref, owner)
    assert schedule.id is not None
    # The race happens "tomorrow" for the two workers (they are given their clock); the live server's own sweep
    # sees today, so it stays out of this race.
    now = utcnow() + timedelta(days=3)
    due_at = now - timedelta(minutes=1)
    _set_due(server, schedule.id, due_at)
    both_read = threading.Barrier(2, timeout=10)
    results: list[Pipeline | None] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            seen = [at for i, at in schedules.due(server.engine, now, limit=10_000) if i == schedule.id]
            assert seen == [due_at]
            both_read.wait()  # both have read the same due value before either claims it
            results.append(schedules.fire(server.engine, server.settings, schedule.id, seen[0], now))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    made = [p for p in results if p is not None]
    assert len(results) == 2 and len(made) == 1, results
    listed = _pipelines_of(server, schedule.id)
    assert [p.id for p in listed] == [made[0].id]
    assert listed[0].source == "schedule" and listed[0].triggered_by_id == owner.id and listed[0].ref == "main"
    row = _schedule(server, schedule.id)
    # Moved on to the next 02:00 in Shanghai after "now", so it is not due again.
    assert row.next_run_at is not None and now < row.next_run_at <= now + timedelta(days=1)
    assert row.last_run_at == now and row.last_error == ""
    assert schedules.fire(server.engine, server.settings, schedule.id, due_at, now) is None
    assert len(_pipelines_of(server, schedule.id)) == 1


def test_scheduled_jobs_see_the_source_the_description_and_the_variables(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    schedule = _create(server, ref, owner, variables=[("NIGHTLY", "yes"), ("TARGET", "arm64")])
    assert schedule.id is not None
    now = utcnow() + timedelta(days=3)
    _set_due(server, schedule.id, now - timedelta(seconds=5))
    pipeline = schedules.fire(server.engine, server.settings, schedule.id, now - timedelta(seconds=5), now)
    assert pipeline is not None and pipeline.id is not None
    values = _variables(server, pipeline.id)
    assert values["CI_PIPELINE_SOURCE"] == "schedule"
    assert values["CI_PIPELINE_SCHEDULE_DESCRIPTION"] == "Nightly build"
    assert (values["NIGHTLY"], values["TARGET"]) == ("yes", "arm64")


def test_a_missed_run_runs_once_then_the_schedule_keeps_its_rhythm(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    schedule = _create(server, ref, owner, cron="*/10 * * * *", timezone="UTC")
    assert schedule.id is not None
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=3, minutes=3)
    # The server was down for five hours: thirty slots were missed.
    missed = now - timedelta(hours=5)
    _set_due(server, schedule.id, missed)
    made = [schedules.fire(server.engine, server.settings, i, at, now)
            for i, at in schedules.due(server.engine, now, limit=10_000) if i == schedule.id]
    assert len([p for p in made if p is not None]) == 1
    row = _schedule(server, schedule.id)
    assert row.next_run_at is not None and now < row.next_run_at <= now + timedelta(minutes=10)
    assert row.next_run_at.minute % 10 == 0
    assert [i for i, _ in schedules.due(server.engine, now, limit=10_000) if i == schedule.id] == []
    assert len(_pipelines_of(server, schedule.id)) == 1


def test_an_inactive_schedule_does_not_run(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    schedule = _create(server, ref, owner, active=False)
    assert schedule.id is not None
    now = utcnow() + timedelta(days=3)
    at = now - timedelta(minutes=1)
    _set_due(server, schedule.id, at)  # even with a due time left behind
    assert [i for i, _ in schedules.due(server.engine, now, limit=10_000) if i == schedule.id] == []
    assert schedules.fire(server.engine, server.settings, schedule.id, at, now) is None
    assert _pipelines_of(server, schedule.id) == []


def test_an_owner_who_lost_write_access_stops_the_schedule_and_it_says_why(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    writer = factory.user()
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, repos.get_repo_by_id(s, ref.repo.id), writer, "write")
    schedule = _create(server, ref, writer)
    assert schedule.id is not None
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, repos.get_repo_by_id(s, ref.repo.id), writer, "read")
    now = utcnow() + timedelta(days=3)
    _set_due(server, schedule.id, now - timedelta(minutes=1))
    assert schedules.fire(server.engine, server.settings, schedule.id, now - timedelta(minutes=1), now) is None
    assert _pipelines_of(server, schedule.id) == []
    row = _schedule(server, schedule.id)
    assert row.next_run_at is not None and row.next_run_at > now  # claimed, so not retried every few seconds
    assert "no longer has write access" in row.last_error
    with session_scope(server.engine) as s:
        view = schedules.list_schedules(s, repos.get_repo_by_id(s, ref.repo.id))[0]
        assert view.problem is not None and view.problem.params["user"] == writer.name
        assert view.last_error is not None


def test_a_schedule_on_a_protected_branch_needs_an_owner_allowed_to_push(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    writer = factory.user()
    with session_scope(server.engine) as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        repos.set_collaborator(s, owner, fresh, writer, "write")
    schedule = _create(server, ref, writer)
    assert schedule.id is not None
    with session_scope(server.engine) as s:
        protection.save_rule(s, owner, repos.get_repo_by_id(s, ref.repo.id), "main", restrict_push=True)
    now = utcnow() + timedelta(days=3)
    _set_due(server, schedule.id, now - timedelta(minutes=1))
    assert schedules.fire(server.engine, server.settings, schedule.id, now - timedelta(minutes=1), now) is None
    assert "protected" in _schedule(server, schedule.id).last_error


def test_run_now_makes_a_pipeline_at_once_and_keeps_the_timing(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    schedule = _create(server, ref, owner)
    assert schedule.id is not None
    with session_scope(server.engine) as s:
        pipeline = schedules.run_now(s, server.settings, repos.get_repo_by_id(s, ref.repo.id), owner, schedule.id)
        pipeline_id = pipeline.id
    assert [p.id for p in _pipelines_of(server, schedule.id)] == [pipeline_id]
    assert _schedule(server, schedule.id).next_run_at == schedule.next_run_at
    # A deleted branch: a clear error, nothing made.
    with session_scope(server.engine) as s:
        row = s.get(PipelineSchedule, schedule.id)
        assert row is not None
        row.ref = "gone"
        s.add(row)
    with session_scope(server.engine) as s, pytest.raises(InvalidInput, match="not a branch or tag"):
        schedules.run_now(s, server.settings, repos.get_repo_by_id(s, ref.repo.id), owner, schedule.id)


def test_the_live_server_runs_a_due_schedule_once(server, factory, git):  # type: ignore[no-untyped-def]
    owner, ref = _repo(server, factory, git)
    schedule = _create(server, ref, owner)
    assert schedule.id is not None
    _set_due(server, schedule.id, utcnow() - timedelta(minutes=1))
    deadline = time.monotonic() + 20
    while not _pipelines_of(server, schedule.id):
        assert time.monotonic() < deadline, "the server's sweep did not run the due schedule"
        time.sleep(0.2)
    time.sleep(6)  # at least one more sweep
    made = _pipelines_of(server, schedule.id)
    assert len(made) == 1 and made[0].source == "schedule"
    assert _schedule(server, schedule.id).next_run_at > utcnow()  # type: ignore[operator]
