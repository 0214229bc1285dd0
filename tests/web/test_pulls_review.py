"""Reviewing on the files tab without script, as a browser does: a line form opened by the "+" link, a multi-line
comment with a suggestion applied by the author, replies and resolving, a pending review finished with a verdict,
the author refused an approval of their own pull request, "viewed" ticks, outdated comments after a push."""

from __future__ import annotations

import re
import time

from forge.pulls import services as pulls
from forge.push_processing import process_pending
from forge.repos import services as repos
from tests.factories import PASSWORD
from tests.forge.pulls.reviewsetup import FEATURE, collaborator, feature_pull


def _flash(page: str) -> str:
    match = re.search(r'class="flash flash-\w+"[^>]*>([^<]*)<', page)
    return match.group(1).strip() if match else ""


def _threads(page: str) -> list[str]:
    return re.findall(r'class="review-thread[^"]*" id="thread-(\d+)"', page)


def test_line_comment_with_a_suggestion_applied_by_the_author(git, factory, web):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    reader = collaborator(factory, pr.ref, "read")
    files_url = f"/{pr.ref.full_name}/pulls/{pr.number}/files"
    web.login(reader.name, PASSWORD)

    page = web.get(files_url)
    assert page.status_code == 200
    # Each line offers a "+" that opens the form under it without script.
    assert f'href="{files_url}?c=2R4#diff-2R4"' in page.text
    opened = web.get(f"{files_url}?c=2R4")
    assert 'class="comment-row form-row"' in opened.text and 'name="path" value="ten.txt"' in opened.text
    assert 'name="line" value="4"' in opened.text and "Start a review" in opened.text

    body = "Digits, please:\n\n```suggestion\nline 3\nline 4\n```\n"
    posted = web.submit(f"{files_url}?c=2R4", f"/{pr.ref.full_name}/pulls/{pr.number}/files/comments",
                        {"path": "ten.txt", "side": "right", "line": "4", "start_line": "3", "body": body,
                         "mode": "single", "back": files_url, "commit_sha": ""})
    assert posted.status_code == 303, posted.text[:800]
    thread_id = posted.headers["location"].rsplit("#thread-", 1)[1]
    page = web.get(files_url)
    assert _threads(page.text) == [thread_id]
    assert "lines 3 to 4" in page.text and "Digits, please:" in page.text and "Suggested change" in page.text
    assert '<tr class="del"><td class="code">-line three</td></tr>' in page.text
    assert '<tr class="add"><td class="code">+line 3</td></tr>' in page.text
    assert "Apply suggestion" not in page.text  # a reader cannot push to the head branch
    split = web.get(f"{files_url}?style=split")
    assert '<table class="diff split reviewable"' in split.text and _threads(split.text) == [thread_id]
    refused = web.post(f"/{pr.ref.full_name}/pulls/{pr.number}/comments/{thread_id}/apply", {"back": files_url})
    assert _flash(web.follow(refused).text) == "You do not have permission to do this in this repository."

    # A line outside the diff is refused with the form kept.
    bad = web.post(f"/{pr.ref.full_name}/pulls/{pr.number}/files/comments",
                   {"path": "ten.txt", "side": "right", "line": "60", "body": "far away", "mode": "single"})
    assert bad.status_code == 422 and "Those lines are not part of the diff." in bad.text

    with web.as_user(pr.owner.name, PASSWORD) as owner:
        page = owner.get(files_url)
        assert "Apply suggestion" in page.text
        applied = owner.submit(files_url, f"/{pr.ref.full_name}/pulls/{pr.number}/comments/{thread_id}/apply",
                               {"back": files_url})
        assert applied.status_code == 303
        page = owner.follow(applied)
        assert _flash(page.text).startswith("Suggestion applied in ")
        sha = _flash(page.text).removeprefix("Suggestion applied in ").rstrip(".")
        assert re.search(rf"Applied in <a [^>]*><code>{sha}", page.text)
        assert "badge-resolved" in page.text  # applying resolves the conversation
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, pr.ref.repo.id)
        _, pull = pulls.get_pull(s, fresh, pr.number)
        assert pull.head_sha.startswith(sha)
        content = repos.open_git(factory.settings.repos_dir, fresh).read_blob_at("feature", "ten.txt").decode()
        assert content == FEATURE.replace("line three\nline four\n", "line 3\nline 4\n")


