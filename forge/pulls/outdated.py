"""Review threads following their lines when the head of a pull request moves: each thread is mapped through the
new commits to where its lines are now, or marked outdated when those lines changed or left the diff.

Called by forge.pulls.sync after new commits. It is git line mapping with no user and no permission rules, which is
why it is not with the comment services.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from forge.errors import NotFound
from forge.git.history import History
from forge.git.repository import GitRepo
from forge.pulls import diffmap, gitops
from forge.pulls.models import PullRequest, ReviewComment


def refresh_outdated(session: Session, git: GitRepo, pull: PullRequest, old_head: str, new_head: str) -> int:
    """After the head moved from ``old_head`` to ``new_head`` (``git`` is the base repository, which has both):
    move each thread's lines to where they are now, or mark it outdated when those lines changed or left the
    diff. Outdated comments are kept with their original hunk. Returns how many threads became outdated."""
    if not old_head or old_head == new_head:
        return 0
    roots = list(session.exec(select(ReviewComment).where(ReviewComment.pull_id == pull.id,
                                                          col(ReviewComment.outdated).is_(False))))
    by_thread: dict[int, list[ReviewComment]] = {}
    for comment in roots:
        by_thread.setdefault(comment.thread_id or comment.id or 0, []).append(comment)
    if not by_thread:
        return 0
    history = History(git)
    base_tip = git.ref_target(f"refs/heads/{pull.base_branch}") or pull.base_sha
    merge_base = history.merge_base(base_tip, new_head) if base_tip else None
    files: dict[str, diffmap.FileDiff | None] = {}

    def file_of(path: str) -> diffmap.FileDiff | None:
        if path not in files:
            try:
                diff = diffmap.pull_diff(git, merge_base or "", new_head, path=path)
                files[path] = diffmap.find_file(diff, path)
            except NotFound:
                files[path] = None
        return files[path]

    outdated = 0
    for thread_id, comments in by_thread.items():
        root = next((c for c in comments if c.id == thread_id), comments[0])
        moved = _moved(git, root, old_head, new_head, pull.merge_base, merge_base or "")
        file = file_of(root.path) if moved is not None else None
        if moved is not None and file is not None and diffmap.commentable(file, root.side, moved[0], moved[1]):
            start, end = moved
            for comment in comments:
                comment.start_line = start if comment.start_line is not None else None
                comment.line = end
                comment.commit_sha = new_head
                session.add(comment)
            continue
        outdated += 1
        for comment in comments:
            comment.outdated = True
            session.add(comment)
    # Replies added to an outdated thread later copy its flag; nothing else to do here.
    session.flush()
    return outdated


def _moved(git: GitRepo, comment: ReviewComment, old_head: str, new_head: str, old_base: str,
           new_base: str) -> tuple[int, int] | None:
    """Where a comment's first and last lines are now; None when any of them changed. Lines of the right side
    follow the heads; lines of the left side (the merge base's) follow the merge bases."""
    if comment.side == diffmap.LEFT:
        since, until = old_base, new_base
        if not since or not until:
            return None
    else:
        since, until = comment.commit_sha or old_head, new_head
    end = gitops.map_line(git, since, until, comment.path, comment.line, comment.side)
    if end is None:
        return None
    if comment.start_line is None:
        return end, end
    start = gitops.map_line(git, since, until, comment.path, comment.start_line, comment.side)
    if start is None or start > end:
        return None
    return start, end
