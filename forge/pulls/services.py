"""Pull requests: opening one (from a branch of the repository or of a fork in its network), finding and listing
them, and the draft state.

A pull request is an ``issue`` row with ``is_pull`` (so it shares the issue numbers, comments, labels and timeline,
see forge.issues) plus one ``pull_request`` row. Opening copies the head's commits into the base repository as
``refs/pull/<number>/head`` (forge.pulls.gitops), so the comparison, the review and the merge all read the base
repository only, and the pull request survives the fork's deletion.

The issue services are imported as modules (not names): forge.issues may itself look pull requests up here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from forge import activity
from forge.accounts.models import Account
from forge.db.models_base import utcnow
from forge.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from forge.git.repository import GitRepo
from forge.i18n import N_
from forge.issues import models as im
from forge.permissions import Access, repo_access, require_repo_access
from forge.pulls import gitops, sync
from forge.pulls.models import (
    APPROVED,
    CHANGES_REQUESTED,
    COMMENTED,
    DISMISSED,
    PullRequest,
    PullReview,
    ReviewRequest,
)
from forge.repos import services as repos
from forge.repos.models import Repository
from forge.repos.services import RepoRef
from forge.settings import Settings

PAGE_SIZE = 25
MAX_TITLE = 255
MAX_FORK_DEPTH = 50  # a fork_of chain longer than this is treated as broken

# List filters.
STATE_OPEN = "open"
STATE_CLOSED = "closed"  # closed, merged or not
STATE_MERGED = "merged"
STATE_ALL = "all"
STATES = (STATE_OPEN, STATE_CLOSED, STATE_MERGED, STATE_ALL)
SUBMITTED_STATES = (COMMENTED, APPROVED, CHANGES_REQUESTED, DISMISSED)


# --- the fork network --------------------------------------------------------------------------------------


def _ancestors(session: Session, repo: Repository) -> list[Repository]:
    """``repo`` and the repositories it was forked from, nearest first."""
    chain = [repo]
    seen = {repo.id}
    current = repo
    while current.fork_of_id is not None and len(chain) < MAX_FORK_DEPTH:
        parent = session.get(Repository, current.fork_of_id)
        if parent is None or parent.id in seen:
            break
        chain.append(parent)
        seen.add(parent.id)
        current = parent
    return chain


def same_network(session: Session, a: Repository, b: Repository) -> bool:
    """Whether ``a`` and ``b`` are the same repository or forks (at any depth) of one root."""
    return _ancestors(session, a)[-1].id == _ancestors(session, b)[-1].id


def head_repositories(session: Session, actor: Account | None, base: RepoRef) -> list[RepoRef]:
    """The repositories the "new pull request" form offers as the head: the base itself, the viewer's forks of it
    (at any depth), and the repository it was forked from, when it is a fork."""
    result = [base]
    if base.repo.fork_of_id is not None:
        parent = repos.get_repo_by_id(session, base.repo.fork_of_id)
        if parent is not None and repo_access(session, actor, parent.repo) >= Access.READ:
            result.append(parent)
    if actor is None:
        return result
    frontier = [base.repo.id]
    seen = {base.repo.id}
    while frontier and len(seen) < 1000:
        forks = list(session.exec(select(Repository).where(col(Repository.fork_of_id).in_(frontier))))
        frontier = []
        for fork in forks:
            if fork.id in seen:
                continue
            seen.add(fork.id)
            frontier.append(fork.id)
            if fork.owner_id == actor.id:
                found = repos.get_repo_by_id(session, fork.id)  # type: ignore[arg-type]
                if found is not None:
                    result.append(found)
    return result


def resolve_head(session: Session, actor: Account | None, base: RepoRef, spec: str) -> tuple[RepoRef, str]:
    """GitHub's ``head`` parameter: ``branch`` (a branch of the base) or ``owner:branch`` (a branch of the
    repository ``owner`` has in the base's network). NotFound when there is no such repository the viewer sees."""
    spec = spec.strip()
    if ":" not in spec:
        return base, spec
    owner_name, branch = spec.split(":", 1)
    if owner_name.lower() == base.owner.name.lower():
        return base, branch
    candidates = [r for r in head_repositories(session, actor, base) if r.owner.name.lower() == owner_name.lower()]
    if not candidates:
        # Someone else's fork: any repository of that owner in the network the viewer may read.
        found = _network_repo_of(session, actor, base, owner_name)
        if found is None:
            raise NotFound(N_("%(owner)s has no fork of this repository."), owner=owner_name)
        candidates = [found]
    return candidates[0], branch


