"""What blocks a merge: draft, conflicts, the base branch's protection (approvals from writers, changes requested,
required status contexts on the head, up to date, restricted pushers); merge_pull refuses while anything does, and
auto-merge merges once nothing does."""

from __future__ import annotations

import pytest
from sqlmodel import select

from forge.errors import Conflict
from forge.issues.models import IssueEvent
from forge.pulls import auto_merge, gate, merging, reviews
from forge.pulls.models import APPROVED, CHANGES_REQUESTED, MERGE, SQUASH
from forge.repos import protection, statuses
from forge.repos import services as repos
from tests.forge.pulls.pullsetup import diverged, graph, load, open_pull, remote_sha, setup


def _kinds(factory, st, actor=None):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        result = gate.evaluate(s, factory.settings, ref, pull, s.merge(actor) if actor else None)
        return {p.kind: p.text() for p in result.problems}, result


def _review(factory, st, who, state):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        reviews.submit_review(s, s.merge(who), ref, pull, state=state, body="ok")


def _rule(factory, st, **kwargs):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        protection.save_rule(s, st.owner, repos.get_repo_by_id(s, st.ref.repo.id), "main", **kwargs)


def _collaborators(factory, st, **people):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, st.ref.repo.id)
        for user, permission in people.values():
            repos.set_collaborator(s, st.owner, fresh, user, permission)


