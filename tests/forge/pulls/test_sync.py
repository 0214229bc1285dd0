"""Pull requests following real pushes: new commits and force-pushes on the head (timeline, activity, stale
approvals), pushes to the base (mergeability, conflicts, behind counts), a deleted head branch, a fork's head, and a
pull request merged by hand with a push to the base."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from forge import activity, push_processing
from forge.issues import services as issues
from forge.issues.models import CLOSED, MERGED, OPEN, IssueEvent
from forge.pulls import reviews
from forge.pulls.models import APPROVED, CONFLICT, DISMISSED, EMPTY, MERGEABLE, PullReview
from forge.repos import protection
from forge.repos import services as repos
from tests.forge.pulls.pullsetup import diverged, load, open_pull, remote_sha, setup


def _eventually(factory, check: Callable[[], Any], timeout: float = 15) -> Any:  # type: ignore[no-untyped-def]
    """Run the push processing and ``check`` until ``check`` returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        push_processing.process_pending(factory.engine, factory.settings)
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def _pull(factory, st):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        _ref, issue, pull = load(s, st.ref, st.number)
        return issue, pull


def _timeline(factory, st, *kinds: str) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    with factory.session() as s:
        _ref, issue, _pull = load(s, st.ref, st.number)
        rows = s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id, col(IssueEvent.kind).in_(kinds))
                      .order_by(col(IssueEvent.id)))
        return [(e.kind, e.data) for e in rows]


