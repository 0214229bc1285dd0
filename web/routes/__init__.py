"""All web routes, in matching order: fixed prefixes first, then ``/<owner>`` and ``/<owner>/<repo>/...``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.routes import (
    accounts,
    admin,
    api,
    ci_api,
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
    orgs,
    repo_blame,
    repo_code,
    repo_compare,
    repo_history,
    repo_refs,
    repo_search,
    repo_settings,
    repos,
    user_settings,
)

ROUTES: list[BaseRoute] = [
    *home.routes,
    *accounts.routes,
    *user_settings.routes,
    *admin.routes,
    *api.routes,
    *ci_api.routes,
    *ci_runner_api.routes,
    *ci_runner_files.routes,
    *orgs.routes,
    *ci_runners.routes,
    # Catch-all owner/repo routes last.
    *ci_pipelines.routes,
    *ci_logs.routes,
    *ci_artifacts.routes,
    *ci_tests.routes,
    *ci_environments.routes,
    *ci_schedules.routes,
    *ci_variables.routes,
    *repo_settings.routes,
    *repo_refs.routes,
    *repo_code.routes,
    *repo_history.routes,
    *repo_compare.routes,
    *repo_blame.routes,
    *repo_search.routes,
    *repos.routes,
]
