"""Shared helpers for the pipeline-file tests: load a file, list its problems, plan it for a push or a tag."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from ci.config import ConfigErrors, PipelineConfig, Plan, PlannedJob, load, plan

PROJECT = "acme/app"


def read(text: str, read_file: Callable[[str], str | None] | None = None) -> PipelineConfig:
    return load(textwrap.dedent(text), ".gitlab-ci.yml", read_file)


def problems(text: str, read_file: Callable[[str], str | None] | None = None) -> list[tuple[int | None, str]]:
    try:
        read(text, read_file)
    except ConfigErrors as exc:
        return [(e.line, e.message) for e in exc.errors]
    raise AssertionError("the file was accepted")


def warnings(text: str) -> list[tuple[int | None, str]]:
    return [(w.line, w.message) for w in read(text).warnings]


def branch(name: str = "main", source: str = "push", **extra: str) -> dict[str, str]:
    return {
        "CI_COMMIT_BRANCH": name, "CI_COMMIT_REF_NAME": name, "CI_COMMIT_REF_SLUG": name.replace("/", "-"),
        "CI_PIPELINE_SOURCE": source, "CI_DEFAULT_BRANCH": "main", "CI_PROJECT_PATH": PROJECT, **extra,
    }


def tag(name: str, **extra: str) -> dict[str, str]:
    return {
        "CI_COMMIT_TAG": name, "CI_COMMIT_REF_NAME": name, "CI_COMMIT_REF_SLUG": name.replace(".", "-"),
        "CI_PIPELINE_SOURCE": "push", "CI_DEFAULT_BRANCH": "main", "CI_PROJECT_PATH": PROJECT, **extra,
    }


def run(text: str, variables: dict[str, str] | None = None, *,
        blob_id: Callable[[str], str | None] | None = None,
        exists: Callable[[str], bool] | None = None,
        read_file: Callable[[str], str | None] | None = None) -> Plan:
    return plan(read(text, read_file), variables if variables is not None else branch(), None, exists, blob_id)


def job(result: Plan, name: str) -> PlannedJob:
    found = [j for j in result.jobs if j.name == name]
    assert found, f"no job {name!r} in {[j.name for j in result.jobs]}"
    return found[0]


def names(result: Plan) -> list[str]:
    return [j.name for j in result.jobs]
