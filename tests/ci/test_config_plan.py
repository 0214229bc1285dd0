"""Which jobs a trigger runs: workflow:rules, rules, only/except, needs and variables — mostly GitLab's documented
examples, with the outcome GitLab's documentation states."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from ci.config import ConfigErrors, Image, Plan, PlannedJob, load, plan

PROJECT = "acme/app"


def branch(name: str, source: str = "push", **extra: str) -> dict[str, str]:
    return {
        "CI_COMMIT_BRANCH": name,
        "CI_COMMIT_REF_NAME": name,
        "CI_PIPELINE_SOURCE": source,
        "CI_DEFAULT_BRANCH": "main",
        "CI_PROJECT_PATH": PROJECT,
        **extra,
    }


def tag(name: str, **extra: str) -> dict[str, str]:
    return {
        "CI_COMMIT_TAG": name,
        "CI_COMMIT_REF_NAME": name,
        "CI_PIPELINE_SOURCE": "push",
        "CI_DEFAULT_BRANCH": "main",
        "CI_PROJECT_PATH": PROJECT,
        **extra,
    }


def merge_request(source_branch: str, target: str = "main") -> dict[str, str]:
    # Merge request pipelines have no CI_COMMIT_BRANCH (GitLab's predefined variables).
    return {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_COMMIT_REF_NAME": source_branch,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": source_branch,
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": target,
        "CI_DEFAULT_BRANCH": "main",
        "CI_PROJECT_PATH": PROJECT,
    }


def run(
    text: str,
    variables: dict[str, str],
    changed: list[str] | None = None,
    exists: Callable[[str], bool] | None = None,
) -> Plan:
    return plan(load(textwrap.dedent(text), ".gitlab-ci.yml"), variables, changed, exists)


def names(result: Plan) -> list[str]:
    return [job.name for job in result.jobs]


def job(result: Plan, name: str) -> PlannedJob:
    return next(j for j in result.jobs if j.name == name)


# --- stages and needs --------------------------------------------------------------------------------------------


def test_stages_of_the_plan_are_those_with_jobs() -> None:
    result = run(
        """\
        stages: [build, test, deploy]
        compile:
          stage: build
          script: make
        unit:
          stage: test
          script: make test
        cleanup:
          stage: .post
          script: rm -rf tmp
        """,
        branch("main"),
    )
    assert result.stages == ("build", "test", ".post")
    assert [(j.name, j.stage, j.stage_index) for j in result.jobs] == [
        ("compile", "build", 0),
        ("unit", "test", 1),
        ("cleanup", ".post", 2),
    ]
    assert result.skipped_by_workflow is False


def test_planned_job_carries_what_the_runner_needs() -> None:
    result = run(
        """\
        default:
          image: python:$PY
          before_script: [pip install .]
          tags: [docker, $ARCH]
          timeout: 10m
        variables:
          PY: "3.12"
          ARCH: amd64
        test:
          script: pytest
          after_script: [echo done]
          when: always
          allow_failure: true
        """,
        branch("main"),
    )
    (planned,) = result.jobs
    assert planned == PlannedJob(
        name="test",
        stage="test",
        stage_index=0,
        script=("pytest",),
        before_script=("pip install .",),
        after_script=("echo done",),
        image=Image("python:3.12"),
        variables={"PY": "3.12", "ARCH": "amd64"},
        needs=None,
        when="always",
        allow_failure=True,
        timeout_seconds=600,
        tags=("docker", "amd64"),
        base_name="test",
    )


NEEDS = """\
    stages: [build, test, deploy]
    build:
      stage: build
      script: make
    docs:
      stage: build
      script: make docs
      rules:
        - if: $BUILD_DOCS
    test:
      stage: test
      needs: [build, {job: docs, optional: true}]
      script: make test
    only_optional:
      stage: test
      needs: [{job: docs, optional: true}]
      script: make check
    lint:
      stage: test
      needs: []
      script: make lint
    deploy:
      stage: deploy
      needs: [docs]
      script: make deploy
      rules:
        - if: $CI_COMMIT_BRANCH == "main"
    """


def test_needs_with_the_optional_job_present() -> None:
    result = run(NEEDS, branch("main", BUILD_DOCS="1"))
    assert job(result, "test").needs == ("build", "docs")
    assert job(result, "only_optional").needs == ("docs",)
    assert job(result, "lint").needs == ()
    assert job(result, "deploy").needs == ("docs",)
    assert job(result, "build").needs is None


def test_optional_needs_of_absent_jobs_are_dropped() -> None:
    result = run(NEEDS, branch("feature"))
    assert names(result) == ["build", "test", "only_optional", "lint"]
    assert job(result, "test").needs == ("build",)
    # All of its needs were optional and absent: it runs in stage order, not at once.
    assert job(result, "only_optional").needs is None
    assert job(result, "lint").needs == ()


def test_needing_a_job_left_out_is_an_error() -> None:
    with pytest.raises(ConfigErrors) as caught:
        run(NEEDS, branch("main"))
    (error,) = caught.value.errors
    assert error.line == 24  # the line of the need
    assert error.message == (
        "job “deploy” needs job “docs”, but “docs” is not in this pipeline (its rules, only or except left it out); "
        "to need a job that is not always there, write {job: docs, optional: true}"
    )


# --- workflow:rules ------------------------------------------------------------------------------------------------

WORKFLOW = """\
    workflow:
      rules:
        - if: $CI_COMMIT_TITLE =~ /-draft$/
          when: never
        - if: $CI_PIPELINE_SOURCE == "merge_request_event"
        - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
    job:
      script: echo
    """


@pytest.mark.parametrize(
    ("variables", "runs"),
    [
        (branch("main", CI_COMMIT_TITLE="Add login"), True),
        (branch("main", CI_COMMIT_TITLE="Add login-draft"), False),
        (merge_request("feature"), True),
        (branch("feature", CI_COMMIT_TITLE="wip"), False),
        (tag("v1.0"), False),
    ],
)
def test_workflow_rules_documented_example(variables: dict[str, str], runs: bool) -> None:
    result = run(WORKFLOW, variables)
    assert result.skipped_by_workflow is (not runs)
    # Jobs without rules or only/except run in every pipeline workflow:rules let through (no default only:).
    assert names(result) == (["job"] if runs else [])


def test_workflow_rules_variables_documented_example() -> None:
    text = """\
        variables:
          DEPLOY_VARIABLE: "default-deploy"
        workflow:
          rules:
            - if: $CI_COMMIT_REF_NAME == $CI_DEFAULT_BRANCH
              variables:
                DEPLOY_VARIABLE: "deploy-production"
            - if: $CI_COMMIT_REF_NAME =~ /feature/
              variables:
                IS_A_FEATURE: "true"
            - when: always
        job1:
          variables:
            DEPLOY_VARIABLE: "job1-default-deploy"
          rules:
            - if: $CI_COMMIT_REF_NAME == $CI_DEFAULT_BRANCH
              variables:
                DEPLOY_VARIABLE: "job1-deploy-production"
            - when: on_success
          script:
            - echo "Run script with $DEPLOY_VARIABLE as an argument"
        job2:
          script:
            - echo "Run script with $DEPLOY_VARIABLE as an argument"
        """
    on_main = run(text, branch("main"))
    assert job(on_main, "job1").variables["DEPLOY_VARIABLE"] == "job1-deploy-production"
    assert job(on_main, "job2").variables["DEPLOY_VARIABLE"] == "deploy-production"
    on_feature = run(text, branch("feature-login"))
    assert job(on_feature, "job1").variables == {"DEPLOY_VARIABLE": "job1-default-deploy", "IS_A_FEATURE": "true"}
    assert job(on_feature, "job2").variables == {"DEPLOY_VARIABLE": "default-deploy", "IS_A_FEATURE": "true"}


def test_workflow_rules_see_the_files_variables() -> None:
    text = """\
        variables:
          PIPELINES: "off"
        workflow:
          rules:
            - if: $PIPELINES == "on"
        job:
          script: x
        """
    assert run(text, branch("main")).skipped_by_workflow
    # Variables given to "Run pipeline" take precedence over the file's.
    assert not run(text, branch("main", PIPELINES="on")).skipped_by_workflow


# --- rules ---------------------------------------------------------------------------------------------------------


def test_rules_documented_example_when_manual_and_schedule() -> None:
    text = """\
        job:
          script: echo "Hello, Rules!"
          rules:
            - if: $CI_PIPELINE_SOURCE == "merge_request_event"
              when: manual
              allow_failure: true
            - if: $CI_PIPELINE_SOURCE == "schedule"
        """
    planned = job(run(text, merge_request("feature")), "job")
    assert planned.when == "manual" and planned.allow_failure is True
    planned = job(run(text, branch("main", source="schedule")), "job")
    assert planned.when == "on_success" and planned.allow_failure is False
    assert names(run(text, branch("main"))) == []


def test_rules_if_documented_example_with_regex_and_never() -> None:
    text = """\
        job:
          script: echo "Hello, Rules!"
          rules:
            - if: $CI_MERGE_REQUEST_SOURCE_BRANCH_NAME =~ /^feature/ && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME != $CI_DEFAULT_BRANCH
              when: never
            - if: $CI_MERGE_REQUEST_SOURCE_BRANCH_NAME =~ /^feature/
              when: manual
              allow_failure: true
            - if: $CI_MERGE_REQUEST_SOURCE_BRANCH_NAME
        """  # noqa: E501
    assert names(run(text, merge_request("feature/x", target="release"))) == []
    assert job(run(text, merge_request("feature/x")), "job").when == "manual"
    assert job(run(text, merge_request("fix/y")), "job").when == "on_success"
    assert names(run(text, branch("main"))) == []


def test_rules_changes_documented_example() -> None:
    text = """\
        docker build:
          script: docker build -t my-image:$CI_COMMIT_REF_SLUG .
          rules:
            - if: $CI_PIPELINE_SOURCE == "merge_request_event"
              changes:
                - Dockerfile
              when: manual
              allow_failure: true
        """
    assert job(run(text, merge_request("f"), changed=["Dockerfile", "README.md"]), "docker build").when == "manual"
    assert names(run(text, merge_request("f"), changed=["README.md"])) == []
    # Changes not known (new branch, tag, manual run): GitLab counts changes as true.
    assert names(run(text, merge_request("f"), changed=None)) == ["docker build"]


def test_rules_changes_paths_with_globs_and_variables() -> None:
    text = """\
        variables:
          DOCS: docs
        job:
          script: make docs
          rules:
            - changes:
                paths: ["$DOCS/**/*.md", "mkdocs.{yml,yaml}"]
        """
    assert names(run(text, branch("main"), changed=["docs/guide/intro.md"])) == ["job"]
    assert names(run(text, branch("main"), changed=["mkdocs.yaml"])) == ["job"]
    assert names(run(text, branch("main"), changed=["src/app.py"])) == []
    assert names(run(text, branch("main"), changed=[])) == []


def test_rules_exists_documented_example() -> None:
    text = """\
        job:
          script: docker build -t my-image:$CI_COMMIT_REF_SLUG .
          rules:
            - exists:
                - Dockerfile
        """
    asked: list[str] = []

    def exists(pattern: str) -> bool:
        asked.append(pattern)
        return pattern == "Dockerfile"

    assert names(run(text, branch("main"), exists=exists)) == ["job"]
    assert asked == ["Dockerfile"]
    assert names(run(text, branch("main"), exists=lambda pattern: False)) == []
    assert names(run(text, branch("main"), exists=None)) == ["job"]


def test_rules_variables_documented_example() -> None:
    text = """\
        job:
          variables:
            DEPLOY_VARIABLE: "default-deploy"
          rules:
            - if: $CI_COMMIT_REF_NAME == $CI_DEFAULT_BRANCH
              variables:
                DEPLOY_VARIABLE: "deploy-production"
            - if: $CI_COMMIT_REF_NAME =~ /feature/
              variables:
                IS_A_FEATURE: "true"
          script:
            - echo "Run script with $DEPLOY_VARIABLE as an argument"
        """
    assert job(run(text, branch("main")), "job").variables == {"DEPLOY_VARIABLE": "deploy-production"}
    assert job(run(text, branch("feature-x")), "job").variables == {
        "DEPLOY_VARIABLE": "default-deploy",
        "IS_A_FEATURE": "true",
    }
    assert names(run(text, branch("fix-y"))) == []


def test_first_matching_rule_decides_and_job_when_is_the_default() -> None:
    text = """\
        job:
          script: x
          when: manual
          rules:
            - if: $CI_COMMIT_TAG
              when: never
            - if: $CI_COMMIT_BRANCH == "main"
              when: always
            - if: $CI_COMMIT_BRANCH
        """
    assert names(run(text, tag("v1"))) == []
    assert job(run(text, branch("main")), "job").when == "always"
    assert job(run(text, branch("dev")), "job").when == "manual"


def test_rules_see_job_variables_and_job_names() -> None:
    text = """\
        variables:
          LEVEL: low
        quick:
          variables:
            LEVEL: high
          script: x
          rules:
            - if: $LEVEL == "high" && $CI_JOB_NAME == "quick"
        slow:
          script: x
          rules:
            - if: $LEVEL == "high"
        """
    assert names(run(text, branch("main"))) == ["quick"]


def test_job_when_never_is_never_added() -> None:
    assert names(run("a:\n  script: x\n  when: never\nb:\n  script: y\n", branch("main"))) == ["b"]


# --- only / except -------------------------------------------------------------------------------------------------

ONLY_EXCEPT = """\
    job1:
      script: echo
      only:
        - main
        - /^issue-.*$/
        - merge_requests
    job2:
      script: echo
      except:
        - main
        - /^stable-branch.*$/
        - schedules
    """


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (branch("main"), ["job1"]),
        (branch("issue-42"), ["job1", "job2"]),
        # job2 has no only:, so GitLab's default (branches, tags) keeps it out of merge request pipelines.
        (merge_request("feature"), ["job1"]),
        (branch("stable-branch-1"), []),
        (branch("feature"), ["job2"]),
        (branch("feature", source="schedule"), []),
        (tag("v1.0"), ["job2"]),
    ],
)
def test_only_except_documented_example(variables: dict[str, str], expected: list[str]) -> None:
    assert names(run(ONLY_EXCEPT, variables)) == expected


def test_default_only_is_branches_and_tags() -> None:
    text = "job:\n  script: x\n"
    assert names(run(text, branch("anything"))) == ["job"]
    assert names(run(text, tag("v1"))) == ["job"]
    # A merge request pipeline is neither a branch nor a tag pipeline.
    assert names(run(text, merge_request("feature"))) == []


@pytest.mark.parametrize(
    ("pattern", "variables", "expected"),
    [
        ("branches", branch("x"), True),
        ("branches", tag("v1"), False),
        ("tags", tag("v1"), True),
        ("pushes", branch("x"), True),
        ("web", branch("x", source="web"), True),
        ("web", branch("x"), False),
        ("api", branch("x", source="api"), True),
        ("triggers", branch("x", source="trigger"), True),
        ("schedules", branch("x", source="schedule"), True),
        ("/^release\\/\\d+$/", branch("release/12"), True),
        ("/^release\\/\\d+$/", branch("release/x"), False),
        ("/^V1/i", tag("v1.2"), True),
        ("main@acme/app", branch("main"), True),
        ("main@other/app", branch("main"), False),
        ("v1.0", tag("v1.0"), True),
    ],
)
def test_only_refs(pattern: str, variables: dict[str, str], expected: bool) -> None:
    text = f"job:\n  script: x\n  only: ['{pattern}']\n"
    assert (names(run(text, variables)) == ["job"]) is expected


def test_empty_only_matches_nothing_and_empty_except_excludes_nothing() -> None:
    text = "a:\n  script: x\n  only: []\nb:\n  script: x\n  except: []\n"
    assert names(run(text, branch("main"))) == ["b"]


def test_only_variables_documented_example() -> None:
    text = """\
        deploy:
          script: cap staging deploy
          only:
            variables:
              - $RELEASE == "staging"
              - $STAGING
        """
    assert names(run(text, branch("main", RELEASE="staging"))) == ["deploy"]
    assert names(run(text, branch("main", STAGING="1"))) == ["deploy"]
    assert names(run(text, branch("main"))) == []
    # The default refs (branches, tags) still apply.
    assert names(run(text, merge_request("x") | {"STAGING": "1"})) == []


def test_only_changes_documented_example() -> None:
    text = """\
        docker build:
          script: docker build -t my-image:$CI_COMMIT_REF_SLUG .
          only:
            refs:
              - branches
            changes:
              - Dockerfile
              - docker/scripts/*
              - dockerfiles/**/*
              - more_scripts/*.{rb,py,sh}
              - "**/*.json"
        """
    for changed in (["Dockerfile"], ["docker/scripts/a.sh"], ["dockerfiles/x/Dockerfile"], ["more_scripts/a.sh"],
                    ["deep/down/package.json"]):
        assert names(run(text, branch("main"), changed=changed)) == ["docker build"], changed
    assert names(run(text, branch("main"), changed=["docker/scripts/deep/a.sh", "README.md"])) == []
    assert names(run(text, tag("v1"), changed=["Dockerfile"])) == []


def test_except_with_several_keys_excludes_when_any_matches() -> None:
    text = """\
        job:
          script: x
          except:
            refs: [main]
            variables: [$SKIP]
        """
    assert names(run(text, branch("main"))) == []
    assert names(run(text, branch("dev", SKIP="1"))) == []
    assert names(run(text, branch("dev"))) == ["job"]


def test_workflow_rules_drop_the_default_only() -> None:
    text = """\
        workflow:
          rules:
            - if: $CI_PIPELINE_SOURCE == "merge_request_event"
        job:
          script: x
        """
    assert names(run(text, merge_request("feature"))) == ["job"]


# --- variables ----------------------------------------------------------------------------------------------------


def test_variables_are_layered_and_expanded() -> None:
    text = """\
        variables:
          REGISTRY: registry.example
          IMAGE: $REGISTRY/${CI_PROJECT_PATH}
          TAG: ${IMAGE}:$CI_COMMIT_REF_NAME
          PRICE: "5$$"
          RAW:
            value: "$REGISTRY"
            expand: false
          UNKNOWN: $NOT_DEFINED_ANYWHERE
        build:
          image: $REGISTRY/builder:1
          variables:
            REGISTRY: mirror.example
            WHERE: $RAW
          script: docker build -t $TAG .
        """
    planned = job(run(text, branch("main")), "build")
    assert planned.variables == {
        "REGISTRY": "mirror.example",
        "IMAGE": "mirror.example/acme/app",
        "TAG": "mirror.example/acme/app:main",
        "PRICE": "5$",
        "RAW": "$REGISTRY",
        "UNKNOWN": "$NOT_DEFINED_ANYWHERE",
        "WHERE": "$REGISTRY",
    }
    assert planned.image == Image("mirror.example/builder:1")
    # Scripts are left to the shell.
    assert planned.script == ("docker build -t $TAG .",)


def test_pipeline_variables_win_in_expansion() -> None:
    text = """\
        variables:
          TARGET: staging
          URL: https://$TARGET.example
        deploy:
          script: x
        """
    assert job(run(text, branch("main", TARGET="production")), "deploy").variables["URL"] == (
        "https://production.example"
    )


def test_variable_loop_through_rule_variables_is_an_error_at_plan_time() -> None:
    text = """\
        variables:
          A: a
        job:
          script: x
          variables:
            B: b
          rules:
            - if: $CI_COMMIT_BRANCH
              variables:
                A: $B
                B: $A
        """
    config = load(textwrap.dedent(text), "f")
    with pytest.raises(ConfigErrors) as caught:
        plan(config, branch("main"))
    assert [(e.line, e.message) for e in caught.value.errors] == [
        (3, "job “job”: the variables “A”, “B” refer to each other in a circle")
    ]


def test_reused_rules_documented_example() -> None:
    text = """\
        .default_rules:
          rules:
            - if: $CI_PIPELINE_SOURCE == "schedule"
              when: never
            - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
        job1:
          rules:
            - !reference [.default_rules, rules]
          script:
            - echo "This job runs for the default branch, but not schedules."
        job2:
          rules:
            - !reference [.default_rules, rules]
            - if: $CI_PIPELINE_SOURCE == "merge_request_event"
          script:
            - echo "This job runs for the default branch, but not schedules."
            - echo "It also runs for merge requests."
        """
    assert names(run(text, branch("main"))) == ["job1", "job2"]
    assert names(run(text, branch("main", source="schedule"))) == []
    assert names(run(text, merge_request("feature"))) == ["job2"]
    assert names(run(text, branch("feature"))) == []


def test_reference_to_one_variable_documented_example() -> None:
    text = """\
        .vars:
          variables:
            URL: "http://my-url.internal"
            IMPORTANT_VAR: "the details"
        test-vars-1:
          variables: !reference [.vars, variables]
          script:
            - printenv
        test-vars-2:
          variables:
            MY_VAR: !reference [.vars, variables, IMPORTANT_VAR]
          script:
            - printenv
        """
    result = run(text, branch("main"))
    assert job(result, "test-vars-1").variables == {"URL": "http://my-url.internal", "IMPORTANT_VAR": "the details"}
    assert job(result, "test-vars-2").variables == {"MY_VAR": "the details"}
