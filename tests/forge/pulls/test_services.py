"""Opening, finding and listing pull requests, and their draft state, against real repositories on the live
server (branches pushed with real git; forks made by the fork service)."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from forge import activity
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.issues import metadata
from forge.issues import services as issues
from forge.issues.models import IssueEvent
from forge.pulls import services as pulls
from forge.pulls.models import MERGEABLE
from forge.repos import services as repos
from tests.factories import unique
from tests.forge.pulls.reviewsetup import collaborator, feature_pull, feature_work, open_pull


def _kinds(session, issue_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.kind for a in session.exec(select(activity.Activity).where(activity.Activity.issue_id == issue_id))]


def test_open_from_a_branch_shares_numbers_copies_the_head_and_computes_mergeability(git, factory):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = feature_work(git)
    git.push_to(work.path, ref, "main", "feature")
    with factory.session() as s:
        first = issues.create_issue(s, alice, repos.get_repo_by_id(s, ref.repo.id), title="A bug")
        assert first.number == 1
    number = open_pull(factory, alice, ref, title="  Add notes  ", body="Fixes #1")
    assert number == 2  # one sequence for issues and pull requests

    feature_sha = work.git("rev-parse", "feature")
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        issue, pull = pulls.get_pull(s, fresh, 2)
        assert issue.is_pull and issue.title == "Add notes" and issue.body == "Fixes #1"
        assert pull.head_sha == feature_sha and pull.base_branch == "main" and pull.head_branch == "feature"
        assert pull.merge_status == MERGEABLE and pull.commits_behind == 0
        assert pull.merge_base == work.git("rev-parse", "main")
        assert activity.PULL_OPENED in _kinds(s, issue.id)
        assert activity.ISSUE_OPENED not in _kinds(s, issue.id)
        git_repo = repos.open_git(factory.settings.repos_dir, fresh)
        assert git_repo.ref_target("refs/pull/2/head") == feature_sha
        assert pulls.pull_for_issue(s, issue.id).id == pull.id
        with pytest.raises(NotFound):
            pulls.get_pull(s, fresh, 1)  # an issue, not a pull request


def test_refusals_nothing_to_merge_duplicates_bad_branches_and_strangers(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory, private=True)
    pr.work.git("branch", "same", "main")
    git.push_to(pr.work.path, pr.ref, "same")

    with pytest.raises(InvalidInput, match="already contains every commit"):
        open_pull(factory, pr.owner, pr.ref, head_branch="same")
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, pr.ref.repo.id)
        # The failed attempt left no ref behind and gave out no number.
        assert repos.open_git(factory.settings.repos_dir, fresh).ref_target("refs/pull/2/head") is None
    with pytest.raises(Conflict, match=f"#{pr.number} already proposes"):
        open_pull(factory, pr.owner, pr.ref)
    with pytest.raises(InvalidInput, match="no branch “nope” to merge from"):
        open_pull(factory, pr.owner, pr.ref, head_branch="nope")
    with pytest.raises(InvalidInput, match="no branch “gone” to merge into"):
        open_pull(factory, pr.owner, pr.ref, base_branch="gone")
    with pytest.raises(InvalidInput, match="cannot be merged into itself"):
        open_pull(factory, pr.owner, pr.ref, head_branch="main")
    with pytest.raises(InvalidInput, match="needs a title"):
        open_pull(factory, pr.owner, pr.ref, head_branch="same", title="   ")
    stranger = factory.user()
    with pytest.raises(NotFound):
        open_pull(factory, stranger, pr.ref, head_branch="same")
    # The next pull request gets the next number: the refused ones gave none out.
    pr.work.commit({"x.txt": "x\n"}, "x")
    git.push_to(pr.work.path, pr.ref, "main:other")
    assert open_pull(factory, pr.owner, pr.ref, head_branch="other") == pr.number + 1


def test_open_from_a_fork_of_a_fork_into_the_root(git, factory):  # type: ignore[no-untyped-def]
    alice, bob, carol = factory.user(), factory.user(), factory.user()
    ref = factory.repo(alice)
    work = feature_work(git)
    git.push_to(work.path, ref, "main")
    with factory.session() as s:
        source = repos.get_repo_by_id(s, ref.repo.id)
        bob_fork = repos.fork_repository(s, factory.settings.repos_dir, "git", bob, source)
    with factory.session() as s:
        carol_fork = repos.fork_repository(s, factory.settings.repos_dir, "git", carol,
                                           repos.get_repo_by_id(s, bob_fork.repo.id))
    git.push_to(work.path, carol_fork, "feature", user=carol)
    number = open_pull(factory, carol, ref, carol_fork)
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        issue, pull = pulls.get_pull(s, fresh, number)
        assert pull.head_repo_id == carol_fork.repo.id and pull.base_repo_id == ref.repo.id
        assert issue.author_id == carol.id
        assert repos.open_git(factory.settings.repos_dir, fresh).ref_target(f"refs/pull/{number}/head") == \
            work.git("rev-parse", "feature")
        # GitHub's head syntax names the fork by its owner.
        head, branch = pulls.resolve_head(s, carol, fresh, f"{carol.name}:feature")
        assert head.repo.id == carol_fork.repo.id and branch == "feature"
        assert pulls.resolve_head(s, carol, fresh, "feature")[0].repo.id == ref.repo.id
        with pytest.raises(NotFound):
            pulls.resolve_head(s, carol, fresh, f"{unique('nobody')}:feature")
        # The form offers the base and the viewer's forks; a fork's form also offers its parent.
        offered = [r.repo.id for r in pulls.head_repositories(s, carol, fresh)]
        assert offered == [ref.repo.id, carol_fork.repo.id]
        in_fork = [r.repo.id for r in pulls.head_repositories(s, carol, repos.get_repo_by_id(s, carol_fork.repo.id))]
        assert in_fork == [carol_fork.repo.id, bob_fork.repo.id]
        assert pulls.head_label(fresh, repos.get_repo_by_id(s, carol_fork.repo.id), "feature") == \
            f"{carol.name}:feature"

    # A repository outside the network cannot be the head.
    other = factory.repo(carol)
    git.push_to(work.path, other, "main", "feature", user=carol)
    with pytest.raises(InvalidInput, match="one of its forks"):
        open_pull(factory, carol, ref, other)


def test_reviewers_labels_and_assignees_kept_only_from_triagers(git, factory):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = feature_work(git)
    git.push_to(work.path, ref, "main", "feature", "feature:second")
    reader = collaborator(factory, ref, "read")
    writer = collaborator(factory, ref, "write")
    with factory.session() as s:
        from forge.issues import labels

        label = labels.create_label(s, alice, ref=repos.get_repo_by_id(s, ref.repo.id), name="bug", color="#ff0000")
        label_id = label.id
    number = open_pull(factory, alice, ref, reviewer_ids=[writer.id], label_ids=[label_id], assignee_ids=[writer.id])
    second = open_pull(factory, reader, ref, head_branch="second", reviewer_ids=[writer.id], label_ids=[label_id])
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        issue, pull = pulls.get_pull(s, fresh, number)
        assert [x.name for x in metadata.labels_of(s, [issue.id])[issue.id]] == ["bug"]
        assert [x.id for x in metadata.assignees_of(s, [issue.id])[issue.id]] == [writer.id]
        from forge.pulls import reviews

        assert reviews.requested_reviewer_ids(s, pull) == [writer.id]
        events = [e.kind for e in s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id))]
        assert "review_requested" in events
        issue2, pull2 = pulls.get_pull(s, fresh, second)
        assert metadata.labels_of(s, [issue2.id])[issue2.id] == []  # a reader's labels are ignored
        assert reviews.requested_reviewer_ids(s, pull2) == [writer.id]  # the author may ask for reviews


def test_list_filters_and_pages(git, factory):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = feature_work(git)
    branches = [f"f{n}" for n in range(4)]
    for b in branches:
        work.git("branch", b, "feature")
    git.push_to(work.path, ref, "main", *branches)
    bob = collaborator(factory, ref, "write")
    numbers = [open_pull(factory, alice if n % 2 == 0 else bob, ref, head_branch=b, title=f"Change {b}",
                         draft=(n == 3), reviewer_ids=[bob.id] if n == 0 else [])
               for n, b in enumerate(branches)]
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        issue, _ = pulls.get_pull(s, fresh, numbers[1])
        issues.close_issue(s, alice, fresh, issue)

        page = pulls.list_pulls(s, fresh)
        assert [r.issue.number for r in page.items] == [numbers[3], numbers[2], numbers[0]]
        assert (page.open_count, page.closed_count, page.total) == (3, 1, 3)
        assert [r.state for r in page.items] == ["draft", "open", "open"]
        closed = pulls.list_pulls(s, fresh, state=pulls.STATE_CLOSED)
        assert [r.issue.number for r in closed.items] == [numbers[1]] and closed.items[0].state == "closed"
        assert pulls.list_pulls(s, fresh, state=pulls.STATE_MERGED).items == []
        assert len(pulls.list_pulls(s, fresh, state=pulls.STATE_ALL).items) == 4
        by_bob = pulls.list_pulls(s, fresh, state=pulls.STATE_ALL, author=bob.name)
        assert [r.issue.number for r in by_bob.items] == [numbers[3], numbers[1]]
        asked = pulls.list_pulls(s, fresh, review_requested_id=bob.id)
        assert [r.issue.number for r in asked.items] == [numbers[0]]
        assert [r.issue.number for r in pulls.list_pulls(s, fresh, query="change f2").items] == [numbers[2]]
        paged = pulls.list_pulls(s, fresh, state=pulls.STATE_ALL, per_page=3, page=2)
        assert paged.pages == 2 and [r.issue.number for r in paged.items] == [numbers[0]] and not paged.has_next


def test_draft_ready_and_back_by_author_or_writer_only(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory, draft=True)
    reader = collaborator(factory, pr.ref, "read")
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        assert pull.is_draft and pulls.state_of(issue, pull) == "draft"
        with pytest.raises(PermissionDenied):
            pulls.set_draft(s, reader, ref, pull, False)
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        pulls.set_draft(s, pr.owner, ref, pull, False)
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        assert not pull.is_draft
        assert activity.PULL_READY in _kinds(s, issue.id)
        pulls.set_draft(s, pr.owner, ref, pull, True)
        kinds = [e.kind for e in s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id)
                                          .order_by(col(IssueEvent.id)))]
        assert kinds[-2:] == ["ready_for_review", "converted_to_draft"]
