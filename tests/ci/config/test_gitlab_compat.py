"""What real pipeline files need, one rule at a time: ``allow_failure: exit_codes``, includes this forge cannot read
(warnings, and the jobs leaning on them left out), keys written with no value, ``rules:changes:compare_to``, Ruby
anchors in ``only``/``except`` patterns, ref patterns in merge request pipelines, ``spec: inputs``, and the GitLab
keywords this forge accepts without acting on them."""

from __future__ import annotations

import pytest

from ci.config import ConfigErrors, PipelineConfig, plan
from tests.ci.config.helpers import branch, job, names, problems, read, run, tag

REMOTE = "        include:\n          - project: group/templates\n            file: ci.yml\n"


# --- allow_failure: exit_codes -------------------------------------------------------------------------------------


def test_allow_failure_exit_codes() -> None:
    result = run("""\
        one:
          script: x
          allow_failure:
            exit_codes: 137
        many:
          script: x
          allow_failure:
            exit_codes: [137, 255, 137]
        manual:
          script: x
          when: manual
          allow_failure: {exit_codes: [3]}
        ruled:
          script: x
          allow_failure: {exit_codes: [3]}
          rules:
            - if: $CI_COMMIT_BRANCH == "main"
              allow_failure: true
        """)
    assert (job(result, "one").allow_failure, job(result, "one").allow_failure_exit_codes) == (False, (137,))
    assert job(result, "many").allow_failure_exit_codes == (137, 255)
    # GitLab: with exit codes the job is not allowed to fail in general, a manual one neither.
    assert (job(result, "manual").allow_failure, job(result, "manual").allow_failure_exit_codes) == (False, (3,))
    # A rule's allow_failure: true allows every failure; the codes no longer matter.
    assert (job(result, "ruled").allow_failure, job(result, "ruled").allow_failure_exit_codes) == (True, ())
    assert job(run("plain:\n  script: x\n"), "plain").allow_failure_exit_codes == ()


def test_bad_allow_failure_values() -> None:
    assert problems("""\
        a:
          script: x
          allow_failure: {exit_codes: []}
        b:
          script: x
          allow_failure: {exit_codes: [one]}
        c:
          script: x
          allow_failure: {codes: [1]}
        d:
          script: x
          allow_failure: sometimes
        """) == [
        (3, "job “a”: “allow_failure: exit_codes” is empty"),
        (6, "job “b”: “allow_failure: exit_codes” must be exit codes (numbers), not the text “one”"),
        (9, "job “c”: “allow_failure”: unknown key “codes” (known: exit_codes)"),
        (12, "job “d”: “allow_failure” must be true, false or {exit_codes: [...]}, not the text “sometimes”"),
    ]


# --- includes this forge cannot read --------------------------------------------------------------------------------


def test_jobs_leaning_on_an_unreadable_include_are_left_out_with_a_warning() -> None:
    text = REMOTE + """\
        stages: [build, test, deploy]
        build:
          stage: build
          extends: .go-build
        lint:
          extends: .base
          stage: test
        .base:
          script: [make lint]
          before_script:
            - !reference [.retry-apt, before_script]
        unit:
          stage: test
          script: [make test]
        sast:
          variables: {SAST_EXCLUDED_PATHS: vendor}
        package:
          stage: deploy
          needs: [build]
          script: [make package]
        report:
          stage: deploy
          needs: [unit, {job: sast, optional: true}, {job: gone, optional: true}]
          script: [make report]
        """
    config = read(text)
    assert [j.name for j in config.jobs] == ["unit", "report"]
    assert [(w.line, w.message) for w in config.warnings] == [
        (2, "“ci.yml” of the project “group/templates” is not available on this forge: its jobs are left out, and "
            "jobs that extend or need them are left out too"),
        (5, "job “build” is left out: it extends “.go-build”, which is not defined in this file (it probably comes "
            "from an include this forge cannot read)"),
        (14, "job “lint” is left out: !reference [.retry-apt, before_script] names something not defined in this "
             "file (it probably comes from an include this forge cannot read)"),
        (18, "job “sast” is left out: it has no “script”, so it probably only adds keys to a job of an include this "
             "forge cannot read"),
        (20, "job “package” is left out: it needs “build”, which is left out"),
    ]
    assert names(plan(config, branch())) == ["unit", "report"]


def test_default_keywords_referring_to_an_unreadable_include_are_dropped() -> None:
    config = read(REMOTE + """\
        default:
          tags: !reference [.runner, tags]
          image: golang:1.22
        build:
          script: go build
        """)
    (build,) = config.jobs
    assert build.tags == () and build.image is not None and build.image.name == "golang:1.22"
    assert config.warnings[-1].message == (
        "“default”: !reference [.runner, tags] names something not defined in this file (it probably comes from an "
        "include this forge cannot read); that keyword is left out of the defaults"
    )