def _network_repo_of(session: Session, actor: Account | None, base: RepoRef, owner_name: str) -> RepoRef | None:
    stmt = select(Repository).join(Account, col(Account.id) == Repository.owner_id).where(
        Account.lower_name == owner_name.lower(), col(Repository.fork_of_id).is_not(None))
    for repo in session.exec(stmt):
        if same_network(session, repo, base.repo) and repo_access(session, actor, repo) >= Access.READ:
            return repos.get_repo_by_id(session, repo.id)  # type: ignore[arg-type]
    return None


def head_label(base: RepoRef, head: RepoRef | None, branch: str) -> str:
    """How a head is written: ``feature`` for the base's own branch, ``owner:feature`` for a fork's."""
    if head is None:
        return branch
    return branch if head.repo.id == base.repo.id else f"{head.owner.name}:{branch}"


# --- opening -----------------------------------------------------------------------------------------------


def find_open_duplicate(session: Session, base: RepoRef, base_branch: str, head_repo_id: int,
                         head_branch: str) -> im.Issue | None:
    stmt = select(im.Issue).join(PullRequest, col(PullRequest.issue_id) == im.Issue.id).where(
        PullRequest.base_repo_id == base.repo.id, PullRequest.base_branch == base_branch,
        PullRequest.head_repo_id == head_repo_id, PullRequest.head_branch == head_branch,
        im.Issue.state == im.OPEN)
    return session.exec(stmt).first()


def open_pull(
    session: Session,
    settings: Settings,
    actor: Account,
    base: RepoRef,
    *,
    base_branch: str,
    head: RepoRef,
    head_branch: str,
    title: str,
    body: str = "",
    draft: bool = False,
    reviewer_ids: list[int] | tuple[int, ...] = (),
    label_ids: list[int] | tuple[int, ...] = (),
    assignee_ids: list[int] | tuple[int, ...] = (),
    milestone_id: int | None = None,
) -> PullRequest:
    """Open a pull request to merge ``head_branch`` of ``head`` into ``base_branch`` of ``base``.

    Anyone who can read both repositories may open one (as on GitHub: a reader proposes from a fork). Labels,
    assignees and the milestone are kept only from people who may triage the base; reviewers may be asked by the
    author. InvalidInput when the head adds nothing to the base or the two share no history; Conflict when an open
    pull request for the same head and base exists."""
    from forge.issues import services as issues  # a module import: forge.issues looks pull requests up here
    from forge.issues.access import can_triage

    require_repo_access(session, actor, base.repo, Access.READ)
    if head.repo.id != base.repo.id:
        require_repo_access(session, actor, head.repo, Access.READ)
        if not same_network(session, head.repo, base.repo):
            raise InvalidInput(N_("A pull request can only come from this repository or one of its forks."))
    title = title.strip()
    if not title:
        raise InvalidInput(N_("A pull request needs a title."))
    if len(title) > MAX_TITLE:
        raise InvalidInput(N_("The title may be at most %(max)s characters long."), max=MAX_TITLE)
    base_branch, head_branch = base_branch.strip(), head_branch.strip()
    base_git = repos.open_git(settings.repos_dir, base)
    base_sha = base_git.ref_target(f"refs/heads/{base_branch}") if base_branch else None
    if not base_sha:
        raise InvalidInput(N_("There is no branch “%(name)s” to merge into."), name=base_branch)
    head_git = repos.open_git(settings.repos_dir, head)
    if not head_branch or head_git.ref_target(f"refs/heads/{head_branch}") is None:
        raise InvalidInput(N_("There is no branch “%(name)s” to merge from."), name=head_branch)
    if head.repo.id == base.repo.id and head_branch == base_branch:
        raise InvalidInput(N_("Choose two different branches: a branch cannot be merged into itself."))
    assert head.repo.id is not None and base.repo.id is not None
    duplicate = find_open_duplicate(session, base, base_branch, head.repo.id, head_branch)
    if duplicate is not None:
        raise Conflict(N_("Pull request #%(number)s already proposes these changes."), number=duplicate.number)

    triage = can_triage(session, actor, base)
    issue = issues.create_issue(
        session, actor, base, title=title, body=body,
        label_ids=list(label_ids) if triage else [],
        assignee_ids=list(assignee_ids) if triage else [],
        milestone_id=milestone_id if triage else None,
        is_pull=True,
    )
    assert issue.id is not None
    pull = PullRequest(issue_id=issue.id, base_repo_id=base.repo.id, base_branch=base_branch,
                       head_repo_id=head.repo.id, head_branch=head_branch, is_draft=draft)
    session.add(pull)
    session.flush()
    head_ref = f"refs/pull/{issue.number}/head"
    try:
        pull.head_sha = gitops.copy_head(base_git, repos.path_of(settings.repos_dir, head), head_branch,
                                         issue.number, git_bin=settings.git_bin)
        base_git = GitRepo(base_git.path)  # a new handle sees the objects the copy fetched
        check = gitops.check_merge(base_git, base_sha, pull.head_sha)
        if not check.merge_base:
            raise InvalidInput(N_("“%(base)s” and “%(head)s” share no history: there is nothing to compare."),
                               base=base_branch, head=head_label(base, head, head_branch))
        if check.commits_ahead == 0:
            raise InvalidInput(N_("“%(base)s” already contains every commit of “%(head)s”: there is nothing to "
                                  "merge."), base=base_branch, head=head_label(base, head, head_branch))
    except BaseException:
        # The database work rolls back with the caller's transaction; the copied ref must go by hand.
        if base_git.ref_target(head_ref) is not None:
            base_git.delete_ref(head_ref)
        raise
    sync.apply_check(pull, base_sha, check)
    session.add(pull)
    session.flush()
    activity.record(session, activity.PULL_OPENED, repo_id=pull.base_repo_id, issue_id=issue.id, actor_id=actor.id,
                    data={"number": issue.number, "draft": draft, "base": base_branch,
                          "head": head_label(base, head, head_branch)})
    wanted = [u for u in dict.fromkeys(reviewer_ids) if u != actor.id]
    if wanted:
        from forge.pulls import reviews

        reviews.request_review(session, actor, base, pull, wanted)
    return pull


