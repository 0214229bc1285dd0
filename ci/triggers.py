"""Turning push events into pipelines, exactly once each (docs/ci.md, "Triggers").

Every accepted ref update (git push, or a branch or tag made or deleted in the UI/CLI) is a ``push_event`` row.
``process_pending`` handles the ones CI has not seen, each in its own transaction that first inserts its
``ci_push_seen`` row: a second worker handling the same event blocks on that primary key and then fails, so one
pipeline at most is made per event. The git HTTP handler calls it right after a push; the ``sweep`` below runs in
every worker every few seconds and catches anything missed (a crash between the push and the trigger).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ci import jobstate, pipelines
from ci.background import periodic
from ci.models import ACTIVE_STATES, PENDING, RUNNING, Job, Pipeline, PushSeen
from forge import outbox
from forge.db.engine import session_scope
from forge.db.models_base import utcnow
from forge.git import changes
from forge.git.repository import GitRepo
from forge.repos.models import PushEvent
from forge.repos.services import RepoRef, get_repo_by_id, open_git
from forge.settings import Settings

log = logging.getLogger("forge.ci")

# Events older than this are left alone: they predate CI or were lost long ago, and running a pipeline for a
# week-old push would surprise more than help. It also keeps the "not yet seen" query small.
LOOKBACK = timedelta(days=2)
BATCH = 50


def _is_zero(sha: str) -> bool:
    return not sha.strip("0")


def _split_ref(full: str) -> tuple[str, str] | None:
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if full.startswith(prefix) and len(full) > len(prefix):
            return full[len(prefix):], kind
    return None


def changed_paths_for(git: GitRepo, ref: RepoRef, kind: str, name: str, old_sha: str,
                      new_sha: str) -> tuple[str, ...] | None:
    """What ``rules:changes`` compares against: old..new for an updated branch; for a new branch, what it changed
    since it left the default branch; None (every ``changes`` matches, as in GitLab) for tags, for a new default
    branch and when the history cannot tell."""
    if kind != "branch":
        return None
    if not _is_zero(old_sha):
        return changes.changed_paths(git, old_sha, new_sha)
    default = ref.repo.default_branch
    base_tip = git.ref_target(f"refs/heads/{default}") if default != name else None
    if base_tip is None:
        return None
    base = changes.merge_base(git, base_tip, new_sha)
    return changes.changed_paths(git, base, new_sha) if base is not None else None


def handle_event(session: Session, settings: Settings, event: PushEvent) -> PushSeen:
    """Claim ``event`` and make its pipeline (or record why there is none). Raises IntegrityError at the claim when
    another worker has it."""
    assert event.id is not None
    seen = PushSeen(push_event_id=event.id)
    session.add(seen)
    session.flush()  # the claim: blocks, then fails, in a second worker holding the same event
    parsed = _split_ref(event.ref)
    ref = get_repo_by_id(session, event.repo_id)
    if _is_zero(event.new_sha):
        seen.outcome = "deleted"
    elif parsed is None or ref is None:
        seen.outcome = "ignored"  # notes, pull request heads...: not something CI builds
    else:
        name, kind = parsed
        git = open_git(settings.repos_dir, ref)
        trigger = pipelines.Trigger(
            ref=ref,
            ref_name=name,
            ref_kind=kind,
            sha=event.new_sha,
            source="push",
            before_sha="" if _is_zero(event.old_sha) else event.old_sha,
            push_event_id=event.id,
            actor_id=event.pusher_id,
            changed_paths=changed_paths_for(git, ref, kind, name, event.old_sha, event.new_sha),
        )
        outcome = pipelines.create_pipeline(session, settings, git, trigger)
        seen.outcome = outcome.reason
        seen.pipeline_id = outcome.pipeline.id if outcome.pipeline is not None else None
    session.add(seen)
    session.flush()
    return seen


def _unseen(engine: Engine, limit: int) -> list[int]:
    with session_scope(engine) as session:
        seen = select(PushSeen.push_event_id).where(PushSeen.push_event_id == PushEvent.id)
        stmt = (select(PushEvent.id).where(col(PushEvent.created_at) >= utcnow() - LOOKBACK, ~seen.exists())
                .order_by(col(PushEvent.id)).limit(limit))
        return [i for i in session.exec(stmt) if i is not None]


def _load(session: Session, event_id: int) -> PushEvent | None:
    event = session.get(PushEvent, event_id)
    return None if event is None or session.get(PushSeen, event_id) is not None else event


def process_pending(engine: Engine, settings: Settings, limit: int = BATCH) -> int:
    """Handle up to ``limit`` push events CI has not seen yet, oldest first; returns how many this call handled."""
    return outbox.consume(
        engine, _unseen(engine, limit), load=_load, handle=lambda s, event: handle_event(s, settings, event),
        mark_failed=lambda s, event_id: s.add(PushSeen(push_event_id=event_id, outcome="error")),
        log=log, what="push event (CI)",
    )


def advance_stalled(engine: Engine, limit: int = BATCH) -> int:
    """Re-run the state machine on unfinished pipelines with no job queued or running: a worker that crashed
    between a job finishing and the next stage starting leaves one of these behind. (A pipeline waiting for a
    manual job is idle on purpose and only moves when someone acts.) Returns how many moved."""
    busy = select(Job.id).where(Job.pipeline_id == Pipeline.id, col(Job.status).in_([PENDING, RUNNING]))
    stmt = (select(Pipeline.id).where(col(Pipeline.status).in_(ACTIVE_STATES), ~busy.exists())
            .order_by(col(Pipeline.id)).limit(limit))
    moved = 0
    with session_scope(engine) as session:
        ids = [i for i in session.exec(stmt) if i is not None]
    for pipeline_id in ids:
        with session_scope(engine) as session:
            pipeline = session.get(Pipeline, pipeline_id)
            if pipeline is None:
                continue
            before = pipeline.status
            after = jobstate.advance(session, pipeline).status
            moved += before != after
    return moved


@periodic(5)
def sweep(engine: Engine, settings: Settings) -> None:
    process_pending(engine, settings)
    advance_stalled(engine)
