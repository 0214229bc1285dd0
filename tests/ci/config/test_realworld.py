"""Realistic pipeline files modelled on public Python and Go projects (``realworld/``), planned for a push to the
default branch, a push to a feature branch and a tag: the jobs, stages, needs, ``when`` and variables are what
GitLab creates for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.config import Plan, load, plan
from tests.ci.config.helpers import branch, job, tag

HERE = Path(__file__).parent / "realworld"
DIR = {"CI_PROJECT_DIR": "/builds/acme/app"}
MAIN, FEATURE, TAG = branch("main", **DIR), branch("feature/login", **DIR), tag("v1.2.3", **DIR)
GO_SUM = "0123456789abcdef0123456789abcdef01234567"


def planned(name: str, variables: dict[str, str]) -> Plan:
    config = load((HERE / name).read_text(), ".gitlab-ci.yml")
    return plan(config, variables, None, None, {"go.sum": GO_SUM}.get)


def shape(result: Plan) -> list[tuple[str, str, tuple[str, ...] | None, str, bool]]:
    return [(j.name, j.stage, j.needs, j.when, j.allow_failure) for j in result.jobs]


# --- Python library ------------------------------------------------------------------------------------------------

PY = "python-library.gitlab-ci.yml"
PYTESTS = ("pytest: [3.10]", "pytest: [3.11]", "pytest: [3.12]", "pytest: [3.13]")
PY_COMMON = [
    ("ruff", "lint", None, "on_success", False),
    ("mypy", "lint", None, "on_success", True),
    *[(name, "test", None, "on_success", False) for name in PYTESTS],
]
PY_VARS = {"PIP_CACHE_DIR": "/builds/acme/app/.cache/pip", "PYTHONDONTWRITEBYTECODE": "1"}


def test_python_library_on_the_default_branch() -> None:
    result = planned(PY, MAIN)
    assert result.stages == ("lint", "test", "build", "deploy")
    assert shape(result) == [
        *PY_COMMON,
        ("tox-oldest", "test", None, "on_success", False),
        ("integration", "test", None, "on_success", False),
        ("build", "build", ("ruff",), "on_success", False),
        ("pages", "deploy", None, "on_success", False),
    ]
    first = job(result, "pytest: [3.10]")
    assert first.variables == {**PY_VARS, "PYTHON_VERSION": "3.10", "CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "4"}
    assert first.image is not None and first.image.name == "python:3.10-slim"
    assert first.coverage == r"TOTAL.*\s+(\d+%)$" and first.interruptible
    assert first.artifacts is not None and first.artifacts.junit == ("report.xml",)
    assert first.artifacts.when == "always" and first.artifacts.expire_in == 14 * 86400
    assert first.before_script == ("python -m pip install --upgrade pip",)
    integration = job(result, "integration")
    assert [(s.name, s.alias) for s in integration.services] == [("postgres:16", ("db",)), ("redis:7", ())]
    assert integration.variables["DATABASE_URL"] == "postgresql://runner:secret@db:5432/mylib"
    assert integration.retry.max == 2 and integration.retry.when == ("runner_system_failure",
                                                                      "stuck_or_timeout_failure")
    assert [c.key for c in integration.cache] == ["pip-$CI_JOB_NAME_SLUG"]
    assert job(result, "pages").artifact_sources == (
        "ruff", "mypy", *PYTESTS, "tox-oldest", "integration", "build"
    )


def test_python_library_on_a_feature_branch() -> None:
    result = planned(PY, FEATURE)
    assert result.stages == ("lint", "test", "build")
    assert shape(result) == [
        *PY_COMMON,
        ("integration", "test", None, "on_success", False),
        ("build", "build", ("ruff",), "on_success", False),
    ]


def test_python_library_with_an_open_merge_request_makes_no_branch_pipeline() -> None:
    assert planned(PY, {**FEATURE, "CI_OPEN_MERGE_REQUESTS": "acme/app!4"}).skipped_by_workflow


def test_python_library_on_a_release_tag() -> None:
    result = planned(PY, TAG)
    assert shape(result) == [
        *PY_COMMON,
        ("integration", "test", None, "on_success", False),
        ("build", "build", ("ruff",), "on_success", False),
        ("publish", "deploy", ("build", *PYTESTS), "on_success", False),
    ]
    publish = job(result, "publish")
    assert not publish.interruptible and publish.artifact_sources == ("build", *PYTESTS)
    assert publish.environment is not None and publish.environment.name == "pypi"
    assert [j.name for j in planned(PY, tag("nightly", **DIR)).jobs][-1] == "build"


# --- Go service ----------------------------------------------------------------------------------------------------

GO = "go-service.gitlab-ci.yml"
TESTS = ("test: [1.21]", "test: [1.22]")
BUILDS = ("build: [linux, amd64]", "build: [linux, arm64]", "build: [darwin, amd64]", "build: [darwin, arm64]")
GO_COMMON = [
    ("download", ".pre", None, "on_success", False),
    ("golangci-lint", "lint", ("download",), "on_success", False),
    *[(name, "test", ("download",), "on_success", False) for name in TESTS],
    *[(name, "build", TESTS, "on_success", False) for name in BUILDS],
]
GO_VARS = {"GOPATH": "/builds/acme/app/.go", "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}


def test_go_service_on_the_default_branch() -> None:
    result = planned(GO, MAIN)
    assert result.stages == (".pre", "lint", "test", "build", "deploy")
    assert shape(result) == [*GO_COMMON, ("production", "deploy", None, "delayed", False)]
    production = job(result, "production")
    assert production.start_in == 1800 and production.resource_group == "production"
    assert production.cache == ()  # .go-cache is only extended by the Go jobs
    download, lint = job(result, "download"), job(result, "golangci-lint")
    assert download.cache[0].key == lint.cache[0].key
    assert (download.cache[0].policy, lint.cache[0].policy) == ("pull-push", "pull")
    key = download.cache[0].key or ""
    assert key.startswith("gomod-") and len(key) == len("gomod-") + 40
    newer = job(result, "test: [1.22]")
    assert newer.variables == {**GO_VARS, "CGO_ENABLED": "1", "GO_VERSION": "1.22", "CI_NODE_INDEX": "2",
                               "CI_NODE_TOTAL": "2"}
    assert newer.image is not None and newer.image.name == "golang:1.22"
    assert newer.coverage == r"total:\s+\(statements\)\s+(\d+.\d+\%)"
    darwin = job(result, "build: [darwin, arm64]")
    assert darwin.variables == {**GO_VARS, "GOOS": "darwin", "GOARCH": "arm64", "CI_NODE_INDEX": "4",
                                "CI_NODE_TOTAL": "4"}
    assert darwin.artifact_sources == ()  # needs: test with artifacts: false
    assert darwin.artifacts is not None and darwin.artifacts.name == "app-$GOOS-$GOARCH"


def test_go_service_on_a_feature_branch() -> None:
    result = planned(GO, FEATURE)
    assert shape(result) == [
        *GO_COMMON,
        ("review", "deploy", None, "on_success", False),
        ("stop-review", "deploy", None, "manual", True),
    ]
    review = job(result, "review")
    assert review.artifact_sources == ("build: [linux, amd64]",)
    assert review.environment is not None and review.environment.on_stop == "stop-review"
    assert review.environment.auto_stop_in == 3 * 86400
    assert review.resource_group == "review-$CI_COMMIT_REF_SLUG"


def test_go_service_on_a_tag() -> None:
    result = planned(GO, TAG)
    assert result.stages == (".pre", "lint", "test", "build", "release", "deploy")
    assert shape(result) == [
        *GO_COMMON,
        ("release", "release", BUILDS, "on_success", False),
        ("production", "deploy", None, "manual", False),
    ]
    release = job(result, "release")
    assert release.image is not None and release.image.entrypoint == ("",)
    assert release.artifact_sources == BUILDS
    assert release.variables == {**GO_VARS, "GIT_DEPTH": "0"}


# --- Django application (older keywords) ---------------------------------------------------------------------------

DJANGO = "django-app.gitlab-ci.yml"
DJANGO_TEST = [
    ("flake8", "test", None, "on_success", False),
    ("tests 1/2", "test", None, "on_success", False),
    ("tests 2/2", "test", None, "on_success", False),
]


@pytest.mark.parametrize(("variables", "rest"), [
    (MAIN, [("assets", "build", None, "on_success", False), ("deploy-staging", "deploy", None, "on_success", False)]),
    (FEATURE, []),
    (TAG, [("assets", "build", None, "on_success", False),
           ("deploy-production", "deploy", None, "manual", True)]),
])
def test_django_app(variables: dict[str, str], rest: list[tuple[str, str, None, str, bool]]) -> None:
    result = planned(DJANGO, variables)
    assert shape(result) == [*DJANGO_TEST, *rest]
    shard = job(result, "tests 2/2")
    assert [s.name for s in shard.services] == ["postgres:15"] and job(result, "flake8").services == ()
    assert shard.before_script[-1] == "pip install -r requirements.txt" and shard.retry.max == 1
    assert shard.variables["CI_NODE_INDEX"] == "2" and shard.variables["POSTGRES_DB"] == "app"
    if rest:
        assert job(result, "assets").artifact_sources == ()  # dependencies: []
        assert job(result, rest[1][0]).artifact_sources == ("assets",)
    if variables is TAG:
        assert job(result, "deploy-production").manual_confirmation == "Deploy to production?"
