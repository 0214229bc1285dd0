"""Merging a pull request, deleting and restoring its head branch, and writing to the head branch on the author's
behalf (a conflict resolved in the browser and "Update branch" here; forge.pulls.suggestions
moves it the same way for an applied suggestion).

Every branch move is a compare-and-swap (``git update-ref <ref> <new> <old>``): a push that lands between the
forge's check and its update makes the operation fail with "try again" instead of losing that push. The database
work is done (flushed) before the ref moves, so a refused swap rolls all of it back with the caller's transaction;
the ref update is recorded as a push event in that same transaction (source "merge"), so CI builds the merged
branch and the push processing recomputes the other pull requests on that base.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from forge import activity
from forge.accounts.models import Account
from forge.accounts.users import primary_email
from forge.db.models_base import utcnow
from forge.errors import Conflict, ForgeError, InvalidInput, NotFound, PermissionDenied
from forge.git.repository import ZERO_SHA, GitRepo
from forge.i18n import N_
from forge.issues.models import CLOSED, MERGED, Issue
from forge.permissions import Access, repo_access, require_repo_access
from forge.pulls import gate, gitops, sync
from forge.pulls import settings as merge_settings
from forge.pulls.models import CONFLICT, MERGE, MERGE_STYLES, SQUASH, PullRequest
from forge.repos.protection import check_ref_update
from forge.repos.pushes import RefUpdate, record_push
from forge.repos.services import RepoRef, get_repo_by_id, open_git
from forge.settings import Settings

log = logging.getLogger("forge.pulls")

MAX_TITLE = 255


def identity(session: Session, account: Account) -> gitops.Identity:
    """The name and address commits written for ``account`` carry."""
    return (account.display_name or account.name,
            primary_email(session, account) or f"{account.name}@users.noreply")


def _issue(session: Session, pull: PullRequest) -> Issue:
    issue = session.get(Issue, pull.issue_id)
    assert issue is not None
    return issue


def head_repo(session: Session, pull: PullRequest) -> RepoRef | None:
    return get_repo_by_id(session, pull.head_repo_id) if pull.head_repo_id is not None else None


def head_label(session: Session, pull: PullRequest) -> str:
    """``owner/branch`` as merge commit messages name the head (GitHub's wording)."""
    head = head_repo(session, pull)
    owner = head.owner.name if head is not None else "unknown"
    return f"{owner}/{pull.head_branch}"


def default_message(session: Session, pull: PullRequest, style: str) -> tuple[str, str]:
    """The commit title and message the merge box proposes for ``style`` (empty for rebase and fast-forward,
    which keep the head's own commits)."""
    issue = _issue(session, pull)
    if style == MERGE:
        return f"Merge pull request #{issue.number} from {head_label(session, pull)}", issue.title
    if style == SQUASH:
        return f"{issue.title} (#{issue.number})", issue.body
    return "", ""


def _message(title: str, body: str) -> str:
    title = " ".join(title.split())[:MAX_TITLE]
    body = body.replace("\r\n", "\n").strip()
    return f"{title}\n\n{body}\n" if body else f"{title}\n"


def _check_pull(session: Session, ref: RepoRef, pull: PullRequest) -> Issue:
    if pull.base_repo_id != ref.repo.id:
        raise NotFound(N_("There is no such pull request in this repository."))
    issue = _issue(session, pull)
    if pull.merged_at is not None:
        raise Conflict(N_("This pull request was already merged."))
    if issue.state == CLOSED:
        raise Conflict(N_("This pull request is closed."))
    return issue


def merge_pull(
    session: Session,
    settings: Settings,
    actor: Account,
    ref: RepoRef,
    pull: PullRequest,
    *,
    style: str,
    title: str = "",
    message: str = "",
    delete_branch: bool = False,
    expected_head: str = "",
) -> str:
    """Merge ``pull`` into its base branch in ``style``; returns the sha the base branch now points at.

    Needs WRITE on the base repository, an allowed style and a passing gate (forge.pulls.gate: not a draft, no
    conflicts, the protection rule's approvals, checks and up-to-date requirement). ``expected_head`` (the head the
    merging user saw) refuses the merge when newer commits arrived. Closing references in the pull request's body
    and commits ("fixes #12") close those issues when the base is the default branch."""
    require_repo_access(session, actor, ref.repo, Access.WRITE)
    issue = _check_pull(session, ref, pull)
    if style not in MERGE_STYLES:
        raise InvalidInput(N_("“%(style)s” is not a merge method."), style=style)
    if not merge_settings.style_allowed(merge_settings.get_merge_settings(session, pull.base_repo_id), style):
        raise InvalidInput(N_("This repository does not allow that merge method."))
    if expected_head and expected_head != pull.head_sha:
        raise Conflict(N_("New commits were pushed to this pull request; review them before merging."))
    git = open_git(settings.repos_dir, ref)
    full = f"refs/heads/{pull.base_branch}"
    base_sha = git.ref_target(full)
    if base_sha is None:
        raise Conflict(N_("The base branch %(branch)s no longer exists."), branch=pull.base_branch)
    sync.apply_check(pull, base_sha, gitops.check_merge(git, base_sha, pull.head_sha))
    session.add(pull)
    result = gate.evaluate(session, settings, ref, pull, actor)
    if not result.ok:
        problem = result.problems[0]
        raise Conflict(problem.message, **problem.params)

    proposed_title, proposed_body = default_message(session, pull, style)
    who = identity(session, actor)
    author = session.get(Account, issue.author_id) if issue.author_id is not None else None
    new_sha = gitops.build_merge(
        git, style=style, base_sha=base_sha, head_sha=pull.head_sha,
        message=_message(title.strip() or proposed_title, message if (title.strip() or message) else proposed_body),
        committer=who, squash_author=identity(session, author) if author is not None else None,
    )
    merged_commits = gitops.commit_messages(git, base_sha, pull.head_sha)

    assert actor.id is not None
    record_push(session, ref.repo, actor.id, [RefUpdate(base_sha, new_sha, full)], source="merge")
    mark_merged(session, ref, pull, issue, actor_id=actor.id, sha=new_sha, style=style)
    if pull.base_branch == ref.repo.default_branch:
        from forge.issues import references

        for text in [issue.body, *merged_commits]:
            references.close_from_text(session, actor, ref, text, commit_sha=new_sha, pull_number=issue.number)
    session.flush()
    # Last: the base branch moves only if nobody pushed to it since it was read.
    if not gitops.update_ref(git, full, new_sha, base_sha, git_bin=settings.git_bin):
        raise Conflict(N_("The base branch moved while merging; try again."))
    if delete_branch:
        try:
            delete_head_branch(session, settings, actor, ref, pull)
        except ForgeError as exc:  # merged all the same; the branch stays
            log.info("head branch of %s#%s kept after merge: %s", ref.full_name, issue.number, exc)
    return new_sha


def mark_merged(session: Session, ref: RepoRef, pull: PullRequest, issue: Issue, *, actor_id: int | None, sha: str,
                style: str) -> None:
    """Record that ``pull`` is merged (by the forge, or by a push that brought its commits into the base): the
    pull request closes with reason "merged", a ``merged`` timeline entry, activities pull.merged and issue.closed.
    Auto-merge, if it was on, has done its job."""
    now = utcnow()
    pull.merged_at = now
    pull.merged_by_id = actor_id
    pull.merge_commit_sha = sha
    pull.merge_style = style
    pull.auto_merge_style = ""
    pull.auto_merge_by_id = None
    pull.updated_at = now
    issue.state = CLOSED
    issue.state_reason = MERGED
    issue.closed_at = now
    issue.closed_by_id = actor_id
    issue.updated_at = now
    session.add(pull)
    session.add(issue)
    from forge.issues import services as issues

    issues.add_event(session, issue, actor_id, "merged", {"sha": sha, "style": style, "base": pull.base_branch})
    assert ref.repo.id is not None
    activity.record(session, activity.PULL_MERGED, repo_id=ref.repo.id, issue_id=issue.id, actor_id=actor_id,
                    data={"sha": sha, "style": style})
    activity.record(session, activity.ISSUE_CLOSED, repo_id=ref.repo.id, issue_id=issue.id, actor_id=actor_id,
                    data={"reason": MERGED})


# --- the head branch ---------------------------------------------------------------------------------------------


def head_level(session: Session, actor: Account | None, base: RepoRef, head: RepoRef, pull: PullRequest) -> Access:
    """What ``actor`` may do to the head branch: their access to the head repository, or WRITE when the author
    allows maintainers of the base to edit (and ``actor`` is one)."""
    level = repo_access(session, actor, head.repo)
    if level < Access.WRITE and head.repo.id != base.repo.id and pull.allow_maintainer_edit \
            and repo_access(session, actor, base.repo) >= Access.WRITE:
        return Access.WRITE
    return level


def may_edit_head(session: Session, actor: Account | None, ref: RepoRef, pull: PullRequest) -> bool:
    """Whether ``actor`` may push commits to the head branch through the forge (conflict resolution, updating the
    branch, applying suggestions)."""
    head = head_repo(session, pull)
    return actor is not None and head is not None and head_level(session, actor, ref, head, pull) >= Access.WRITE


def delete_head_branch(session: Session, settings: Settings, actor: Account, ref: RepoRef, pull: PullRequest) -> None:
    """Delete the head branch of a merged or closed pull request (WRITE on the head repository; the branch must not
    have moved since, must not be the head repository's default branch, and protection must allow it)."""
    issue = _issue(session, pull)
    if issue.state != CLOSED:
        raise Conflict(N_("The branch of an open pull request cannot be deleted."))
    head = head_repo(session, pull)
    if head is None:
        raise NotFound(N_("The head repository no longer exists."))
    level = require_repo_access(session, actor, head.repo, Access.WRITE)
    if pull.head_branch == head.repo.default_branch:
        raise PermissionDenied(N_("The default branch %(branch)s cannot be deleted."), branch=pull.head_branch)
    full = f"refs/heads/{pull.head_branch}"
    check_ref_update(session, actor, head, level, full, deleting=True)
    git = open_git(settings.repos_dir, head)
    current = git.ref_target(full)
    if current is None:
        raise NotFound(N_("The branch %(branch)s no longer exists."), branch=pull.head_branch)
    if current != pull.head_sha:
        raise Conflict(N_("The branch %(branch)s has commits this pull request does not; it was kept."),
                       branch=pull.head_branch)
    # The branch goes first: should that fail, nothing was written (this also runs right after a merge).
    if not gitops.delete_ref(git, full, current, git_bin=settings.git_bin):
        raise Conflict(N_("The branch %(branch)s moved; try again."), branch=pull.head_branch)
    assert actor.id is not None
    record_push(session, head.repo, actor.id, [RefUpdate(current, ZERO_SHA, full)], source="web")
    from forge.issues import services as issues

    issues.add_event(session, issue, actor.id, "branch_deleted", {"branch": pull.head_branch})


def restore_head_branch(session: Session, settings: Settings, actor: Account, ref: RepoRef, pull: PullRequest) -> None:
    """Bring a deleted head branch back at the pull request's last head (WRITE on the head repository)."""
    issue = _issue(session, pull)
    head = head_repo(session, pull)
    if head is None:
        raise NotFound(N_("The head repository no longer exists."))
    level = require_repo_access(session, actor, head.repo, Access.WRITE)
    full = f"refs/heads/{pull.head_branch}"
    check_ref_update(session, actor, head, level, full, deleting=False, creating=True)
    head_git = open_git(settings.repos_dir, head)
    if head_git.ref_target(full) is not None:
        raise Conflict(N_("The branch %(branch)s already exists."), branch=pull.head_branch)
    gitops.transfer(open_git(settings.repos_dir, ref), head_git, pull.head_sha, git_bin=settings.git_bin)
    if not gitops.update_ref(GitRepo(head_git.path), full, pull.head_sha, ZERO_SHA, git_bin=settings.git_bin):
        raise Conflict(N_("The branch %(branch)s already exists."), branch=pull.head_branch)
    assert actor.id is not None
    record_push(session, head.repo, actor.id, [RefUpdate(ZERO_SHA, pull.head_sha, full)], source="web")
    from forge.issues import services as issues

    issues.add_event(session, issue, actor.id, "branch_restored", {"branch": pull.head_branch})


def update_head_branch(session: Session, settings: Settings, actor: Account, ref: RepoRef, pull: PullRequest,
                       new_sha: str, *, expected_head: str | None = None) -> None:
    """Move the head branch to ``new_sha``, a commit the forge wrote in the base repository on top of the head
    (a conflict resolution, an applied suggestion): the head repository's WRITE access or the author's "allow
    edits by maintainers" is needed; compare-and-swap against ``expected_head`` (the pull request's head by
    default); recorded as a push to the head repository; the pull request is synchronised at once."""
    issue = _check_pull(session, ref, pull)
    head = head_repo(session, pull)
    if head is None:
        raise NotFound(N_("The head repository no longer exists."))
    level = head_level(session, actor, ref, head, pull)
    if level < Access.WRITE:
        raise PermissionDenied(N_("You may not push to the branch of this pull request."))
    full = f"refs/heads/{pull.head_branch}"
    check_ref_update(session, actor, head, level, full, deleting=False)
    old = expected_head if expected_head is not None else pull.head_sha
    head_git = open_git(settings.repos_dir, head)
    if head_git.ref_target(full) != old:
        raise Conflict(N_("The branch %(branch)s moved; reload the pull request and try again."),
                       branch=pull.head_branch)
    gitops.transfer(open_git(settings.repos_dir, ref), head_git, new_sha, git_bin=settings.git_bin)
    assert actor.id is not None
    record_push(session, head.repo, actor.id, [RefUpdate(old, new_sha, full)], source="web")
    session.flush()
    if not gitops.update_ref(GitRepo(head_git.path), full, new_sha, old, git_bin=settings.git_bin):
        raise Conflict(N_("The branch %(branch)s moved; reload the pull request and try again."),
                       branch=pull.head_branch)
    log.debug("head of %s#%s moved to %s", ref.full_name, issue.number, new_sha)
    sync.synchronize(session, settings, pull, actor_id=actor.id)


# --- conflicts resolved in the browser ----------------------------------------------------------------------------


def resolvable_in_browser(pull: PullRequest) -> bool:
    """A conflict the browser can resolve: exactly one conflicting file (whether it is text is known on opening)."""
    return pull.merge_status == CONFLICT and len(pull.conflicts) == 1


def conflict_file(session: Session, settings: Settings, ref: RepoRef, pull: PullRequest,
                  path: str) -> gitops.ConflictFile:
    """The sides of the conflicting ``path`` (the caller checked READ on ``ref``). InvalidInput for a binary or
    deleted file, NotFound when ``path`` does not conflict."""
    _check_pull(session, ref, pull)
    git = open_git(settings.repos_dir, ref)
    return gitops.conflict_sides(git, _base_tip(git, pull), pull.head_sha, path, base_label=pull.base_branch,
                                 head_label=pull.head_branch)


def _base_into_head_title(session: Session, ref: RepoRef, pull: PullRequest) -> str:
    """The title of a commit merging the base branch into the head branch (git's own wording; a fork's branch is
    named ``owner:branch``)."""
    head = head_repo(session, pull)
    label = pull.head_branch if head is None or head.repo.id == ref.repo.id else f"{head.owner.name}:{pull.head_branch}"
    return f"Merge branch '{pull.base_branch}' into {label}"


def _base_tip(git: GitRepo, pull: PullRequest) -> str:
    base_sha = git.ref_target(f"refs/heads/{pull.base_branch}")
    if base_sha is None:
        raise Conflict(N_("The base branch %(branch)s no longer exists."), branch=pull.base_branch)
    return base_sha


def _check_head_writer(session: Session, actor: Account, ref: RepoRef, pull: PullRequest, expected_head: str) -> None:
    """The checks before the forge writes a commit on the head branch for ``actor``: the head they saw is still
    the head, and they may push to it (:func:`may_edit_head`)."""
    if expected_head and expected_head != pull.head_sha:
        raise Conflict(N_("New commits were pushed to this pull request; reload it and try again."))
    if not may_edit_head(session, actor, ref, pull):
        raise PermissionDenied(N_("You may not push to the branch of this pull request."))


def resolve_conflict(session: Session, settings: Settings, actor: Account, ref: RepoRef, pull: PullRequest,
                     path: str, content: str, *, expected_head: str = "") -> str:
    """Commit ``content`` as the resolution of ``path``: a merge of the base branch into the head branch, pushed to
    the head branch (see :func:`update_head_branch` for who may); returns the new head sha. Refused when other files
    conflict too (resolve those with git)."""
    _check_pull(session, ref, pull)
    _check_head_writer(session, actor, ref, pull, expected_head)
    git = open_git(settings.repos_dir, ref)
    base_sha = _base_tip(git, pull)
    sides = gitops.conflict_sides(git, base_sha, pull.head_sha, path)
    if "\r\n" not in sides.base + sides.head:
        content = content.replace("\r\n", "\n")  # a browser sends CRLF; keep the file's own line ends
    if content and not content.endswith("\n") and (sides.head.endswith("\n") or sides.base.endswith("\n")):
        content += "\n"
    if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in content.splitlines()):
        raise InvalidInput(N_("The file still contains conflict markers."))
    message = f"{_base_into_head_title(session, ref, pull)}\n\nResolved the conflict in {path}.\n"
    new_sha = gitops.resolve_conflicts(git, base_sha=base_sha, head_sha=pull.head_sha, resolutions={path: content},
                                       message=message, author=identity(session, actor))
    update_head_branch(session, settings, actor, ref, pull, new_sha)
    return new_sha


