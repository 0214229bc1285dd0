"""Code review against real repositories: review requests, line and range comments anchored to the diff, pending
reviews, verdicts, threads resolved, suggestions applied as commits, comments that follow their lines or become
outdated after a push, stale approvals dismissed, and files marked viewed."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from forge import activity
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.issues.models import IssueEvent
from forge.pulls import diffmap, outdated, review_comments, reviews, suggestions, viewed
from forge.pulls.models import APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING, PullReview
from forge.push_processing import process_pending
from forge.repos import services as repos
from tests.forge.pulls.reviewsetup import FEATURE, Pull, collaborator, feature_pull


def _git(factory, pr: Pull):  # type: ignore[no-untyped-def]
    return repos.open_git(factory.settings.repos_dir, pr.ref)


def _comment(factory, pr: Pull, actor, **kwargs):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        ref, _, pull = pr.load(s)
        return review_comments.add_review_comment(s, actor, ref, pull, git=_git(factory, pr), **kwargs)


def _wait_for_head(factory, pr: Pull, sha: str) -> None:  # type: ignore[no-untyped-def]
    """Push processing runs in the server's background after a push; run it here too and wait for the head."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        process_pending(factory.engine, factory.settings)
        with factory.session() as s:
            if pr.load(s)[2].head_sha == sha:
                return
        time.sleep(0.1)
    raise AssertionError("the pull request did not follow the push")


def _activities(session, issue_id: int, kind: str) -> list[activity.Activity]:  # type: ignore[no-untyped-def]
    return list(session.exec(select(activity.Activity).where(activity.Activity.issue_id == issue_id,
                                                             activity.Activity.kind == kind)))


def test_review_requests(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    writer = collaborator(factory, pr.ref, "write")
    reader = collaborator(factory, pr.ref, "read")
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        assert reviews.request_review(s, pr.owner, ref, pull, [writer.id, reader.id]) == [writer.id, reader.id]
        assert reviews.request_review(s, pr.owner, ref, pull, [writer.id]) == []  # already asked
        with pytest.raises(InvalidInput, match="wrote this pull request"):
            reviews.request_review(s, pr.owner, ref, pull, [pr.owner.id])
        assert [a.data["user_ids"] for a in _activities(s, issue.id, activity.PULL_REVIEW_REQUESTED)] == \
            [[writer.id, reader.id]]
    with factory.session() as s, pytest.raises(PermissionDenied):
        ref, issue, pull = pr.load(s)
        reviews.request_review(s, reader, ref, pull, [writer.id])  # neither author nor writer
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        assert reviews.remove_review_request(s, writer, ref, pull, [reader.id]) == [reader.id]
        states = {r.user.id: r.state for r in reviews.reviewer_states(s, pull)}
        assert states == {writer.id: "requested"}
        kinds = [e.kind for e in s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id))]
        assert kinds.count("review_requested") == 2 and kinds.count("review_request_removed") == 1


def test_private_repository_reviewers_must_see_it(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory, private=True)
    outsider = factory.user()
    with factory.session() as s, pytest.raises(InvalidInput, match="cannot see this repository"):
        ref, _, pull = pr.load(s)
        reviews.request_review(s, pr.owner, ref, pull, [outsider.id])
    with factory.session() as s, pytest.raises(NotFound):
        ref, _, pull = pr.load(s)
        review_comments.add_review_comment(s, outsider, ref, pull, path="ten.txt", line=3, body="hi",
                                           git=_git(factory, pr))