# --- finding -----------------------------------------------------------------------------------------------


def get_pull(session: Session, ref: RepoRef, number: int) -> tuple[im.Issue, PullRequest]:
    """Pull request ``number`` of ``ref`` (the caller has checked the viewer may read the repository)."""
    row = session.exec(
        select(im.Issue, PullRequest).join(PullRequest, col(PullRequest.issue_id) == im.Issue.id)
        .where(im.Issue.repo_id == ref.repo.id, im.Issue.number == number)
    ).first()
    if row is None:
        raise NotFound(N_("There is no pull request #%(number)s in this repository."), number=number)
    return row[0], row[1]


def pull_for_issue(session: Session, issue_id: int) -> PullRequest | None:
    return session.exec(select(PullRequest).where(PullRequest.issue_id == issue_id)).first()


def head_repo(session: Session, pull: PullRequest) -> RepoRef | None:
    """The repository the head branch lives in; None when it was deleted (the copied head stays)."""
    return repos.get_repo_by_id(session, pull.head_repo_id) if pull.head_repo_id is not None else None


def is_merged(pull: PullRequest) -> bool:
    return pull.merged_at is not None


def state_of(issue: im.Issue, pull: PullRequest) -> str:
    """What the badge says: "merged", "closed", "draft" or "open"."""
    if pull.merged_at is not None:
        return "merged"
    if issue.state == im.CLOSED:
        return "closed"
    return "draft" if pull.is_draft else "open"


# --- listing -----------------------------------------------------------------------------------------------


@dataclass
class PullRow:
    issue: im.Issue
    pull: PullRequest
    author: Account | None
    labels: list[im.Label] = field(default_factory=list)
    head: str = ""  # "feature" or "owner:feature"

    @property
    def state(self) -> str:
        return state_of(self.issue, self.pull)


