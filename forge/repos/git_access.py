"""Who may clone, fetch and push over git, and what the pre-receive hook must enforce for a push.

The HTTP layer authenticates, then calls :func:`authorize` for the repository and service; for a push it calls
:func:`push_policy_for` with the commands read from the request, and :func:`record_accepted` with what the
post-receive hook reported once git has finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from forge.accounts.models import Account
from forge.errors import AuthenticationRequired, NotFound, PermissionDenied
from forge.git.pktline import Command
from forge.git.repository import GitRepo
from forge.i18n import N_
from forge.permissions import Access, repo_access
from forge.repos.models import ProtectedBranch
from forge.repos.protection import (
    RESERVED_REF_PREFIXES,
    list_rules,
    matching_rule,
    may_push,
    missing_contexts,
    pull_request_required,
)
from forge.repos.pushes import RefUpdate, record_push
from forge.repos.services import RepoRef, find_repo, get_repo_by_id, path_of

ZERO_SHAS = ("0" * 40, "0" * 64)


@dataclass(frozen=True)
class GitGrant:
    repo_id: int
    full_name: str
    path: Path
    pusher_id: int | None
    level: Access


def authorize(
    session: Session,
    repos_root: Path,
    actor: Account | None,
    token_scopes: frozenset[str] | None,
    owner_name: str,
    repo_name: str,
    service: str,
) -> GitGrant:
    """Decide access for a git request. Raises:

    * AuthenticationRequired for an anonymous request that needs more than public read access, *and* for an
      anonymous request to a repository that does not exist, so that git prompts for credentials and a private
      repository's existence is not revealed (both answers are identical);
    * NotFound for a signed-in user who may not see the repository (identical to a missing one);
    * PermissionDenied for a signed-in user who may read but not push.
    """
    ref = find_repo(session, owner_name, repo_name)
    needed = Access.WRITE if service == "git-receive-pack" else Access.READ
    level = repo_access(session, actor, ref.repo, token_scopes=token_scopes) if ref else Access.NONE
    if ref is None or level == Access.NONE:
        if actor is None:
            raise AuthenticationRequired(N_("Authentication required."))
        raise NotFound(N_("Repository not found."))
    if level < needed:
        if actor is None:
            raise AuthenticationRequired(N_("Authentication required."))
        if token_scopes is not None and level >= Access.READ and "write:repo" not in token_scopes:
            raise PermissionDenied(N_("This access token lacks the write:repo scope needed to push."))
        raise PermissionDenied(
            N_("You do not have write access to %(repo)s."), repo=ref.full_name
        )
    assert ref.repo.id is not None
    return GitGrant(
        repo_id=ref.repo.id,
        full_name=ref.full_name,
        path=path_of(repos_root, ref),
        pusher_id=actor.id if actor else None,
        level=level,
    )


def _ref_rule(
    session: Session, actor: Account | None, ref: RepoRef, level: Access, cmd: Command, rules: list[ProtectedBranch]
) -> dict[str, str | None]:
    name = cmd.ref
    deleting = cmd.new_sha in ZERO_SHAS
    if name.startswith(RESERVED_REF_PREFIXES):
        return {"deny": "this ref namespace is reserved by the forge.", "deny_force": None}
    if not name.startswith("refs/"):
        return {"deny": "only refs under refs/ can be pushed.", "deny_force": None}
    if not name.startswith("refs/heads/"):
        return {"deny": None, "deny_force": None}
    branch = name[len("refs/heads/") :]
    if deleting and branch == ref.repo.default_branch:
        return {"deny": f"{branch} is the default branch and cannot be deleted.", "deny_force": None}
    rule = matching_rule(rules, branch)
    if rule is None:
        return {"deny": None, "deny_force": None}
    if not may_push(session, actor, level, rule):
        return {"deny": f"branch {branch} is protected and you are not allowed to push to it.", "deny_force": None}
    if deleting and not rule.allow_deletion:
        return {"deny": f"branch {branch} is protected and cannot be deleted.", "deny_force": None}
    creating = cmd.old_sha in ZERO_SHAS
    if pull_request_required(session, actor, level, rule, creating=creating, deleting=deleting):
        return {"deny": f"changes to {branch} must go through a pull request.", "deny_force": None}
    missing = missing_contexts(session, actor, level, ref, rule, cmd.new_sha, creating=creating, deleting=deleting)
    if missing:
        return {"deny": f"branch {branch} requires status checks that have not passed on {cmd.new_sha[:10]}: "
                        f"{', '.join(missing)}.", "deny_force": None}
    if not rule.allow_force_push:
        return {"deny": None, "deny_force": f"branch {branch} is protected: force-push (non-fast-forward) refused."}
    return {"deny": None, "deny_force": None}


def push_policy_for(
    session: Session, grant: GitGrant, actor: Account | None, commands: list[Command]
) -> str:
    """The JSON the pre-receive hook applies: one entry per ref being pushed."""
    ref = get_repo_by_id(session, grant.repo_id)
    if ref is None:
        raise NotFound(N_("Repository not found."))
    rules = list_rules(session, ref)
    refs = {cmd.ref: _ref_rule(session, actor, ref, grant.level, cmd, rules) for cmd in commands}
    return json.dumps({"refs": refs})


def record_accepted(session: Session, grant: GitGrant, updates: list[RefUpdate]) -> None:
    ref = get_repo_by_id(session, grant.repo_id)
    if ref is None or not updates:
        return
    record_push(session, ref.repo, grant.pusher_id, updates, source="push")
    _adopt_default_branch(session, grant, ref, updates)


def _adopt_default_branch(session: Session, grant: GitGrant, ref: RepoRef, updates: list[RefUpdate]) -> None:
    """When the configured default branch does not exist (e.g. the first push to an empty repository sent
    ``master`` while the default is ``main``), make a pushed branch the default so the repository has a HEAD."""
    git = GitRepo(grant.path)
    if git.has_branch(ref.repo.default_branch):
        return
    pushed = [u.ref[len("refs/heads/") :] for u in updates
              if u.ref.startswith("refs/heads/") and u.new_sha not in ZERO_SHAS]
    if not pushed:
        return
    choice = next((b for b in ("main", "master") if b in pushed), pushed[0])
    git.set_head(choice)
    ref.repo.default_branch = choice
    session.add(ref.repo)
