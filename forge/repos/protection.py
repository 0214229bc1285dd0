"""Protected branch rules and the push policy built from them.

The same rules are enforced on every path that changes a branch: the git pre-receive hook (through the policy
built by :func:`push_policy`) and the web/CLI branch operations (through :func:`check_ref_update`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass

from sqlmodel import Session, col, select

from forge.accounts.models import Account, AccountKind, Team
from forge.accounts.orgs import get_team, user_team_ids
from forge.accounts.users import get_user
from forge.errors import InvalidInput, NotFound, PermissionDenied
from forge.i18n import N_
from forge.permissions import Access, require_repo_access
from forge.repos import statuses
from forge.repos.models import ProtectedBranch
from forge.repos.services import RepoRef

# Refs the forge reserves for itself (pull request heads, internal bookkeeping); no one pushes to them.
RESERVED_REF_PREFIXES = ("refs/pull/", "refs/merge-requests/", "refs/forge/", "refs/keep-around/")
MAX_APPROVALS = 20
MAX_CONTEXT = 255
MAX_CONTEXTS_TEXT = 2048


def list_rules(session: Session, ref: RepoRef) -> list[ProtectedBranch]:
    stmt = select(ProtectedBranch).where(ProtectedBranch.repo_id == ref.repo.id)
    return list(session.exec(stmt.order_by(col(ProtectedBranch.pattern))))


def get_rule(session: Session, ref: RepoRef, rule_id: int) -> ProtectedBranch:
    rule = session.get(ProtectedBranch, rule_id)
    if rule is None or rule.repo_id != ref.repo.id:
        raise NotFound(N_("That protection rule was not found."))
    return rule


def rule_for_pattern(session: Session, ref: RepoRef, pattern: str) -> ProtectedBranch:
    """The rule with exactly this pattern (the API names rules by pattern, as GitHub names them by branch)."""
    rule = session.exec(
        select(ProtectedBranch).where(ProtectedBranch.repo_id == ref.repo.id, ProtectedBranch.pattern == pattern)
    ).first()
    if rule is None:
        raise NotFound(N_("That protection rule was not found."))
    return rule


def save_rule(
    session: Session,
    actor: Account,
    ref: RepoRef,
    pattern: str,
    *,
    allow_force_push: bool = False,
    allow_deletion: bool = False,
    restrict_push: bool = False,
    push_user_ids: list[int] | None = None,
    push_team_ids: list[int] | None = None,
    rule_id: int | None = None,
    require_pull_request: bool = False,
    required_approvals: int = 0,
    dismiss_stale_approvals: bool = False,
    required_contexts: list[str] | None = None,
    require_up_to_date: bool = False,
) -> ProtectedBranch:
    """Create a rule, or update rule ``rule_id``. The pull request requirements (approvals, status contexts, up to
    date) are checked by forge.pulls.gate on merging; ``require_pull_request`` also refuses direct pushes."""
    require_repo_access(session, actor, ref.repo, Access.ADMIN)
    if not 0 <= required_approvals <= MAX_APPROVALS:
        raise InvalidInput(N_("The number of required approvals must be between 0 and %(max)s."), max=MAX_APPROVALS)
    contexts = _clean_contexts(required_contexts or [])
    pattern = pattern.strip()
    if not pattern or len(pattern) > 255 or pattern.startswith("refs/"):
        raise InvalidInput(N_("Give a branch name or pattern such as main or release/*."))
    existing = session.exec(
        select(ProtectedBranch).where(ProtectedBranch.repo_id == ref.repo.id, ProtectedBranch.pattern == pattern)
    ).first()
    if rule_id is None:
        if existing is not None:
            raise InvalidInput(N_("A rule for “%(pattern)s” already exists."), pattern=pattern)
        assert ref.repo.id is not None
        rule = ProtectedBranch(repo_id=ref.repo.id, pattern=pattern)
    else:
        rule = get_rule(session, ref, rule_id)
        if existing is not None and existing.id != rule.id:
            raise InvalidInput(N_("A rule for “%(pattern)s” already exists."), pattern=pattern)
        rule.pattern = pattern
    rule.allow_force_push = allow_force_push
    rule.allow_deletion = allow_deletion
    rule.restrict_push = restrict_push
    rule.push_user_ids = " ".join(str(i) for i in sorted(set(push_user_ids or [])))
    rule.push_team_ids = " ".join(str(i) for i in sorted(set(push_team_ids or [])))
    rule.require_pull_request = require_pull_request
    rule.required_approvals = required_approvals
    rule.dismiss_stale_approvals = dismiss_stale_approvals
    rule.required_contexts = "\n".join(contexts)
    rule.require_up_to_date = require_up_to_date
    session.add(rule)
    session.flush()
    return rule


def _clean_contexts(contexts: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(c.strip() for c in contexts if c.strip()))
    for context in cleaned:
        if len(context) > MAX_CONTEXT:
            raise InvalidInput(N_("A status context may be at most %(max)s characters long."), max=MAX_CONTEXT)
    if len("\n".join(cleaned)) > MAX_CONTEXTS_TEXT:
        raise InvalidInput(N_("Too many required status contexts."))
    return cleaned


def delete_rule(session: Session, actor: Account, ref: RepoRef, rule_id: int) -> None:
    require_repo_access(session, actor, ref.repo, Access.ADMIN)
    session.delete(get_rule(session, ref, rule_id))


def matching_rule(rules: list[ProtectedBranch], branch: str) -> ProtectedBranch | None:
    """An exact name wins over patterns; among patterns the longest (most specific) wins."""
    exact = [r for r in rules if r.pattern == branch]
    if exact:
        return exact[0]
    globs = [r for r in rules if any(c in r.pattern for c in "*?[") and fnmatch.fnmatchcase(branch, r.pattern)]
    return max(globs, key=lambda r: len(r.pattern)) if globs else None


def may_push(session: Session, actor: Account | None, level: Access, rule: ProtectedBranch) -> bool:
    if not rule.restrict_push or level >= Access.ADMIN:
        return level >= Access.WRITE
    if actor is None:
        return False
    if actor.id in rule.push_users:
        return True
    return bool(user_team_ids(session, actor) & set(rule.push_teams))


def may_bypass_pull_requests(session: Session, actor: Account | None, level: Access, rule: ProtectedBranch) -> bool:
    """Whether ``actor`` may push straight to a branch whose rule requires pull requests: repository admins, and
    the users and teams the rule's push list names (GitHub's "allow specified actors to bypass")."""
    if level >= Access.ADMIN:
        return True
    if actor is None or level < Access.WRITE:
        return False
    if actor.id in rule.push_users:
        return True
    return bool(rule.push_teams) and bool(user_team_ids(session, actor) & set(rule.push_teams))


def pull_request_required(
    session: Session, actor: Account | None, level: Access, rule: ProtectedBranch, *, creating: bool, deleting: bool
) -> bool:
    """Whether a direct update of a branch under ``rule`` is refused because changes must arrive by pull request.
    Requiring approvals implies it (a direct push could not have been approved), as on GitHub. Creating the branch
    and deleting it are governed by the other settings."""
    if not (rule.require_pull_request or rule.required_approvals > 0) or creating or deleting:
        return False
    return not may_bypass_pull_requests(session, actor, level, rule)


def missing_contexts(
    session: Session, actor: Account | None, level: Access, ref: RepoRef, rule: ProtectedBranch, new_sha: str, *,
    creating: bool, deleting: bool,
) -> list[str]:
    """The required status contexts that have not succeeded on ``new_sha`` in this repository, for a direct update
    of a branch under ``rule`` (empty when the update may go ahead). As on GitHub, a commit pushed straight to such a
    branch must already carry passing statuses, e.g. from a pipeline of another branch holding the same commit;
    people who may bypass pull requests may bypass this too."""
    if not rule.contexts or creating or deleting or may_bypass_pull_requests(session, actor, level, rule):
        return []
    assert ref.repo.id is not None
    states = {s.context: s.state for s in statuses.list_for(session, ref.repo.id, new_sha)}
    return [c for c in rule.contexts if states.get(c) != "success"]


@dataclass(frozen=True)
class RulePolicy:
    """What the pre-receive hook needs to know about one rule, for one pusher."""

    pattern: str
    allow_force_push: bool
    allow_deletion: bool
    can_push: bool


def push_policy(session: Session, actor: Account | None, ref: RepoRef, level: Access) -> dict[str, object]:
    """The policy the pre-receive hook applies, as JSON-ready data. Built per push, for this pusher."""
    rules = [
        asdict(
            RulePolicy(
                pattern=r.pattern,
                allow_force_push=r.allow_force_push,
                allow_deletion=r.allow_deletion,
                can_push=may_push(session, actor, level, r),
            )
        )
        for r in list_rules(session, ref)
    ]
    return {
        "repo": ref.full_name,
        "default_branch": ref.repo.default_branch,
        "reserved_prefixes": list(RESERVED_REF_PREFIXES),
        "rules": rules,
    }


def check_ref_update(
    session: Session, actor: Account, ref: RepoRef, level: Access, full_ref: str, *, deleting: bool,
    creating: bool = False,
) -> None:
    """The checks the hook makes, for ref changes made through the web UI or CLI (``creating``: the ref does not
    exist yet)."""
    if full_ref.startswith(RESERVED_REF_PREFIXES):
        raise PermissionDenied(N_("%(ref)s is reserved by the forge."), ref=full_ref)
    if not full_ref.startswith("refs/heads/"):
        return
    branch = full_ref[len("refs/heads/") :]
    if deleting and branch == ref.repo.default_branch:
        raise PermissionDenied(N_("The default branch %(branch)s cannot be deleted."), branch=branch)
    rule = matching_rule(list_rules(session, ref), branch)
    if rule is None:
        return
    if deleting and not rule.allow_deletion:
        raise PermissionDenied(N_("Branch %(branch)s is protected: it cannot be deleted."), branch=branch)
    if not may_push(session, actor, level, rule):
        raise PermissionDenied(N_("Branch %(branch)s is protected: you may not push to it."), branch=branch)
    if pull_request_required(session, actor, level, rule, creating=creating, deleting=deleting):
        raise PermissionDenied(N_("Changes to %(branch)s must go through a pull request."), branch=branch)


# --- who may push, by name (for forms) ---------------------------------------------------------------------


def resolve_push_allowances(
    session: Session, ref: RepoRef, user_names: list[str], team_names: list[str]
) -> tuple[list[int], list[int]]:
    """Turn the user and team names typed into a rule form into ids, refusing unknown names and teams of
    other organisations (a rule may only name teams of the organisation that owns the repository)."""
    user_ids: list[int] = []
    team_ids: list[int] = []
    if team_names and ref.owner.kind != AccountKind.ORG:
        raise InvalidInput(N_("Only repositories of organisations can give push access to teams."))
    try:
        for name in user_names:
            user = get_user(session, name)
            assert user.id is not None
            user_ids.append(user.id)
        for name in team_names:
            team = get_team(session, ref.owner, name)
            assert team.id is not None
            team_ids.append(team.id)
    except NotFound as exc:
        # A name typed into a form is bad input, not a missing page.
        raise InvalidInput(exc.message, **exc.params) from exc
    return user_ids, team_ids


def allowance_names(session: Session, rule: ProtectedBranch) -> tuple[list[str], list[str]]:
    """The user and team names a rule lets push, for showing and editing it (deleted ones are skipped)."""
    users = [a.name for a in (session.get(Account, i) for i in rule.push_users) if a is not None]
    teams = [t.name for t in (session.get(Team, i) for i in rule.push_teams) if t is not None]
    return sorted(users, key=str.lower), sorted(teams, key=str.lower)
