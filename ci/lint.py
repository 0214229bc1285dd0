"""The lint page: a pipeline file typed or pasted in, checked and planned as a push to the default branch would
plan it, with ``include: local`` and ``cache:key:files`` read from that branch's latest commit."""

from __future__ import annotations

from dataclasses import dataclass, field

from ci import config as ci_config
from ci import pipelines, variables
from ci.config.spec import ConfigError, ConfigErrors, Plan, PlannedJob
from forge.git.repository import CommitInfo, GitRepo
from forge.repos.services import RepoRef


@dataclass(frozen=True)
class LintResult:
    errors: list[ConfigError]
    plan: Plan | None
    warnings: list[ConfigError] = field(default_factory=list)  # usable, but something is left out or odd
    stages: list[tuple[str, list[PlannedJob]]] = field(default_factory=list)  # the plan's jobs by stage, in order


def lint_variables(ref: RepoRef, branch: str, commit: CommitInfo | None, server_url: str) -> dict[str, str]:
    """The variables a lint run plans with: those of a push to ``branch`` (of its latest commit when known)."""
    if commit is None:
        return {"CI": "true", "CI_COMMIT_BRANCH": branch, "CI_COMMIT_REF_NAME": branch,
                "CI_DEFAULT_BRANCH": ref.repo.default_branch, "CI_PIPELINE_SOURCE": "push",
                "CI_PROJECT_PATH": ref.full_name, "CI_SERVER_URL": server_url}
    facts = variables.PipelineFacts(ref, branch, "branch", commit, "", "push", server_url)
    return variables.pipeline_variables(facts)


def lint_text(git: GitRepo, ref: RepoRef, text: str, server_url: str) -> LintResult:
    """Errors of ``text`` as a pipeline file, or the jobs a push to the default branch would run."""
    branch = ref.repo.default_branch
    tip = git.ref_target(f"refs/heads/{branch}")
    commit = git.resolve_commit(tip) if tip else None
    variables = lint_variables(ref, branch, commit, server_url)
    exists = pipelines.exists_checker(git, tip) if tip else (lambda _pattern: False)
    try:
        # include: rules are decided as for that push (its variables and files; every changes: matches).
        config = ci_config.load(text, ".forge-ci.yml", pipelines.include_reader(git, tip) if tip else None,
                                ci_config.IncludeContext(variables, exists))
        plan = ci_config.plan(config, variables, None, exists, pipelines.blob_id_reader(git, tip) if tip else None)
    except ConfigErrors as exc:
        return LintResult(exc.errors, None)
    warnings = list(dict.fromkeys((*config.warnings, *plan.warnings)))
    stages: dict[tuple[int, str], list[PlannedJob]] = {}
    for job in plan.jobs:
        stages.setdefault((job.stage_index, job.stage), []).append(job)
    return LintResult([], plan, warnings, [(stage, jobs) for (_, stage), jobs in sorted(stages.items())])