def test_single_comments_anchor_to_diff_lines(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    reader = collaborator(factory, pr.ref, "read")
    comment = _comment(factory, pr, reader, path="ten.txt", line=4, start_line=3, body="Why *rename* these?")
    assert comment.thread_id == comment.id and comment.side == "right" and comment.start_line == 3
    assert comment.diff_hunk.splitlines()[-2:] == ["+line three", "+line four"]
    assert comment.diff_hunk.startswith("@@ -1,")
    # Left side: the old version of a rewritten line.
    left = _comment(factory, pr, reader, path="ten.txt", line=3, side="left", body="was fine")
    assert left.diff_hunk.splitlines()[-1] == "-line 3"

    with pytest.raises(InvalidInput, match="not part of the diff"):
        _comment(factory, pr, reader, path="ten.txt", line=50, body="x")
    with pytest.raises(InvalidInput, match="not among the changed files"):
        _comment(factory, pr, reader, path="README.md", line=1, body="x")
    with pytest.raises(Conflict, match="New commits"):
        _comment(factory, pr, reader, path="ten.txt", line=4, body="x", commit_sha="0" * 40)
    with pytest.raises(InvalidInput, match="empty"):
        _comment(factory, pr, reader, path="ten.txt", line=4, body="  ")

    bystander = collaborator(factory, pr.ref, "read")
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        single = s.get(PullReview, comment.review_id)
        assert single.state == COMMENTED and single.submitted_at is not None and single.reviewer_id == reader.id
        assert len(_activities(s, issue.id, activity.PULL_REVIEW_COMMENTED)) == 2
        reply = review_comments.add_review_comment(s, pr.owner, ref, pull, body="Clearer names", in_reply_to=comment.id)
        assert reply.thread_id == comment.id and reply.line == 4 and reply.review_id is None
        threads = review_comments.threads(s, pull, None)
        assert [(t.id, [c.id for c in t.comments]) for t in threads] == \
            [(comment.id, [comment.id, reply.id]), (left.id, [left.id])]
        # The thread's author (a reader) may resolve it; another reader may not.
        review_comments.resolve_thread(s, reader, ref, pull, comment.id, True)
        with pytest.raises(PermissionDenied):
            review_comments.resolve_thread(s, bystander, ref, pull, comment.id, False)
        review_comments.resolve_thread(s, pr.owner, ref, pull, comment.id, False)
        review_comments.resolve_thread(s, pr.owner, ref, pull, comment.id, True)
        assert review_comments.threads(s, pull, None)[0].resolved


def test_pending_review_is_private_until_submitted_and_verdict_rules(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    writer = collaborator(factory, pr.ref, "write")
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        reviews.request_review(s, pr.owner, ref, pull, [writer.id])
        review = reviews.pending_review(s, writer, pull, create=True)
        draft = review_comments.add_review_comment(s, writer, ref, pull, path="notes.md", line=1, body="typo @" +
                                           pr.owner.name, review_id=review.id, git=_git(factory, pr))
        assert [t.id for t in review_comments.threads(s, pull, writer)] == [draft.id]
        assert review_comments.threads(s, pull, writer)[0].pending == {draft.id}
        assert review_comments.threads(s, pull, pr.owner) == [] and review_comments.threads(s, pull, None) == []
        assert reviews.pending_count(s, review) == 1
        assert not _activities(s, issue.id, activity.PULL_REVIEW_COMMENTED)

        with pytest.raises(PermissionDenied, match="approve your own"):
            reviews.submit_review(s, pr.owner, ref, pull, state=APPROVED)
        with pytest.raises(PermissionDenied, match="request changes on your own"):
            reviews.submit_review(s, pr.owner, ref, pull, state=CHANGES_REQUESTED)
        with pytest.raises(InvalidInput, match="Write a comment"):
            reviews.submit_review(s, pr.owner, ref, pull, state=COMMENTED, body=" ")

        submitted = reviews.submit_review(s, writer, ref, pull, state=CHANGES_REQUESTED, body="Please fix")
        assert submitted.id == review.id and submitted.state == CHANGES_REQUESTED
        assert submitted.commit_sha == pull.head_sha
        assert [t.id for t in review_comments.threads(s, pull, None)] == [draft.id]
        assert reviews.requested_reviewer_ids(s, pull) == []  # the request is answered
        reviewed = _activities(s, issue.id, activity.PULL_REVIEWED)
        assert [a.data for a in reviewed] == [{"review_id": review.id, "state": CHANGES_REQUESTED}]
        mentioned = _activities(s, issue.id, activity.ISSUE_MENTIONED)
        assert mentioned and mentioned[-1].data["user_ids"] == [pr.owner.id]

        # A later "comment" does not undo the verdict; a later approval does.
        reviews.submit_review(s, writer, ref, pull, state=COMMENTED, body="one more thing")
        assert reviews.latest_reviews(s, pull)[writer.id].state == CHANGES_REQUESTED
        reviews.submit_review(s, writer, ref, pull, state=APPROVED)
        assert reviews.latest_reviews(s, pull)[writer.id].state == APPROVED
        assert [(r.user.id, r.state) for r in reviews.reviewer_states(s, pull)] == [(writer.id, APPROVED)]

        # Discarding a pending review drops its comments.
        again = reviews.pending_review(s, writer, pull, create=True)
        review_comments.add_review_comment(s, writer, ref, pull, path="notes.md", line=1, body="hmm",
                                           review_id=again.id, git=_git(factory, pr))
        assert reviews.discard_pending(s, writer, pull) == 1
        assert reviews.pending_review(s, writer, pull) is None
        assert len(review_comments.threads(s, pull, writer)) == 1
        assert not s.exec(select(PullReview).where(PullReview.state == PENDING,
                                                   PullReview.pull_id == pull.id)).first()


def test_suggestion_applied_as_a_commit_on_the_head(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    reader = collaborator(factory, pr.ref, "read")
    body = "Use digits:\n\n```suggestion\nline 3\nline 4 (four)\n```\n"
    comment = _comment(factory, pr, reader, path="ten.txt", start_line=3, line=4, body=body)
    assert diffmap.suggestion_of(comment.body) == "line 3\nline 4 (four)\n"
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        before = pull.head_sha
        with pytest.raises(PermissionDenied):
            suggestions.apply_suggestion(s, factory.settings, reader, ref, pull, comment.id)
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        sha = suggestions.apply_suggestion(s, factory.settings, pr.owner, ref, pull, comment.id)
        assert pull.head_sha == sha  # the pull request follows at once
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        git_repo = _git(factory, pr)
        assert git_repo.ref_target("refs/heads/feature") == sha
        assert git_repo.read_blob_at(sha, "ten.txt").decode() == \
            FEATURE.replace("line three\nline four\n", "line 3\nline 4 (four)\n")
        from forge.git.history import History

        commit = History(git_repo).commit(sha)
        assert commit.parents == (before,) and commit.summary == "Apply suggestion to ten.txt"
        stored = review_comments.get_comment(s, pull, comment.id, None)
        assert stored.suggestion_applied_sha == sha and review_comments.threads(s, pull, None)[0].resolved
        kinds = [e.kind for e in s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id))]
        assert "head_pushed" in kinds
        with pytest.raises(Conflict, match="already applied"):
            suggestions.apply_suggestion(s, factory.settings, pr.owner, ref, pull, comment.id)
        plain = review_comments.add_review_comment(s, reader, ref, pull, path="notes.md", line=1,
                                                   body="no suggestion", git=git_repo)
        with pytest.raises(InvalidInput, match="suggests no change"):
            suggestions.apply_suggestion(s, factory.settings, pr.owner, ref, pull, plain.id)


def test_push_moves_comments_or_marks_them_outdated_and_dismisses_stale_approvals(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    writer = collaborator(factory, pr.ref, "write")
    moved = _comment(factory, pr, writer, path="ten.txt", line=9, body="after the insert")  # "line 8b"
    changed = _comment(factory, pr, writer, path="ten.txt", line=4, start_line=3, body="rename?")
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        reviews.submit_review(s, writer, ref, pull, state=APPROVED)
        from forge.repos import protection

        protection.save_rule(s, pr.owner, ref, pattern="main", dismiss_stale_approvals=True)

    # New head: two lines inserted at the top, lines 3-4 changed again, 8b untouched.
    pr.work.git("checkout", "-q", "feature")
    new = "top 1\ntop 2\n" + FEATURE.replace("line three\n", "line THREE\n")
    pr.work.commit({"ten.txt": new}, "second round")
    git.push_to(pr.work.path, pr.ref, "feature")
    _wait_for_head(factory, pr, pr.work.head())
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        stay = review_comments.get_comment(s, pull, moved.id, None)
        assert (stay.line, stay.outdated, stay.commit_sha) == (11, False, pull.head_sha)
        assert stay.original_line == 9
        gone = review_comments.get_comment(s, pull, changed.id, None)
        assert gone.outdated and gone.line == 4 and gone.diff_hunk.endswith("+line four")
        assert reviews.latest_reviews(s, pull)[writer.id].state == DISMISSED
        events = [e for e in s.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id))]
        dismissed = [e.data for e in events if e.kind == "review_dismissed"]
        assert dismissed and dismissed[0]["reviewer"] == writer.name
        # refresh_outdated is idempotent for a head that did not move.
        assert outdated.refresh_outdated(s, _git(factory, pr), pull, pull.head_sha, pull.head_sha) == 0


