"""All web routes, in matching order: fixed prefixes first, then ``/<owner>`` and ``/<owner>/<repo>/...``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.routes import (
    accounts,
    admin,
    ci_artifacts,
    ci_environments,
    ci_logs,
    ci_pipelines,
    ci_runner_api,
    ci_runner_files,
    ci_runners,
    ci_schedules,
    ci_tests,
    ci_variables,
    home,
    issue_attachments,
    issue_conversation,
    issue_edits,
    issue_labels,
    issues,
    notifications,
    orgs,
    pull_conversation,
    pull_files,
    pull_merge,
    pulls,
    repo_blame,
    repo_code,
    repo_compare,
    repo_history,
    repo_refs,
    repo_search,
    repo_settings,
    repos,
    user_settings,
    webhooks,
)

# Starlette routes under /api/v1 that are not part of the REST API (the runner protocol, the GitLab-compatible
# trigger and status endpoints): matched before the API's mount, which takes everything else under /api/v1.
API_ROUTES_FIRST: list[BaseRoute] = [
    *ci_runner_api.routes,
    *ci_runner_files.routes,
    *ci_schedules.api_routes,
]

ROUTES: list[BaseRoute] = [
    *home.routes,
    *accounts.routes,
    *user_settings.routes,
    *admin.routes,
    *orgs.routes,
    *webhooks.routes,  # before the catch-alls: /org/<org>/settings/hooks would match /<owner>/<repo>/...
    *ci_runners.routes,
    *notifications.routes,
    # Catch-all owner/repo routes last.
    *ci_pipelines.routes,
    *ci_logs.routes,
    *ci_artifacts.routes,
    *ci_tests.routes,
    *ci_environments.routes,
    *ci_schedules.routes,
    *ci_variables.routes,
    *issues.routes,
    *issue_attachments.routes,
    *issue_conversation.routes,
    *issue_edits.routes,
    *issue_labels.routes,
    *pulls.routes,
    *pull_conversation.routes,
    *pull_files.routes,
    *pull_merge.routes,
    *repo_settings.routes,
    *repo_refs.routes,
    *repo_code.routes,
    *repo_history.routes,
    *repo_compare.routes,
    *repo_blame.routes,
    *repo_search.routes,
    *repos.routes,
]
