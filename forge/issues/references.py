"""What references between issues do: "closes #12" closes an issue (from a merged pull request or a commit pushed
to the default branch), and mentioning another issue leaves a ``cross_referenced`` entry on its timeline.

A reference to another repository's issue (``owner/repo#3``) only counts where the actor may see that repository;
closing one needs WRITE access there, as on GitHub. Pull request numbers are never closed by keywords.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.issues import services
from forge.issues.models import CLOSED, COMPLETED, Issue, IssueEvent
from forge.issues.textrefs import Ref, find_closing_refs, find_refs
from forge.permissions import Access, repo_access
from forge.repos.services import RepoRef, find_repo

MAX_REFS = 50  # per text


def resolve(session: Session, actor: Account | None, ref: RepoRef, target: Ref,
            needed: Access = Access.READ) -> tuple[RepoRef, Issue] | None:
    """The repository and issue ``target`` names, if it exists and ``actor`` has ``needed`` access there (the
    repository of the text itself is taken as readable: the text is in it)."""
    if target.is_local or (target.owner.lower() == ref.owner.lower_name and target.repo.lower() == ref.repo.lower_name):
        other = ref
        if needed > Access.READ and repo_access(session, actor, ref.repo) < needed:
            return None
    else:
        found = find_repo(session, target.owner, target.repo)
        if found is None or repo_access(session, actor, found.repo) < needed:
            return None
        other = found
    assert other.repo.id is not None
    issue = services.find_issue(session, other.repo.id, target.number)
    return (other, issue) if issue is not None else None


def close_from_text(session: Session, actor: Account | None, ref: RepoRef, text: str, *, commit_sha: str = "",
                    pull_number: int | None = None) -> list[Issue]:
    """Close the issues ``text`` names after a closing keyword; returns those this call closed. In the text's own
    repository no permission is checked (the push or merge that carries the text was allowed); elsewhere the actor
    needs WRITE access."""
    closed = []
    for target in find_closing_refs(text)[:MAX_REFS]:
        if target.is_local or (target.owner.lower() == ref.owner.lower_name
                               and target.repo.lower() == ref.repo.lower_name):
            assert ref.repo.id is not None
            issue = services.find_issue(session, ref.repo.id, target.number)
            found = (ref, issue) if issue is not None else None
        else:
            found = resolve(session, actor, ref, target, Access.WRITE)
        if found is None:
            continue
        other, issue = found
        if issue.is_pull or issue.state == CLOSED:
            continue
        if services.close_issue(session, actor, other, issue, reason=COMPLETED, commit_sha=commit_sha,
                                pull_number=pull_number, check_permission=False):
            closed.append(issue)
    return closed


def cross_reference(session: Session, actor: Account, ref: RepoRef, source: Issue, text: str) -> None:
    """A ``cross_referenced`` entry on every other issue or pull request ``text`` mentions (once per source)."""
    for target in find_refs(text)[:MAX_REFS]:
        found = resolve(session, actor, ref, target)
        if found is None:
            continue
        _, issue = found
        if issue.id == source.id:
            continue
        existing = session.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id,
                                                         IssueEvent.kind == "cross_referenced")
                                .order_by(col(IssueEvent.id))).all()
        if any(e.data.get("repo_id") == ref.repo.id and e.data.get("number") == source.number for e in existing):
            continue
        services.add_event(session, issue, actor.id, "cross_referenced", {
            "repo": ref.full_name, "repo_id": ref.repo.id, "number": source.number, "is_pull": source.is_pull,
            "title": source.title,
        })