def test_new_commits_and_force_push_on_the_head(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    _issue, pull = _pull(factory, st)
    first = pull.head_sha
    st.work.git("checkout", "-q", "topic")
    st.work.commit({"topic.txt": "t1\nt2\nt3\n"}, "topic three")
    second = st.work.commit({"topic.txt": "t1\nt2\nt3\nt4\n"}, "topic four")
    git.push_to(st.work.path, st.ref, "topic")
    assert _eventually(factory, lambda: _pull(factory, st)[1].head_sha == second)
    assert remote_sha(git, st.ref, f"refs/pull/{st.number}/head") == second
    assert _timeline(factory, st, "head_pushed", "head_force_pushed") == [
        ("head_pushed", {"before": first, "after": second, "count": 2})]
    with factory.session() as s:
        _ref, issue, _p = load(s, st.ref, st.number)
        synced = [a.data for a in s.exec(select(activity.Activity).where(
            activity.Activity.issue_id == issue.id, activity.Activity.kind == activity.PULL_SYNCHRONIZED))]
        assert synced == [{"before": first, "after": second}]

    st.work.git("reset", "-q", "--hard", "HEAD~1")
    rewritten = st.work.commit({"topic.txt": "rewritten\n"}, "rewritten")
    st.work.git("push", "-q", "--force", git.url(f"{st.ref.full_name}.git", st.owner.name, "correct-horse-42"),
                "topic")
    assert _eventually(factory, lambda: _pull(factory, st)[1].head_sha == rewritten)
    assert _timeline(factory, st, "head_force_pushed") == [("head_force_pushed",
                                                            {"before": second, "after": rewritten})]
    _issue, pull = _pull(factory, st)
    assert pull.merge_status == MERGEABLE and pull.commits_behind == 1


def test_stale_approvals_dismissed_only_when_the_rule_says_so(git, factory):  # type: ignore[no-untyped-def]
    for dismiss in (False, True):
        st = setup(git, factory)
        reviewer = factory.user()
        with factory.session() as s:
            ref, _issue, pull = load(s, st.ref, st.number)
            repos.set_collaborator(s, st.owner, ref, reviewer, "write")
            protection.save_rule(s, st.owner, ref, "main", required_approvals=1, dismiss_stale_approvals=dismiss)
            reviews.submit_review(s, s.merge(reviewer), ref, pull, state=APPROVED)
        st.work.git("checkout", "-q", "topic")
        new = st.work.commit({"late.txt": "late\n"}, "late change")
        git.push_to(st.work.path, st.ref, "topic")
        assert _eventually(factory, lambda st=st, new=new: _pull(factory, st)[1].head_sha == new)
        with factory.session() as s:
            _ref, _issue, pull = load(s, st.ref, st.number)
            states = [r.state for r in s.exec(select(PullReview).where(PullReview.pull_id == pull.id))]
        assert states == ([DISMISSED] if dismiss else [APPROVED]), dismiss


def test_pushes_to_the_base_recompute_mergeability(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    _issue, pull = _pull(factory, st)
    assert pull.merge_status == MERGEABLE and pull.commits_behind == 1
    st.work.git("checkout", "-q", "main")
    st.work.commit({"main2.txt": "x\n"}, "main again")
    base = st.work.commit({"topic.txt": "main's own topic\n"}, "main touches topic.txt")
    git.push_to(st.work.path, st.ref, "main")
    assert _eventually(factory, lambda: _pull(factory, st)[1].base_sha == base)
    _issue, pull = _pull(factory, st)
    assert pull.merge_status == CONFLICT and pull.conflicts == ["topic.txt"] and pull.commits_behind == 3
    # Reverting main's change makes it mergeable again.
    reverted = st.work.commit({"topic.txt": None}, "drop it again")
    git.push_to(st.work.path, st.ref, "main")
    assert _eventually(factory, lambda: _pull(factory, st)[1].base_sha == reverted)
    assert _pull(factory, st)[1].merge_status == MERGEABLE


def test_deleted_head_branch_leaves_the_pull_request_open(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    _issue, pull = _pull(factory, st)
    head = pull.head_sha
    git.run("push", git.url(f"{st.ref.full_name}.git", st.owner.name, "correct-horse-42"), ":topic",
            cwd=st.work.path, check=True)
    other = factory.repo(st.owner)  # some unrelated push, to be sure the deletion was handled
    git.push_to(st.work.path, other, "main")
    _eventually(factory, lambda: False, timeout=1)
    issue, pull = _pull(factory, st)
    assert issue.state == OPEN and pull.head_sha == head
    assert remote_sha(git, st.ref, f"refs/pull/{st.number}/head") == head


def test_head_in_a_fork_follows_its_pushes(git, factory):  # type: ignore[no-untyped-def]
    maintainer, contributor = factory.user(), factory.user()
    base = factory.repo(maintainer)
    work = diverged(git)
    git.push_to(work.path, base, "main")
    with factory.session() as s:
        fork = repos.fork_repository(s, factory.settings.repos_dir, factory.settings.git_bin, s.merge(contributor),
                                     repos.get_repo_by_id(s, base.repo.id))
    git.push_to(work.path, fork, "topic")
    number = open_pull(factory, contributor, base, fork)
    work.git("checkout", "-q", "topic")
    new = work.commit({"fork.txt": "from the fork\n"}, "fork work")
    git.push_to(work.path, fork, "topic")

    def head() -> str:
        with factory.session() as s:
            return load(s, base, number)[2].head_sha

    assert _eventually(factory, lambda: head() == new)
    assert remote_sha(git, base, f"refs/pull/{number}/head") == new


def test_merged_by_hand_with_a_push_to_the_base(git, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with factory.session() as s:
        bug = issues.create_issue(s, owner, repos.get_repo_by_id(s, ref.repo.id), title="A bug").number
    work = diverged(git)
    git.push_to(work.path, ref, "main", "topic")
    number = open_pull(factory, owner, ref, ref, body=f"Fixes #{bug}")
    work.git("merge", "-q", "--no-edit", "topic")
    tip = work.head()
    git.push_to(work.path, ref, "main")

    def state():  # type: ignore[no-untyped-def]
        with factory.session() as s:
            _ref, issue, pull = load(s, ref, number)
            return issue, pull

    assert _eventually(factory, lambda: state()[0].state == CLOSED)
    issue, pull = state()
    assert issue.state_reason == MERGED and pull.merge_commit_sha == tip and pull.merged_by_id == owner.id
    assert pull.merge_status == EMPTY
    with factory.session() as s:
        assert issues.get_issue(s, repos.get_repo_by_id(s, ref.repo.id), bug).state == CLOSED
        merged = s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id, IssueEvent.kind == "merged")).one()
        assert merged.data == {"sha": tip, "style": "", "base": "main"}