def test_viewed_files_reset_when_the_blob_changes(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    reader = collaborator(factory, pr.ref, "read")
    with factory.session() as s:
        ref, issue, pull = pr.load(s)
        blobs = diffmap.blob_ids(_git(factory, pr), pull.head_sha, ["ten.txt", "notes.md", "missing"])
        assert set(blobs) == {"ten.txt", "notes.md"}
        viewed.set_viewed(s, reader, pull, "ten.txt", blobs["ten.txt"], True)
        viewed.set_viewed(s, reader, pull, "notes.md", blobs["notes.md"], True)
        assert viewed.viewed_paths(s, reader, pull, blobs) == {"ten.txt", "notes.md"}
        assert viewed.viewed_paths(s, pr.owner, pull, blobs) == set()
        viewed.set_viewed(s, reader, pull, "notes.md", blobs["notes.md"], False)
        assert viewed.viewed_paths(s, reader, pull, blobs) == {"ten.txt"}
        assert viewed.viewed_paths(s, reader, pull, {**blobs, "ten.txt": "0" * 40}) == set()


def test_maintainers_apply_suggestions_to_a_forks_head_when_its_author_allows(git, factory):  # type: ignore[no-untyped-def]
    from tests.forge.pulls.reviewsetup import feature_work, open_pull

    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    work = feature_work(git)
    git.push_to(work.path, ref, "main")
    with factory.session() as s:
        fork = repos.fork_repository(s, factory.settings.repos_dir, "git", bob, repos.get_repo_by_id(s, ref.repo.id))
    git.push_to(work.path, fork, "feature", user=bob)
    pr = Pull(bob, ref, work, open_pull(factory, bob, ref, fork))
    comment = _comment(factory, pr, alice, path="notes.md", line=1, body="```suggestion\nbetter notes\n```")
    with factory.session() as s:
        ref_now, _, pull = pr.load(s)
        pull.allow_maintainer_edit = False
        assert not suggestions.may_apply(s, alice, pull) and suggestions.may_apply(s, bob, pull)
        with pytest.raises(PermissionDenied):
            suggestions.apply_suggestion(s, factory.settings, alice, ref_now, pull, comment.id)
    with factory.session() as s:
        ref_now, _, pull = pr.load(s)
        pull.allow_maintainer_edit = True  # the default
        sha = suggestions.apply_suggestion(s, factory.settings, alice, ref_now, pull, comment.id)
    fork_git = repos.open_git(factory.settings.repos_dir, fork)
    assert fork_git.ref_target("refs/heads/feature") == sha
    assert fork_git.read_blob_at(sha, "notes.md") == b"better notes\n"
    assert _git(factory, pr).ref_target(f"refs/pull/{pr.number}/head") == sha


def test_edit_and_delete_review_comments(git, factory):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    reader = collaborator(factory, pr.ref, "read")
    other = collaborator(factory, pr.ref, "read")
    root = _comment(factory, pr, reader, path="notes.md", line=1, body="first")
    with factory.session() as s:
        ref, _, pull = pr.load(s)
        reply = review_comments.add_review_comment(s, other, ref, pull, body="second", in_reply_to=root.id)
        edited = review_comments.edit_review_comment(s, reader, ref, pull, root.id, "first, edited")
        assert edited.body == "first, edited"
        with pytest.raises(PermissionDenied):
            review_comments.edit_review_comment(s, other, ref, pull, root.id, "not mine")
        with pytest.raises(PermissionDenied):
            review_comments.delete_review_comment(s, other, ref, pull, root.id)
        # The owner (write access) deletes the first comment: the reply carries the thread on, in the same review.
        review_comments.delete_review_comment(s, pr.owner, ref, pull, root.id)
        threads = review_comments.threads(s, pull, None)
        assert [(t.id, [c.body for c in t.comments]) for t in threads] == [(reply.id, ["second"])]
        assert threads[0].root.review_id == root.review_id and threads[0].root.path == "notes.md"
        review_comments.delete_review_comment(s, other, ref, pull, reply.id)
        assert review_comments.threads(s, pull, None) == []
        # The one-comment review went with its last comment.
        assert s.get(PullReview, root.review_id) is None
        with pytest.raises(NotFound):
            review_comments.delete_review_comment(s, other, ref, pull, reply.id)