@dataclass
class Page:
    items: list[PullRow]
    page: int
    pages: int
    total: int  # matching the filters
    open_count: int  # matching the filters but the state
    closed_count: int

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def list_pulls(
    session: Session,
    ref: RepoRef,
    *,
    state: str = STATE_OPEN,
    author: str = "",
    label_id: int | None = None,
    review_requested_id: int | None = None,
    reviewed_by_id: int | None = None,
    query: str = "",
    draft: bool | None = None,
    base_branch: str = "",
    head: tuple[int, str] | None = None,
    sort: str = "created",
    ascending: bool = False,
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> Page:
    """The pull requests of ``ref`` matching the filters, one page of them: newest first, or by ``sort``
    ("created" or "updated") in the order ``ascending`` says. ``head`` is (head repository id, branch)."""
    base = select(im.Issue.id).join(PullRequest, col(PullRequest.issue_id) == im.Issue.id).where(
        im.Issue.repo_id == ref.repo.id, col(im.Issue.is_pull).is_(True))
    if author:
        who = session.exec(select(Account).where(Account.lower_name == author.lower())).first()
        base = base.where(im.Issue.author_id == (who.id if who is not None else -1))
    if label_id is not None:
        base = base.where(col(im.Issue.id).in_(select(im.IssueLabel.issue_id).where(
            im.IssueLabel.label_id == label_id)))
    if review_requested_id is not None:
        base = base.where(col(PullRequest.id).in_(select(ReviewRequest.pull_id).where(
            ReviewRequest.user_id == review_requested_id)))
    if reviewed_by_id is not None:
        base = base.where(col(PullRequest.id).in_(select(PullReview.pull_id).where(
            PullReview.reviewer_id == reviewed_by_id, col(PullReview.state).in_(SUBMITTED_STATES))))
    if query.strip():
        like = f"%{query.strip().lower()}%"
        base = base.where(or_(func.lower(im.Issue.title).like(like), func.lower(im.Issue.body).like(like)))
    if draft is not None:
        base = base.where(col(PullRequest.is_draft).is_(draft))
    if base_branch:
        base = base.where(PullRequest.base_branch == base_branch)
    if head is not None:
        base = base.where(PullRequest.head_repo_id == head[0], PullRequest.head_branch == head[1])

    def count(stmt):  # type: ignore[no-untyped-def]
        return session.exec(select(func.count()).select_from(stmt.subquery())).one()

    open_count = count(base.where(im.Issue.state == im.OPEN))
    closed_count = count(base.where(im.Issue.state == im.CLOSED))
    if state == STATE_OPEN:
        base = base.where(im.Issue.state == im.OPEN)
    elif state == STATE_CLOSED:
        base = base.where(im.Issue.state == im.CLOSED)
    elif state == STATE_MERGED:
        base = base.where(col(PullRequest.merged_at).is_not(None))
    total = count(base)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    key = col(im.Issue.updated_at) if sort == "updated" else col(im.Issue.created_at)
    order = (key.asc(), col(im.Issue.id).asc()) if ascending else (key.desc(), col(im.Issue.id).desc())
    ids = list(session.exec(base.order_by(*order).offset((page - 1) * per_page).limit(per_page)))
    return Page(rows_for(session, ref, [i for i in ids if i is not None]), page, pages, total, open_count,
                closed_count)


def rows_for(session: Session, ref: RepoRef, issue_ids: list[int]) -> list[PullRow]:
    """Rows for the given issues, in that order, with authors and labels read in a few queries."""
    if not issue_ids:
        return []
    pairs = session.exec(select(im.Issue, PullRequest).join(PullRequest, col(PullRequest.issue_id) == im.Issue.id)
                         .where(col(im.Issue.id).in_(issue_ids))).all()
    by_id = {issue.id: (issue, pull) for issue, pull in pairs}
    author_ids = {issue.author_id for issue, _ in pairs if issue.author_id is not None}
    head_ids = {pull.head_repo_id for _, pull in pairs if pull.head_repo_id not in (None, ref.repo.id)}
    accounts = {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(author_ids)))}
    head_owners: dict[int, str] = {}
    if head_ids:
        for repo, owner in session.exec(select(Repository, Account).join(Account, col(Account.id) ==
                                                                          Repository.owner_id)
                                        .where(col(Repository.id).in_(head_ids))):
            assert repo.id is not None
            head_owners[repo.id] = owner.name
    labels: dict[int, list[im.Label]] = {}
    for link, label in session.exec(select(im.IssueLabel, im.Label).join(im.Label, col(im.Label.id) ==
                                                                          im.IssueLabel.label_id)
                                    .where(col(im.IssueLabel.issue_id).in_(issue_ids))
                                    .order_by(col(im.Label.lower_name))):
        labels.setdefault(link.issue_id, []).append(label)
    rows = []
    for issue_id in issue_ids:
        if issue_id not in by_id:
            continue
        issue, pull = by_id[issue_id]
        fork_owner = head_owners.get(pull.head_repo_id or 0)
        head = f"{fork_owner}:{pull.head_branch}" if fork_owner else pull.head_branch
        rows.append(PullRow(issue, pull, accounts.get(issue.author_id or 0), labels.get(issue_id, []), head))
    return rows