def test_a_file_made_only_of_unreadable_includes_is_an_error() -> None:
    assert problems(REMOTE + """\
        variables:
          BINARY: app
        build arm:
          rules:
            - when: never
        """) == [
        (None, "every job of the file is left out: they come from, or lean on, includes this forge cannot read "
               "(“group/templates”)"),
    ]


def test_without_unreadable_includes_the_same_mistakes_are_errors() -> None:
    assert problems("""\
        build:
          extends: .go-build
        sast:
          variables: {A: b}
        report:
          needs: [gone]
          script: x
        """) == [
        (1, "job “build” has no “script”: every job needs one"),
        (2, "“build”: “extends” names “.go-build”, which is not defined in this file"),
        (3, "job “sast” has no “script”: every job needs one"),
        (6, "job “report” needs “gone”, which is not a job in this file"),
    ]


def test_optional_needs_of_jobs_not_in_the_file_are_accepted() -> None:
    # GitLab only checks that non-optional needs exist.
    result = run("a:\n  script: x\n  needs: [{job: maybe, optional: true}]\n")
    assert job(result, "a").needs is None


# --- keys written with no value ------------------------------------------------------------------------------------


def test_null_values_count_as_not_given() -> None:
    config = read("""\
        before_script:
        default:
          image: alpine
          after_script:
        .build:
          image: golang
          rules:
            - when: manual
        mac:
          extends: .build
          image: null
          rules: null
          dependencies:
          script: make
        """)
    (mac,) = config.jobs
    assert mac.image is not None and mac.image.name == "alpine"  # the default applies again
    assert mac.rules is None and mac.dependencies is None and mac.before_script == () and mac.after_script == ()


# --- rules:changes:compare_to --------------------------------------------------------------------------------------

COMPARE = """\
docs:
  script: make docs
  rules:
    - changes:
        paths: [docs/**/*]
        compare_to: refs/heads/$TARGET
"""


def test_changes_compare_to_uses_the_paths_changed_since_that_ref() -> None:
    config = read(COMPARE + "variables:\n  TARGET: main\n")
    asked: list[str] = []

    def compare(ref: str) -> list[str] | None:
        asked.append(ref)
        return {"refs/heads/main": ["docs/guide/index.md"], "refs/heads/old": ["src/app.py"]}.get(ref)

    # The push itself changed nothing under docs/, but compared with main something did.
    assert names(plan(config, branch("feature"), ["src/app.py"], compare=compare)) == ["docs"]
    assert asked == ["refs/heads/main"]
    # On a tag GitLab compares too (the comparison replaces "always true").
    assert names(plan(config, {**tag("v1"), "TARGET": "old"}, None, compare=compare)) == []
    # Without a way to compare (the command-line lint), changes are unknown: true.
    assert names(plan(config, branch("feature"), ["src/app.py"])) == ["docs"]


def test_compare_to_a_ref_that_does_not_exist_is_an_error() -> None:
    with pytest.raises(ConfigErrors) as caught:
        plan(read(COMPARE), {**branch(), "TARGET": "nope"}, [], compare=lambda ref: None)
    assert [(e.line, e.message) for e in caught.value.errors] == [
        (None, "“rules: changes: compare_to”: “refs/heads/nope” is not a branch, tag or commit of this repository"),
    ]


def test_compare_to_is_only_for_rules() -> None:
    found = problems("a:\n  script: x\n  rules:\n    - changes: {compare_to: main}\n")
    assert found == [(4, "job “a”: “rules: changes” needs “paths”")]


# --- only/except patterns --------------------------------------------------------------------------------------------


def test_ruby_anchors_in_ref_patterns() -> None:
    # GitLab falls back to Ruby's regex engine for these; \A and \Z anchor the whole ref name.
    text = """\
        stable:
          script: x
          only: ['/\\Av[0-9]+\\.[0-9]+\\.[0-9]+\\Z/']
        """
    assert names(run(text, tag("v1.2.3"))) == ["stable"]
    assert names(run(text, tag("v1.2.3-rc1"))) == []


def test_ref_names_and_patterns_never_match_merge_request_pipelines() -> None:
    text = "named:\n  script: x\n  only: [feature, /^feat/]\nmrs:\n  script: x\n  only: [merge_requests]\n"
    mr = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_REF_NAME": "feature",
          "CI_MERGE_REQUEST_IID": "4", "CI_PROJECT_PATH": "acme/app"}
    assert names(run(text, mr)) == ["mrs"]
    assert names(run(text, branch("feature"))) == ["named"]


# --- spec: inputs -----------------------------------------------------------------------------------------------------

