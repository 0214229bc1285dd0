"""The context every repository page shares: the repository, its owner, the viewer's access and the active tab."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request

from forge.permissions import Access
from forge.repos import services as repos
from forge.repos.services import RepoRef
from web.state import current_user


def header_context(ref: RepoRef, level: Access, source: RepoRef | None, tab: str) -> dict[str, Any]:
    """What repo/header.html needs, from a repository already looked up for the viewer."""
    return {
        "ref": ref,
        "repo": ref.repo,
        "owner": ref.owner,
        "level": int(level),
        "can_admin": level >= Access.ADMIN,
        "can_write": level >= Access.WRITE,
        "fork_source": source,
        "tab": tab,
    }


def repo_page_context(session: Session, request: Request, tab: str, needed: Access = Access.READ) -> dict[str, Any]:
    """Look up ``/{owner}/{repo}`` for the viewer (a hidden repository is NotFound) and build the header's data."""
    p = request.path_params
    ref, level = repos.get_visible_repo(session, current_user(request), p["owner"], p["repo"], needed)
    return header_context(ref, level, repos.fork_source(session, ref), tab)


def repo_settings_context(session: Session, request: Request, section: str) -> tuple[RepoRef, dict[str, Any]]:
    """Look up ``/{owner}/{repo}`` for one of its settings pages (repository administrators only; NotFound or
    PermissionDenied otherwise) and build what the settings layout needs, with ``section`` marked active."""
    p = request.path_params
    ref, level = repos.get_visible_repo(session, current_user(request), p["owner"], p["repo"], Access.ADMIN)
    return ref, {
        **header_context(ref, level, repos.fork_source(session, ref), "settings"),
        "is_owner": level >= Access.OWNER,
        "section": section,
        "base": f"/{ref.full_name}/settings",
    }
