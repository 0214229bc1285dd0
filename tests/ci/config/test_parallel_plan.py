"""Planning ``parallel`` jobs as GitLab does: instance names, ``CI_NODE_INDEX``/``CI_NODE_TOTAL`` and the matrix
variables, ``needs`` and ``dependencies`` on parallel jobs, ``needs:parallel:matrix`` (with matrix expressions),
``rules`` per instance, and which jobs' artifacts each job downloads."""

from __future__ import annotations

import pytest

from ci.config import ConfigErrors
from tests.ci.config.helpers import branch, job, names, problems, run

MATRIX = """\
    stages: [build, test, deploy]
    build:
      stage: build
      script: go build
      parallel:
        matrix:
          - GOOS: [linux, darwin]
            GOARCH: [amd64, arm64]
    test:
      stage: test
      script: go test
      parallel: 3
      needs: [build]
    package:
      stage: deploy
      script: package
      needs:
        - job: build
          parallel:
            matrix:
              - GOOS: linux
                GOARCH: [amd64, arm64]
    report:
      stage: deploy
      script: report
      dependencies: [test]
    """


def test_instance_names_and_node_variables() -> None:
    result = run(MATRIX)
    assert names(result) == [
        "build: [linux, amd64]", "build: [linux, arm64]", "build: [darwin, amd64]", "build: [darwin, arm64]",
        "test 1/3", "test 2/3", "test 3/3", "package", "report",
    ]
    darwin = job(result, "build: [darwin, arm64]")
    assert darwin.variables == {"GOOS": "darwin", "GOARCH": "arm64", "CI_NODE_INDEX": "4", "CI_NODE_TOTAL": "4"}
    assert darwin.parallel == (4, 4) and darwin.base_name == "build"
    second = job(result, "test 2/3")
    assert second.variables == {"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "3"} and second.parallel == (2, 3)
    assert job(result, "package").parallel is None


def test_needs_and_dependencies_on_parallel_jobs() -> None:
    result = run(MATRIX)
    all_builds = ("build: [linux, amd64]", "build: [linux, arm64]", "build: [darwin, amd64]", "build: [darwin, arm64]")
    assert job(result, "test 1/3").needs == all_builds
    assert job(result, "test 1/3").artifact_sources == all_builds
    assert job(result, "package").needs == ("build: [linux, amd64]", "build: [linux, arm64]")
    assert job(result, "report").needs is None
    assert job(result, "report").artifact_sources == ("test 1/3", "test 2/3", "test 3/3")


def test_matrix_expressions_pair_instances_one_to_one() -> None:
    result = run("""\
        stages: [build, test]
        build:
          stage: build
          script: x
          parallel:
            matrix:
              - OS: [linux, mac]
                ARCH: [amd64, arm64]
        test:
          stage: test
          script: x
          parallel:
            matrix:
              - OS: [linux, mac]
                ARCH: [amd64, arm64]
          needs:
            - job: build
              parallel:
                matrix:
                  - OS: ['$[[ matrix.OS ]]']
                    ARCH: ['$[[ matrix.ARCH ]]']
        """)
    assert job(result, "test: [mac, amd64]").needs == ("build: [mac, amd64]",)
    assert job(result, "test: [linux, arm64]").artifact_sources == ("build: [linux, arm64]",)


def test_rules_see_the_matrix_variables() -> None:
    result = run("""\
        test:
          script: pytest
          parallel:
            matrix:
              - PYTHON: ["3.11", "3.12", "3.13"]
          rules:
            - if: $PYTHON == "3.13" && $CI_COMMIT_BRANCH != $CI_DEFAULT_BRANCH
              when: never
            - if: $PYTHON == "3.13"
              allow_failure: true
            - when: on_success
        """, branch("feature"))
    assert names(result) == ["test: [3.11]", "test: [3.12]"]
    on_main = run("""\
        test:
          script: pytest
          parallel:
            matrix:
              - PYTHON: ["3.12", "3.13"]
          rules:
            - if: $PYTHON == "3.13"
              allow_failure: true
            - when: on_success
        """)
    assert [(j.name, j.allow_failure) for j in on_main.jobs] == [("test: [3.12]", False), ("test: [3.13]", True)]


def test_artifact_sources_follow_gitlabs_order_of_choice() -> None:
    result = run("""\
        stages: [build, test, deploy]
        build:
          stage: build
          script: x
        docs:
          stage: build
          script: x
        unit:
          stage: test
          script: x
        lint:
          stage: test
          script: x
          needs:
            - job: build
              artifacts: false
            - docs
        nothing:
          stage: test
          script: x
          dependencies: []
        at_once:
          stage: test
          script: x
          needs: []
        deploy:
          stage: deploy
          script: x
        """)
    assert job(result, "unit").artifact_sources == ("build", "docs")  # every job of the earlier stages
    assert job(result, "lint").artifact_sources == ("docs",)  # needs, except artifacts: false
    assert job(result, "nothing").artifact_sources == ()
    assert job(result, "at_once").artifact_sources == ()
    assert job(result, "deploy").artifact_sources == ("build", "docs", "unit", "lint", "nothing", "at_once")


def test_needing_a_matrix_combination_that_does_not_exist() -> None:
    assert problems("""\
        build:
          stage: build
          script: x
          parallel:
            matrix:
              - OS: [linux]
        plain:
          stage: build
          script: x
        test:
          script: x
          needs:
            - job: build
              parallel:
                matrix:
                  - OS: windows
            - job: plain
              parallel:
                matrix:
                  - OS: linux
        """) == [
        (13, "job “test” needs “build: [windows]”, which “build”'s “parallel: matrix” does not make"),
        (17, "job “test” needs “plain” with “parallel: matrix”, but “plain” has no “parallel: matrix”"),
    ]


def test_needing_instances_left_out_by_rules_is_an_error_unless_optional() -> None:
    text = """\
        build:
          stage: build
          script: x
          parallel:
            matrix:
              - OS: [linux, windows]
          rules:
            - if: $OS == "windows"
              when: never
            - when: on_success
        test:
          script: x
          needs:
            - job: build
              parallel:
                matrix:
                  - OS: windows
        """
    with pytest.raises(ConfigErrors) as caught:
        run(text)
    assert [(e.line, e.message) for e in caught.value.errors] == [
        (14, "job “test” needs job “build: [windows]”, but “build: [windows]” is not in this pipeline (its rules, "
             "only or except left it out); to need a job that is not always there, write {job: build, optional: "
             "true}"),
    ]
    optional = run(text.replace("- job: build\n", "- job: build\n              optional: true\n"))
    assert job(optional, "test").needs is None  # its only need is absent: stage order, as GitLab does