# --- bringing the head up to date ---------------------------------------------------------------------------------


def update_branch(session: Session, settings: Settings, actor: Account, ref: RepoRef, pull: PullRequest, *,
                  expected_head: str = "") -> str:
    """Merge the base branch's tip into the head branch (GitHub's "Update branch"): a merge commit "Merge branch
    '<base>' into <head>" written for ``actor`` and pushed to the head branch, so a pull request that fell behind
    its base (the protection rule's "up to date" requirement) catches up without a local merge. Who may: as for
    :func:`resolve_conflict`. Returns the new head sha. Refused when the head is not behind, and when the two
    conflict (that merge needs a resolution: the conflict editor or git)."""
    _check_pull(session, ref, pull)
    _check_head_writer(session, actor, ref, pull, expected_head)
    git = open_git(settings.repos_dir, ref)
    base_sha = _base_tip(git, pull)
    check = gitops.check_merge(git, base_sha, pull.head_sha)
    if check.status == CONFLICT:
        raise Conflict(N_("This branch has conflicts with %(base)s; resolve the conflicts first."),
                       base=pull.base_branch)
    if check.commits_behind == 0:
        raise Conflict(N_("This branch is already up to date with %(base)s."), base=pull.base_branch)
    new_sha = gitops.resolve_conflicts(git, base_sha=base_sha, head_sha=pull.head_sha, resolutions={},
                                       message=_base_into_head_title(session, ref, pull) + "\n",
                                       author=identity(session, actor))
    update_head_branch(session, settings, actor, ref, pull, new_sha)
    return new_sha
