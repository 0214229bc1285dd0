"""Every API router, in the order the OpenAPI document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from web.api.routes import (
    branches,
    comments,
    commits,
    contents,
    hooks,
    issues,
    jobs,
    labels,
    meta,
    milestones,
    notifications,
    orgs,
    pipelines,
    pulls,
    repos,
    reviews,
    runners,
    search,
    statuses,
    users,
)

ROUTERS: list[APIRouter] = [
    meta.router,
    users.router,
    orgs.router,
    repos.router,
    branches.router,
    # Before commits: its /commits/{ref}/status would otherwise be taken by /commits/{ref:path}.
    statuses.router,
    commits.router,
    contents.router,
    issues.router,
    comments.router,
    labels.router,
    milestones.router,
    pulls.router,
    reviews.router,
    pipelines.router,
    jobs.router,
    runners.router,
    hooks.router,
    notifications.router,
    search.router,
]
