"""Real ``.gitlab-ci.yml`` files of public Python and Go projects (``corpus/``, each naming its repository and
commit): every one loads (warnings allowed) and plans for a push to the default branch, a push to a new feature
branch, a tag, a merge request pipeline and a schedule. The jobs expected for the first three are in the sidecar
``<name>.expected.json``, worked out by hand from GitLab's documented semantics (``only``/``except`` defaults and
``@project`` filters, ``rules``, ``changes`` being true on new branches and tags, Ruby anchors in ref patterns,
``parallel`` names...), not copied from what the planner prints; ``notes`` there say why where it is not obvious.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci.config import PipelineConfig, Plan, load, plan

HERE = Path(__file__).parent / "corpus"
FILES = sorted(HERE.glob("*.yml"))
FEATURE = "feature/login"
TAG = "v1.2.3"
# The push to the default branch changes one file that no job's ``changes`` names; a new branch and a tag have
# no known changes (GitLab: every ``changes`` is then true).
CHANGED_ON_DEFAULT = ["README.md"]


def expected(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_suffix(".expected.json").read_text())
    return data


def loaded(path: Path) -> PipelineConfig:
    return load(path.read_text(), ".gitlab-ci.yml")


def project(meta: dict[str, Any], **extra: str) -> dict[str, str]:
    """The predefined variables GitLab sets for every pipeline of this project."""
    path: str = meta["project_path"]
    namespace, _, name = path.rpartition("/")
    return {
        "CI": "true", "GITLAB_CI": "true", "CI_SERVER": "yes",
        "CI_PROJECT_PATH": path, "CI_PROJECT_NAME": name, "CI_PROJECT_NAMESPACE": namespace,
        "CI_PROJECT_DIR": f"/builds/{path}", "CI_DEFAULT_BRANCH": meta["default_branch"],
        "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567", "CI_COMMIT_SHORT_SHA": "01234567",
        "CI_COMMIT_MESSAGE": "Update README\n", "CI_COMMIT_TITLE": "Update README",
        "CI_COMMIT_REF_PROTECTED": "false", "CI_PIPELINE_SOURCE": "push", **extra,
    }


def branch_push(meta: dict[str, Any], name: str, source: str = "push") -> dict[str, str]:
    protected = "true" if name == meta["default_branch"] else "false"  # GitLab protects the default branch
    return project(meta, CI_COMMIT_BRANCH=name, CI_COMMIT_REF_NAME=name, CI_COMMIT_REF_SLUG=name.replace("/", "-"),
                   CI_COMMIT_REF_PROTECTED=protected, CI_PIPELINE_SOURCE=source)


def tag_push(meta: dict[str, Any]) -> dict[str, str]:
    return project(meta, CI_COMMIT_TAG=TAG, CI_COMMIT_REF_NAME=TAG, CI_COMMIT_REF_SLUG="v1-2-3",
                   CI_COMMIT_TAG_MESSAGE="")


def merge_request(meta: dict[str, Any]) -> dict[str, str]:
    """What GitLab sets for a merge request pipeline (no CI_COMMIT_BRANCH there)."""
    path = meta["project_path"]
    return project(
        meta, CI_PIPELINE_SOURCE="merge_request_event", CI_COMMIT_REF_NAME=FEATURE, CI_COMMIT_REF_SLUG="feature-login",
        CI_MERGE_REQUEST_ID="1204", CI_MERGE_REQUEST_IID="4", CI_MERGE_REQUEST_TITLE="Add login",
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME=FEATURE, CI_MERGE_REQUEST_TARGET_BRANCH_NAME=meta["default_branch"],
        CI_MERGE_REQUEST_SOURCE_PROJECT_PATH=path, CI_MERGE_REQUEST_PROJECT_PATH=path,
        CI_MERGE_REQUEST_EVENT_TYPE="detached", CI_MERGE_REQUEST_DIFF_BASE_SHA="f" * 40,
        CI_OPEN_MERGE_REQUESTS=f"{path}!4",
    )


def names(result: Plan) -> list[str]:
    return sorted(job.name for job in result.jobs)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_real_file_plans_as_gitlab_does(path: Path) -> None:
    meta = expected(path)
    config = loaded(path)
    default = plan(config, branch_push(meta, meta["default_branch"]), CHANGED_ON_DEFAULT)
    feature = plan(config, branch_push(meta, FEATURE), None)
    tagged = plan(config, tag_push(meta), None)
    for result, wanted in ((default, meta["push_default"]), (feature, meta["push_feature"]), (tagged, meta["tag"])):
        if wanted is None:  # workflow:rules make no pipeline at all
            assert result.skipped_by_workflow and not result.jobs
        else:
            assert not result.skipped_by_workflow
            assert names(result) == sorted(wanted)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_real_file_plans_for_merge_requests_and_schedules(path: Path) -> None:
    meta = expected(path)
    config = loaded(path)
    for variables in (merge_request(meta), branch_push(meta, meta["default_branch"], "schedule")):
        result = plan(config, variables, None)
        # Planning never fails; what runs must be a job of the file (or an instance of one).
        assert {job.base_name for job in result.jobs} <= {job.name for job in config.jobs}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_what_is_left_out_is_said(path: Path) -> None:
    meta = expected(path)
    config = loaded(path)
    shown = " ".join(w.message for w in config.warnings)
    for name in meta.get("left_out", []):
        assert name not in {job.name for job in config.jobs}
        assert f"job “{name}” is left out" in shown
    for include in config.left_out_includes:
        assert f"“{include}”" in shown
    if not config.left_out_includes:
        assert "left out" not in shown


def test_the_corpus_is_large_enough() -> None:
    assert len(FILES) >= 25
    assert all(path.with_suffix(".expected.json").exists() for path in FILES)
    assert all(path.read_text().startswith("# Public repository ") for path in FILES)
