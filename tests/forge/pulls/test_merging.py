"""Merging pull requests on the live server, with histories pushed by real git and read back with ``git log
--graph`` from a clone: each merge style, "closes #N", permissions and allowed styles, a concurrent push to the
base, deleting and restoring the head branch, forks, and a conflict resolved through the forge."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from forge import activity
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.issues import services as issues
from forge.issues.models import CLOSED, MERGED, OPEN, IssueEvent
from forge.pulls import merging
from forge.pulls import services as pulls
from forge.pulls import settings as merge_settings
from forge.pulls.models import CONFLICT, FAST_FORWARD, MERGE, MERGEABLE, REBASE, SQUASH
from forge.repos import services as repos
from forge.repos.models import PushEvent
from tests.forge.pulls.pullsetup import clone_path, diverged, graph, load, open_pull, remote_sha, setup


def _merge(factory, st, actor=None, **kwargs):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        user = s.merge(actor or st.owner)
        return merging.merge_pull(s, factory.settings, user, ref, pull, **kwargs)


def _events(factory, st, kind):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        _ref, issue, _pull = load(s, st.ref, st.number)
        return [e.data for e in s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id,
                                                               IssueEvent.kind == kind).order_by(col(IssueEvent.id)))]


def test_merge_commit(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    sha = _merge(factory, st, style=MERGE)
    assert remote_sha(git, st.ref, "refs/heads/main") == sha
    assert graph(git, st.ref) == [
        f"*   Merge pull request #{st.number} from {st.owner.name}/topic",
        "|\\",
        "| * topic two",
        "| * topic one",
        "* | main moves on",
        "|/",
        "* base",
    ]
    with factory.session() as s:
        _ref, issue, pull = load(s, st.ref, st.number)
        assert issue.state == CLOSED and issue.state_reason == MERGED
        assert pull.merged_at is not None and pull.merge_commit_sha == sha and pull.merge_style == MERGE
        assert pull.merged_by_id == st.owner.id
        kinds = {a.kind: a.data for a in s.exec(select(activity.Activity).where(
            activity.Activity.issue_id == issue.id))}
        assert kinds[activity.PULL_MERGED] == {"sha": sha, "style": MERGE}
        assert kinds[activity.ISSUE_CLOSED] == {"reason": "merged"}
        event = s.exec(select(PushEvent).where(PushEvent.repo_id == st.ref.repo.id, PushEvent.new_sha == sha)).one()
        assert event.source == "merge" and event.ref == "refs/heads/main" and event.pusher_id == st.owner.id
    assert _events(factory, st, "merged") == [{"sha": sha, "style": MERGE, "base": "main"}]
    with pytest.raises(Conflict):  # only once
        _merge(factory, st, style=MERGE)


def test_squash_rebase_and_fast_forward_histories(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory, body="All of the topic.")
    _merge(factory, st, style=SQUASH)
    assert graph(git, st.ref) == [f"* Topic work (#{st.number})", "* main moves on", "* base"]
    clone = clone_path(git, st.ref)
    assert git.run("log", "-1", "--format=%an|%B", cwd=clone, check=True).out.strip() == \
        f"{st.owner.name}|Topic work (#{st.number})\n\nAll of the topic."

    st = setup(git, factory)
    sha = _merge(factory, st, style=REBASE)
    assert graph(git, st.ref) == ["* topic two", "* topic one", "* main moves on", "* base"]
    clone = clone_path(git, st.ref)
    assert git.run("log", "-1", "--format=%an|%cn", sha, cwd=clone, check=True).out.strip() == \
        f"Tess Topic|{st.owner.name}"

    # Fast-forward: refused while main has its own commit, done once the head contains main.
    st = setup(git, factory)
    with pytest.raises(InvalidInput):
        _merge(factory, st, style=FAST_FORWARD)
    st.work.git("checkout", "-q", "topic")
    st.work.git("merge", "-q", "--no-edit", "main")
    git.push_to(st.work.path, st.ref, "topic")
    from forge import push_processing
    push_processing.process_pending(factory.engine, factory.settings)
    sha = _merge(factory, st, style=FAST_FORWARD)
    assert sha == st.work.head() == remote_sha(git, st.ref, "refs/heads/main")


def test_closing_references_in_body_and_commits(git, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        by_body = issues.create_issue(s, owner, fresh, title="Body bug").number
        by_commit = issues.create_issue(s, owner, fresh, title="Commit bug").number
        untouched = issues.create_issue(s, owner, fresh, title="Other").number
    work = diverged(git)
    work.git("checkout", "-q", "topic")
    work.commit({"fix.txt": "x\n"}, f"Fix it\n\nCloses #{by_commit}")
    work.git("checkout", "-q", "main")
    git.push_to(work.path, ref, "main", "topic")
    number = open_pull(factory, owner, ref, ref, body=f"This fixes #{by_body}; see #{untouched}.")
    with factory.session() as s:
        fresh, _issue, pull = load(s, ref, number)
        sha = merging.merge_pull(s, factory.settings, s.merge(owner), fresh, pull, style=MERGE)
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        for n in (by_body, by_commit):
            issue = issues.get_issue(s, fresh, n)
            assert issue.state == CLOSED, n
            closed = s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id,
                                                    IssueEvent.kind == "closed")).one()
            assert closed.data["pull"] == number and closed.data["commit"] == sha
        assert issues.get_issue(s, fresh, untouched).state == OPEN


def test_who_may_merge_and_how(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    reader, writer = factory.user(), factory.user()
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, st.ref.repo.id)
        repos.set_collaborator(s, st.owner, fresh, reader, "read")
        repos.set_collaborator(s, st.owner, fresh, writer, "write")
        merge_settings.save_merge_settings(s, st.owner, fresh, allow_merge=False, default_style=SQUASH)
    with pytest.raises(PermissionDenied):
        _merge(factory, st, reader, style=SQUASH)
    stranger = factory.user()
    with pytest.raises(PermissionDenied):  # public repository: readable, not mergeable
        _merge(factory, st, stranger, style=SQUASH)
    with pytest.raises(InvalidInput):
        _merge(factory, st, writer, style=MERGE)  # not allowed here
    with pytest.raises(Conflict):
        _merge(factory, st, writer, style=SQUASH, expected_head="0" * 40)
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        pulls.set_draft(s, s.merge(st.owner), ref, pull, True)
    with pytest.raises(Conflict) as exc:
        _merge(factory, st, writer, style=SQUASH)
    assert exc.value.message == "This pull request is still a draft."
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        pulls.set_draft(s, s.merge(st.owner), ref, pull, False)
        head = pull.head_sha
    _merge(factory, st, writer, style=SQUASH, expected_head=head)


def test_private_repository_stays_invisible(git, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, private=True)
    work = diverged(git)
    git.push_to(work.path, ref, "main", "topic")
    number = open_pull(factory, owner, ref, ref)
    stranger = factory.user()
    with factory.session() as s:
        fresh, _issue, pull = load(s, ref, number)
        with pytest.raises(NotFound):
            merging.merge_pull(s, factory.settings, s.merge(stranger), fresh, pull, style=MERGE)


def test_a_push_to_the_base_during_the_merge_wins(git, factory, monkeypatch):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    real = merging.gitops.build_merge
    pushed: list[str] = []

    def build_then_someone_pushes(*args, **kwargs):  # type: ignore[no-untyped-def]
        sha = real(*args, **kwargs)
        # Another push lands on the repository's main (straight on disk: the test's transaction holds SQLite).
        pushed.append(st.work.commit({"late.txt": "late\n"}, "pushed meanwhile"))
        st.work.git("push", "-q", str(repos.path_of(factory.settings.repos_dir, st.ref)), "main")
        return sha

    monkeypatch.setattr(merging.gitops, "build_merge", build_then_someone_pushes)
    with pytest.raises(Conflict) as exc:
        _merge(factory, st, style=MERGE)
    assert exc.value.message == "The base branch moved while merging; try again."
    assert remote_sha(git, st.ref, "refs/heads/main") == pushed[0]
    with factory.session() as s:
        _ref, issue, pull = load(s, st.ref, st.number)
        assert issue.state == OPEN and pull.merged_at is None
        assert not list(s.exec(select(PushEvent).where(PushEvent.repo_id == st.ref.repo.id,
                                                       PushEvent.source == "merge")))
    monkeypatch.undo()
    _merge(factory, st, style=MERGE)  # trying again works
    assert graph(git, st.ref)[0] == f"*   Merge pull request #{st.number} from {st.owner.name}/topic"


def test_delete_and_restore_the_head_branch(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    head = remote_sha(git, st.ref, "refs/heads/topic")
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        with pytest.raises(Conflict):  # still open
            merging.delete_head_branch(s, factory.settings, s.merge(st.owner), ref, pull)
    _merge(factory, st, style=MERGE, delete_branch=True)
    assert remote_sha(git, st.ref, "refs/heads/topic") is None
    assert _events(factory, st, "branch_deleted") == [{"branch": "topic"}]
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        merging.restore_head_branch(s, factory.settings, s.merge(st.owner), ref, pull)
    assert remote_sha(git, st.ref, "refs/heads/topic") == head
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        with pytest.raises(Conflict):
            merging.restore_head_branch(s, factory.settings, s.merge(st.owner), ref, pull)
        events = list(s.exec(select(PushEvent).where(PushEvent.repo_id == st.ref.repo.id,
                                                     PushEvent.ref == "refs/heads/topic")
                             .order_by(col(PushEvent.id))))
        assert [(e.old_sha == head, e.new_sha == head) for e in events[-2:]] == [(True, False), (False, True)]
    # A branch that moved on after the merge is kept.
    st.work.git("checkout", "-q", "topic")
    st.work.commit({"more.txt": "more\n"}, "after the merge")
    git.push_to(st.work.path, st.ref, "topic")
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        with pytest.raises(Conflict):
            merging.delete_head_branch(s, factory.settings, s.merge(st.owner), ref, pull)


def _fork_setup(git, factory, *, conflict=False):  # type: ignore[no-untyped-def]
    maintainer, contributor = factory.user(), factory.user()
    base = factory.repo(maintainer)
    work = diverged(git, conflict=conflict)
    git.push_to(work.path, base, "main")
    with factory.session() as s:
        fork = repos.fork_repository(s, factory.settings.repos_dir, factory.settings.git_bin, s.merge(contributor),
                                     repos.get_repo_by_id(s, base.repo.id))
    git.push_to(work.path, fork, "topic")
    number = open_pull(factory, contributor, base, fork)
    return maintainer, contributor, base, fork, work, number


def test_merge_from_a_fork(git, factory):  # type: ignore[no-untyped-def]
    maintainer, contributor, base, fork, _work, number = _fork_setup(git, factory)
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        with pytest.raises(PermissionDenied):  # the contributor may only read the base
            merging.merge_pull(s, factory.settings, s.merge(contributor), ref, pull, style=MERGE)
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        merging.merge_pull(s, factory.settings, s.merge(maintainer), ref, pull, style=MERGE, delete_branch=True)
    assert graph(git, base)[0] == f"*   Merge pull request #{number} from {contributor.name}/topic"
    # The maintainer may not delete the contributor's branch; merged anyway, the branch stays.
    assert remote_sha(git, fork, "refs/heads/topic") is not None
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        merging.delete_head_branch(s, factory.settings, s.merge(contributor), ref, pull)
    assert remote_sha(git, fork, "refs/heads/topic") is None


def test_conflict_resolved_through_the_forge(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory, conflict=True)
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        assert pull.merge_status == CONFLICT and pull.conflicts == ["shared.txt"]
        assert merging.resolvable_in_browser(pull)
        sides = merging.conflict_file(s, factory.settings, ref, pull, "shared.txt")
        assert "<<<<<<< topic\nTWO (topic)\n=======\nTWO (main)\n>>>>>>> main\n" in sides.merged
        with pytest.raises(Conflict):
            merging.merge_pull(s, factory.settings, s.merge(st.owner), ref, pull, style=MERGE)
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        with pytest.raises(InvalidInput):
            merging.resolve_conflict(s, factory.settings, s.merge(st.owner), ref, pull, "shared.txt", sides.merged)
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        old_head = pull.head_sha
        sha = merging.resolve_conflict(s, factory.settings, s.merge(st.owner), ref, pull, "shared.txt",
                                       "one\r\nTWO (both)\r\nthree")
        assert pull.head_sha == sha and pull.merge_status == MERGEABLE and pull.commits_behind == 0
    assert remote_sha(git, st.ref, "refs/heads/topic") == sha
    assert _events(factory, st, "head_pushed") == [{"before": old_head, "after": sha, "count": 1}]
    _merge(factory, st, style=MERGE)
    clone = clone_path(git, st.ref)
    assert (clone / "shared.txt").read_bytes() == b"one\nTWO (both)\nthree\n"
    assert graph(git, st.ref)[:3] == [f"*   Merge pull request #{st.number} from {st.owner.name}/topic", "|\\",
                                      "| *   Merge branch 'main' into topic"]


def test_conflict_in_a_fork_resolved_by_a_maintainer_when_allowed(git, factory):  # type: ignore[no-untyped-def]
    maintainer, contributor, base, fork, _work, number = _fork_setup(git, factory, conflict=True)
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        pull.allow_maintainer_edit = False
        s.add(pull)
    outsider = factory.user()
    for who in (maintainer, outsider):
        with factory.session() as s:
            ref, _issue, pull = load(s, base, number)
            with pytest.raises(PermissionDenied):
                merging.resolve_conflict(s, factory.settings, s.merge(who), ref, pull, "shared.txt", "x\n")
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        pull.allow_maintainer_edit = True
        s.add(pull)
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        sha = merging.resolve_conflict(s, factory.settings, s.merge(maintainer), ref, pull, "shared.txt",
                                       "one\nfixed\nthree\n")
    assert remote_sha(git, fork, "refs/heads/topic") == sha
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        assert pull.merge_status == MERGEABLE
        fork_events = list(s.exec(select(PushEvent).where(PushEvent.repo_id == fork.repo.id,
                                                          PushEvent.new_sha == sha)))
        assert len(fork_events) == 1 and fork_events[0].pusher_id == maintainer.id


def test_update_branch_merges_the_base_into_the_head(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory)
    stranger = factory.user()
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        assert pull.commits_behind == 1
        with pytest.raises(PermissionDenied):
            merging.update_branch(s, factory.settings, s.merge(stranger), ref, pull)
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        old_head = pull.head_sha
        with pytest.raises(Conflict):  # the head the page showed is no longer the head
            merging.update_branch(s, factory.settings, s.merge(st.owner), ref, pull, expected_head="0" * 40)
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        sha = merging.update_branch(s, factory.settings, s.merge(st.owner), ref, pull, expected_head=old_head)
        assert pull.head_sha == sha and pull.commits_behind == 0 and pull.merge_status == MERGEABLE
    assert remote_sha(git, st.ref, "refs/heads/topic") == sha
    assert graph(git, st.ref, "topic")[0] == "*   Merge branch 'main' into topic"
    assert _events(factory, st, "head_pushed") == [{"before": old_head, "after": sha, "count": 1}]
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        with pytest.raises(Conflict) as already:
            merging.update_branch(s, factory.settings, s.merge(st.owner), ref, pull)
    assert already.value.message == "This branch is already up to date with %(base)s."


def test_update_branch_refuses_a_conflicting_head(git, factory):  # type: ignore[no-untyped-def]
    st = setup(git, factory, conflict=True)
    with factory.session() as s:
        ref, _issue, pull = load(s, st.ref, st.number)
        head = pull.head_sha
        with pytest.raises(Conflict) as refused:
            merging.update_branch(s, factory.settings, s.merge(st.owner), ref, pull)
    assert "resolve the conflicts first" in refused.value.message
    assert remote_sha(git, st.ref, "refs/heads/topic") == head


def test_update_branch_of_a_fork_by_a_maintainer_when_allowed(git, factory):  # type: ignore[no-untyped-def]
    maintainer, contributor, base, fork, _work, number = _fork_setup(git, factory)
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        pull.allow_maintainer_edit = False
        s.add(pull)
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        with pytest.raises(PermissionDenied):
            merging.update_branch(s, factory.settings, s.merge(maintainer), ref, pull)
        pull.allow_maintainer_edit = True
        s.add(pull)
    with factory.session() as s:
        ref, _issue, pull = load(s, base, number)
        sha = merging.update_branch(s, factory.settings, s.merge(maintainer), ref, pull)
    assert remote_sha(git, fork, "refs/heads/topic") == sha
    assert graph(git, fork, "topic", user=contributor)[0] == f"*   Merge branch 'main' into {contributor.name}:topic"