# --- draft -------------------------------------------------------------------------------------------------


def may_edit(session: Session, actor: Account | None, ref: RepoRef, issue: im.Issue) -> bool:
    """The author or anyone with write access may change a pull request's draft state and reviewers."""
    if actor is None:
        return False
    if issue.author_id == actor.id and repo_access(session, actor, ref.repo) >= Access.READ:
        return True
    return repo_access(session, actor, ref.repo) >= Access.WRITE


def set_draft(session: Session, actor: Account, ref: RepoRef, pull: PullRequest, draft: bool) -> None:
    """Mark an open pull request ready for review (``draft`` False) or turn it back into a draft."""
    from forge.issues import services as issues

    issue = session.get(im.Issue, pull.issue_id)
    assert issue is not None
    require_repo_access(session, actor, ref.repo, Access.READ)
    if not may_edit(session, actor, ref, issue):
        raise PermissionDenied(N_("Only the author or someone with write access can change this."))
    if issue.state != im.OPEN:
        raise InvalidInput(N_("This pull request is closed."))
    if pull.is_draft == draft:
        return
    pull.is_draft = draft
    pull.updated_at = issue.updated_at = utcnow()
    session.add(pull)
    session.add(issue)
    issues.add_event(session, issue, actor.id, "converted_to_draft" if draft else "ready_for_review")
    if not draft:
        activity.record(session, activity.PULL_READY, repo_id=pull.base_repo_id, issue_id=issue.id, actor_id=actor.id)
    session.flush()


def change_base(session: Session, settings: Settings, actor: Account, ref: RepoRef, pull: PullRequest,
                base_branch: str) -> None:
    """Retarget an open pull request onto another branch of its repository (the author or anyone with write
    access, as for the draft state): a ``base_changed`` timeline entry, an ``issue.edited`` activity saying what the
    base was, and mergeability computed against the new base. InvalidInput for a missing branch or the head itself;
    Conflict when an open pull request already proposes the head to that branch."""
    from forge.issues import services as issues

    issue = session.get(im.Issue, pull.issue_id)
    assert issue is not None
    require_repo_access(session, actor, ref.repo, Access.READ)
    if not may_edit(session, actor, ref, issue):
        raise PermissionDenied(N_("Only the author or someone with write access can change this."))
    if issue.state != im.OPEN:
        raise InvalidInput(N_("This pull request is closed."))
    base_branch = base_branch.strip()
    if base_branch == pull.base_branch:
        return
    if not base_branch or repos.open_git(settings.repos_dir, ref).ref_target(f"refs/heads/{base_branch}") is None:
        raise InvalidInput(N_("There is no branch “%(name)s” to merge into."), name=base_branch)
    if pull.head_repo_id == ref.repo.id and pull.head_branch == base_branch:
        raise InvalidInput(N_("Choose two different branches: a branch cannot be merged into itself."))
    if pull.head_repo_id is not None:
        duplicate = find_open_duplicate(session, ref, base_branch, pull.head_repo_id, pull.head_branch)
        if duplicate is not None:
            raise Conflict(N_("Pull request #%(number)s already proposes these changes."), number=duplicate.number)
    old = pull.base_branch
    pull.base_branch = base_branch
    pull.updated_at = utcnow()
    session.add(pull)
    issues.add_event(session, issue, actor.id, "base_changed", {"from": old, "to": base_branch})
    issues.touch(session, issue)
    issues.record_activity(session, activity.ISSUE_EDITED, issue, actor, data={"base_from": old})
    sync.refresh_mergeability(session, settings, pull)