def test_no_rule_only_draft_and_conflicts_block(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    problems, result = _kinds(factory, st)
    assert problems == {} and result.ok and result.required_approvals == 0 and result.rule is None
    conflicted = setup(git, factory, conflict=True, draft=True)
    problems, result = _kinds(factory, conflicted)
    assert problems == {"draft": "This pull request is still a draft.",
                        "conflicts": "This branch has conflicts that must be resolved: shared.txt."}
    assert not result.ok


def test_approvals_count_only_writers_and_not_the_author(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    reader, writer, other = factory.user(), factory.user(), factory.user()
    _collaborators(factory, st, a=(reader, "read"), b=(writer, "write"), c=(other, "write"))
    _rule(factory, st, required_approvals=1)
    problems, result = _kinds(factory, st)
    assert problems == {"approvals": "Approving reviews required: 1; given so far: 0."}
    with pytest.raises(Conflict) as exc, factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        merging.merge_pull(s, factory.settings, s.merge(st.owner), ref, pull, style=MERGE)
    assert exc.value.message == "Approving reviews required: %(required)s; given so far: %(count)s."
    _review(factory, st, reader, APPROVED)  # a reader's approval does not count
    problems, result = _kinds(factory, st)
    assert "approvals" in problems and result.approvals == 0
    _review(factory, st, writer, APPROVED)
    problems, result = _kinds(factory, st)
    assert problems == {} and result.approvals == 1
    # A writer requesting changes blocks, even with enough approvals; a reader's request does not.
    _review(factory, st, reader, CHANGES_REQUESTED)
    assert _kinds(factory, st)[0] == {}
    _review(factory, st, other, CHANGES_REQUESTED)
    problems, result = _kinds(factory, st)
    assert problems == {"changes_requested": f"Changes were requested by {other.name}."}
    assert result.changes_requested_by == [other.id]
    _review(factory, st, other, APPROVED)  # their latest verdict is what counts
    problems, result = _kinds(factory, st)
    assert problems == {} and result.approvals == 2
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        merging.merge_pull(s, factory.settings, s.merge(st.owner), ref, pull, style=SQUASH)


def test_required_contexts_on_the_head_commit(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    _rule(factory, st, required_contexts=["ci/forge", "lint"])
    problems, result = _kinds(factory, st)
    assert problems == {"contexts": "Required checks have not passed: ci/forge, lint."}
    assert result.contexts == [("ci/forge", "missing"), ("lint", "missing")]
    with factory.session() as s:
        _ref, _issue, pull = load(s, st.ref, st.number)
        statuses.set_status(s, st.ref.repo.id, pull.head_sha, state="success", context="ci/forge")
        statuses.set_status(s, st.ref.repo.id, pull.head_sha, state="failed", context="lint")
        statuses.set_status(s, st.ref.repo.id, pull.base_sha, state="success", context="lint")  # not the head
    problems, result = _kinds(factory, st)
    assert problems == {"contexts": "Required checks have not passed: lint."}
    assert result.contexts == [("ci/forge", "success"), ("lint", "failed")]
    with factory.session() as s:
        _ref, _issue, pull = load(s, st.ref, st.number)
        statuses.set_status(s, st.ref.repo.id, pull.head_sha, state="success", context="lint")
    assert _kinds(factory, st)[0] == {}


def test_statuses_a_fork_posts_to_itself_do_not_count(git, factory):  # type: ignore[no-untyped-def]
    maintainer, contributor = factory.user(), factory.user()
    base = factory.repo(maintainer)
    work = diverged(git)
    git.push_to(work.path, base, "main")
    with factory.session() as s:
        fork = repos.fork_repository(s, factory.settings.repos_dir, factory.settings.git_bin, s.merge(contributor),
                                     repos.get_repo_by_id(s, base.repo.id))
        protection.save_rule(s, maintainer, repos.get_repo_by_id(s, base.repo.id), "main", required_contexts=["ci"])
    git.push_to(work.path, fork, "topic")
    number = open_pull(factory, contributor, base, fork)
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        # The fork's owner can post any status to the fork: it must not satisfy the base's requirement.
        statuses.set_status(s, fork.repo.id, pull.head_sha, state="success", context="ci")
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        result = gate.evaluate(s, factory.settings, ref, pull, None)
        assert not result.ok and result.contexts == [("ci", "missing")]
        statuses.set_status(s, base.repo.id, pull.head_sha, state="failed", context="ci")
        assert gate.evaluate(s, factory.settings, ref, pull, None).contexts == [("ci", "failed")]
        statuses.set_status(s, base.repo.id, pull.head_sha, state="success", context="ci")
        assert gate.evaluate(s, factory.settings, ref, pull, None).ok


def test_up_to_date_and_restricted_pushers(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    writer, lead = factory.user(), factory.user()
    _collaborators(factory, st, a=(writer, "write"), b=(lead, "write"))
    _rule(factory, st, require_up_to_date=True, restrict_push=True, push_user_ids=[lead.id])
    problems, _ = _kinds(factory, st, writer)
    assert problems == {"behind": "This branch is out of date: main has 1 commit(s) it lacks.",
                        "restricted": "You are not allowed to push to main, so you cannot merge into it."}
    assert set(_kinds(factory, st, lead)[0]) == {"behind"}
    assert set(_kinds(factory, st, st.owner)[0]) == {"behind"}  # admins may push


def test_auto_merge_waits_for_the_gate(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    writer = factory.user()
    _collaborators(factory, st, a=(writer, "write"))
    _rule(factory, st, required_contexts=["ci/forge"])
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        auto_merge.enable(s, s.merge(writer), ref, pull, SQUASH, delete_branch=True)
        head = pull.head_sha
    with factory.session() as s:
        assert auto_merge.try_auto_merge(s, factory.settings, st.ref.repo.id, head) == 0
    auto_merge.sweep(factory.engine, factory.settings)
    assert remote_sha(git, st.ref, "refs/heads/topic") == head  # not merged, branch kept
    with factory.session() as s:
        statuses.set_status(s, st.ref.repo.id, head, state="success", context="ci/forge")
        assert auto_merge.try_auto_merge(s, factory.settings, st.ref.repo.id, head) == 1
    assert graph(git, st.ref) == [f"* Topic work (#{st.number})", "* main moves on", "* base"]
    assert remote_sha(git, st.ref, "refs/heads/topic") is None
    with factory.session() as s:
        _ref, _issue, pull = load(s, st.ref, st.number)
        assert pull.merged_by_id == writer.id and pull.auto_merge_style == ""


def test_auto_merge_switched_off_when_its_user_loses_write_access(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    writer = factory.user()
    _collaborators(factory, st, a=(writer, "write"))
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        auto_merge.enable(s, s.merge(writer), ref, pull, MERGE)
        repos.set_collaborator(s, st.owner, ref, writer, "read")
    auto_merge.sweep(factory.engine, factory.settings)
    with factory.session() as s:
        _ref, issue, pull = load(s, st.ref, st.number)
        assert pull.merged_at is None and pull.auto_merge_style == "" and issue.state == "open"


def test_auto_merge_stays_on_when_the_merge_fails(git, factory, monkeypatch):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        auto_merge.enable(s, s.merge(st.owner), ref, pull, MERGE)
    real = merging.gitops.update_ref

    def base_moved(*args, **kwargs):  # type: ignore[no-untyped-def]
        return False

    monkeypatch.setattr(merging.gitops, "update_ref", base_moved)
    with factory.session() as s:
        _ref, _issue, pull = load(s, st.ref, st.number)
        assert auto_merge.try_auto_merge(s, factory.settings, st.ref.repo.id, pull.head_sha) == 0
        # The failed attempt left nothing behind in this transaction, which still commits.
        assert pull.merged_at is None and pull.auto_merge_style == MERGE
    with factory.session() as s:
        _ref, issue, pull = load(s, st.ref, st.number)
        assert issue.state == "open" and pull.merged_at is None and pull.auto_merge_style == MERGE
        assert not _events(s, issue, "merged")
    monkeypatch.setattr(merging.gitops, "update_ref", real)
    auto_merge.sweep(factory.engine, factory.settings)
    with factory.session() as s:
        _ref, issue, pull = load(s, st.ref, st.number)
        assert pull.merged_at is not None and len(_events(s, issue, "merged")) == 1


def _events(s, issue, kind):  # type: ignore[no-untyped-def]
    return list(s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id, IssueEvent.kind == kind)))