TEMPLATE = """\
spec:
  inputs:
    job_name:
      default: build
    stage:
      default: test
    flaky:
      type: boolean
      default: false
    python:
      options: ["3.11", "3.12"]
      default: "3.12"
    args:
      type: array
      default: [pytest -q]
---
$[[ inputs.job_name ]]:
  stage: $[[ inputs.stage ]]
  image: python:$[[ inputs.python ]]-slim
  allow_failure: $[[ inputs.flaky ]]
  variables:
    NAME: $[[ inputs.job_name | truncate(0,3) ]]
    FLAKY: "flaky=$[[ inputs.flaky ]]"
  script: $[[ inputs.args ]]
"""


def test_spec_inputs_of_included_files() -> None:
    files = {"ci/pytest.yml": TEMPLATE}
    config = read("""\
        include:
          - local: ci/pytest.yml
          - local: ci/pytest.yml
            inputs:
              job_name: test-3.11
              python: "3.11"
              flaky: true
        stages: [build, test]
        """, files.get)
    first, second = config.jobs
    assert (first.name, first.stage, first.image and first.image.name, first.allow_failure) == (
        "build", "test", "python:3.12-slim", False)
    assert (second.name, second.image and second.image.name, second.allow_failure) == (
        "test-3.11", "python:3.11-slim", True)
    assert second.variables == {"NAME": "tes", "FLAKY": "flaky=true"} and second.script == ("pytest -q",)


def test_spec_inputs_of_the_pipeline_file_take_their_defaults() -> None:
    config = read("""\
        spec:
          inputs:
            schedule:
              type: boolean
              default: false
        ---
        variables:
          RELEASE_SCHEDULE: $[[ inputs.schedule ]]
        job:
          script: echo $[[ inputs.schedule ]]
          rules:
            - if: $RELEASE_SCHEDULE == "true"
              when: never
            - when: on_success
        """)
    assert config.variables == {"RELEASE_SCHEDULE": "false"}
    assert config.jobs[0].script == ("echo false",)


def test_bad_inputs() -> None:
    files = {"ci/pytest.yml": TEMPLATE, "ci/plain.yml": "job:\n  script: $[[ inputs.x ]]\n",
             "ci/needs.yml": "spec:\n  inputs:\n    target:\n---\njob:\n  script: make $[[ inputs.target ]]\n"}
    assert problems("""\
        include:
          - local: ci/pytest.yml
            inputs:
              python: "2.7"
              flaky: maybe
              colour: red
          - local: ci/plain.yml
            inputs: {x: 1}
          - local: ci/needs.yml
        """, files.get) == [
        (4, "include “ci/pytest.yml”: the input “python” must be one of its options, not the text “2.7”"),
        (5, "include “ci/pytest.yml”: the input “flaky” must be a boolean, not the text “maybe”"),
        (6, "include “ci/pytest.yml”: the input “colour” is not declared in the file's “spec: inputs”"),
        (7, "include “ci/plain.yml”: “inputs” are given, but the file has no “spec: inputs” header to receive them"),
        (9, "include “ci/needs.yml”: the input “target” has no default, so it must be given"),
    ]


def test_more_than_a_header_and_a_document_is_refused() -> None:
    assert problems("a:\n  script: x\n---\nb:\n  script: y\n") == [
        (4, "the file holds several YAML documents (“---”); only a “spec:” header may come before the "
            "configuration"),
    ]


# --- keywords accepted without effect ------------------------------------------------------------------------------


def test_release_secrets_and_id_tokens_are_warnings_naming_what_is_missing() -> None:
    config = read("""\
        publish:
          script: twine upload dist/*
          id_tokens:
            PYPI_ID_TOKEN: {aud: pypi}
          secrets:
            DB_PASSWORD: {vault: db/password@secrets}
          release:
            tag_name: $CI_COMMIT_TAG
            description: Release
          retry:
            when: runner_external_dependency_failure
        """)
    assert [j.name for j in config.jobs] == ["publish"]
    assert warning_texts_of(config) == [
        "job “publish”: “id_tokens” is not supported on this forge (PYPI_ID_TOKEN): the variables it names are "
        "empty: this forge issues no ID tokens",
        "job “publish”: “secrets” is not supported on this forge (DB_PASSWORD): the variables it names are empty: "
        "this forge reads no external secrets",
        "job “publish”: “release” is not supported on this forge: no release is created (the job's script still runs)",
    ]


def test_a_release_job_without_script_is_still_an_error() -> None:
    # GitLab requires a script in every job but trigger jobs; release-cli jobs write one.
    assert problems("publish:\n  release: {tag_name: v1, description: x}\n") == [
        (1, "job “publish” has no “script”: every job needs one"),
    ]


def warning_texts_of(config: PipelineConfig) -> list[str]:
    return [w.message for w in config.warnings]