def test_pending_review_replies_resolve_and_verdicts(git, factory, web):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    writer = collaborator(factory, pr.ref, "write")
    base = f"/{pr.ref.full_name}/pulls/{pr.number}"
    web.login(writer.name, PASSWORD)
    started = web.submit(f"{base}/files?c=1R1", f"{base}/files/comments",
                         {"path": "notes.md", "side": "right", "line": "1", "body": "Say more here",
                          "mode": "review", "back": f"{base}/files"})
    assert started.status_code == 303
    page = web.follow(started)
    assert "Comment added to your review." in page.text
    assert "Finish your review (1 pending comment)" in page.text and "badge-pending" in page.text
    with web.as_user(pr.owner.name, PASSWORD) as owner:
        assert "Say more here" not in owner.get(f"{base}/files").text  # pending: only its writer sees it

    done = web.submit(f"{base}/files", f"{base}/reviews", {"verdict": "approve", "body": "Looks good",
                                                           "back": f"{base}/files"})
    assert done.status_code == 303 and done.headers["location"] == base
    page = web.follow(done)
    assert "Your review was submitted." in page.text
    assert re.search(rf"<strong>{writer.name}</strong>\s*<span class=\"verdict verdict-approved\">", page.text)
    assert "Looks good" in page.text and "Say more here" in page.text
    assert "✓ approved" in page.text  # the sidebar's reviewers

    with web.as_user(pr.owner.name, PASSWORD) as owner:
        page = owner.get(base)
        thread_id = _threads(page.text)[0]
        own = owner.submit(base, f"{base}/reviews", {"verdict": "approve", "back": base})
        assert _flash(owner.follow(own).text) == "You cannot approve your own pull request."
        replied = owner.submit(base, f"{base}/files/comments", {"in_reply_to": thread_id, "body": "Done, thanks",
                                                                "mode": "single", "back": base})
        assert replied.status_code == 303 and replied.headers["location"] == f"{base}#thread-{thread_id}"
        resolved = owner.submit(base, f"{base}/threads/{thread_id}/resolve", {"resolved": "1", "back": base})
        page = owner.follow(resolved)
        assert "Done, thanks" in page.text
        assert re.search(rf'class="review-thread resolved" id="thread-{thread_id}"', page.text)
        assert "Unresolve conversation" in page.text

        # The reply's author edits it; reactions on review comments toggle through the endpoint.
        reply_id = re.findall(r'id="review-comment-(\d+)"', page.text)[-1]
        edited = owner.submit(base, f"{base}/comments/{reply_id}/edit", {"body": "Done, thanks!", "back": base})
        page = owner.follow(edited)
        assert "Done, thanks!" in page.text and ">edited<" in page.text
        reacted = owner.submit(base, f"/{pr.ref.full_name}/issues/{pr.number}/reactions",
                               {"subject": "review_comment", "comment_id": reply_id, "content": "heart"})
        assert reacted.status_code == 303
        page = owner.get(base)
        assert re.search(rf'name="comment_id" value="{reply_id}">\s*<button type="submit" name="content" '
                         r'value="heart" class="reaction mine"', page.text)
        deleted = owner.submit(base, f"{base}/comments/{reply_id}/delete", {"back": base})
        assert "Comment deleted." in owner.follow(deleted).text
        assert "Done, thanks!" not in owner.get(base).text


def test_viewed_ticks_and_outdated_comments_after_a_push(git, factory, web):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory)
    base = f"/{pr.ref.full_name}/pulls/{pr.number}"
    web.login(pr.owner.name, PASSWORD)
    page = web.get(f"{base}/files")
    blob = re.search(r'name="path" value="notes.md">\s*<input type="hidden" name="blob" value="([0-9a-f]+)"',
                     page.text).group(1)
    ticked = web.submit(f"{base}/files", f"{base}/files/viewed", {"path": "notes.md", "blob": blob, "viewed": "1",
                                                                  "back": f"{base}/files"})
    page = web.follow(ticked)
    assert '<details class="diff-file pull-file viewed" id="diff-1">' in page.text  # folded
    assert "1 of 2 files viewed" in page.text
    web.submit(f"{base}/files?c=2R3", f"{base}/files/comments",
               {"path": "ten.txt", "side": "right", "line": "3", "body": "three?", "mode": "single"})

    # A push changes both files: the tick goes, the comment is kept as outdated with its code.
    pr.work.git("checkout", "-q", "feature")
    head = pr.work.commit({"notes.md": "more notes\n", "ten.txt": FEATURE.replace("line three", "line 3!")},
                          "again")
    git.push_to(pr.work.path, pr.ref, "feature")
    deadline = time.monotonic() + 20
    while f"/commit/{head}" not in web.get(f"{base}/commits").text:
        assert time.monotonic() < deadline, "the pull request did not follow the push"
        process_pending(factory.engine, factory.settings)
        time.sleep(0.1)
    page = web.get(f"{base}/files")
    assert "files viewed" not in page.text and "pull-file viewed" not in page.text
    assert "1 outdated conversation" in page.text and "three?" in page.text
    conversation = web.get(base)
    assert "badge-outdated" in conversation.text
    assert '<td class="code">+line three</td>' in conversation.text  # the original hunk
