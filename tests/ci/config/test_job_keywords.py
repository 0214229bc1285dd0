"""``parallel``, ``retry``, ``environment``, ``coverage``, ``dependencies``, ``when: delayed``/``start_in``,
``interruptible``, ``resource_group``, ``manual_confirmation``, the new ``rules`` keys and ``workflow:name`` /
``auto_cancel``: valid forms as GitLab documents them, invalid ones with their lines."""

from __future__ import annotations

from ci.config.spec import Environment, Parallel, Retry
from tests.ci.config.helpers import job, problems, read, run

# --- parallel ------------------------------------------------------------------------------------------------------


def test_parallel_forms() -> None:
    counted, matrix = read("""\
        counted:
          script: x
          parallel: 3
        matrix:
          script: x
          parallel:
            matrix:
              - PROVIDER: aws
                STACK: [monitoring, app1]
              - PROVIDER: [gcp, vultr]
                STACK: data
                VERSION: 3.12
        """).jobs
    assert counted.parallel == Parallel(total=3)
    assert matrix.parallel == Parallel(total=4, matrix=(
        (("PROVIDER", "aws"), ("STACK", "monitoring")),
        (("PROVIDER", "aws"), ("STACK", "app1")),
        (("PROVIDER", "gcp"), ("STACK", "data"), ("VERSION", "3.12")),
        (("PROVIDER", "vultr"), ("STACK", "data"), ("VERSION", "3.12")),
    ))


def test_bad_parallel() -> None:
    assert problems("""\
        a:
          script: x
          parallel: 201
        b:
          script: x
          parallel: 0
        c:
          script: x
          parallel:
            matrix: []
        d:
          script: x
          parallel:
            matrix:
              - A: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
                B: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        e:
          script: x
          parallel: {count: 2}
        f:
          script: x
          parallel:
            matrix:
              - "BAD NAME": x
                OK: {a: 1}
        """) == [
        (3, "job “a”: “parallel” must be from 1 to 200, not 201"),
        (6, "job “b”: “parallel” must be from 1 to 200, not 0"),
        (10, "job “c”: “parallel: matrix” is empty"),
        (14, "job “d”: “parallel: matrix” makes more than 200 jobs"),
        (19, "job “e”: “parallel”: unknown key “count” (known: matrix)"),
        (24, "job “f”: “BAD NAME” is not a usable variable name in “parallel: matrix”"),
        (25, "job “f”: “parallel: matrix: OK” must be a list of names, not a mapping"),
    ]


def test_parallel_names_must_not_collide() -> None:
    assert problems("""\
        test:
          script: x
          parallel: 2
        test 1/2:
          script: y
        """) == [(1, "job “test”: “parallel” makes the job “test 1/2”, which is also the name of another job")]


# --- retry ---------------------------------------------------------------------------------------------------------


def test_retry_forms() -> None:
    a, b, c, d = read("""\
        a:
          script: x
          retry: 2
        b:
          script: x
          retry:
            max: 1
            when: [runner_system_failure, stuck_or_timeout_failure]
            exit_codes: [137, 255]
        c:
          script: x
          retry: {when: script_failure, exit_codes: 1}
        d:
          script: x
        """).jobs
    assert a.retry == Retry(2)
    assert b.retry == Retry(1, ("runner_system_failure", "stuck_or_timeout_failure"), (137, 255))
    assert c.retry == Retry(0, ("script_failure",), (1,))
    assert d.retry == Retry(0, ("always",), ())


def test_bad_retry() -> None:
    assert problems("""\
        a:
          script: x
          retry: 3
        b:
          script: x
          retry:
            max: 1
            when: [flaky]
        c:
          script: x
          retry:
            exit_codes: [one]
            delay: 5
        """) == [
        (3, "job “a”: “retry” must be 0, 1 or 2 (or {max, when, exit_codes}), not the number 3"),
        (8, "job “b”: “flaky” is not a “retry: when” reason (known: always, unknown_failure, script_failure, "
            "api_failure, stuck_or_timeout_failure, runner_system_failure, runner_unsupported, stale_schedule, "
            "job_execution_timeout, archived_failure, unmet_prerequisites, scheduler_failure, "
            "data_integrity_failure, runner_external_dependency_failure)"),
        (12, "job “c”: “retry: exit_codes” must be exit codes (numbers), not the text “one”"),
        (13, "job “c”: “retry”: unknown key “delay” (known: max, when, exit_codes)"),
    ]


# --- environment ---------------------------------------------------------------------------------------------------


def test_environment_forms() -> None:
    config = read("""\
        deploy review:
          stage: deploy
          script: deploy
          environment:
            name: review/$CI_COMMIT_REF_SLUG
            url: https://$CI_ENVIRONMENT_SLUG.example.com
            on_stop: stop review
            auto_stop_in: 1 week
            kubernetes:
              namespace: review
        stop review:
          stage: deploy
          script: undeploy
          when: manual
          environment:
            name: review/$CI_COMMIT_REF_SLUG
            action: stop
        production:
          stage: deploy
          script: deploy
          environment: production
        """)
    review, stop, production = config.jobs
    assert review.environment == Environment("review/$CI_COMMIT_REF_SLUG", "https://$CI_ENVIRONMENT_SLUG.example.com",
                                             "start", "stop review", "", 7 * 86400)
    assert stop.environment is not None and stop.environment.action == "stop"
    assert production.environment == Environment("production")
    assert config.warnings[0].line == 9 and "“kubernetes” has no effect" in config.warnings[0].message


def test_bad_environment() -> None:
    assert problems("""\
        a:
          script: x
          environment:
            url: https://example.com
        b:
          script: x
          environment:
            name: "review (main)"
        c:
          script: x
          environment:
            name: prod
            url: example.com
            action: deploy
            deployment_tier: live
            on_stop: nope
        d:
          script: x
          environment: {name: review, on_stop: e}
        e:
          script: x
          environment: {name: other, action: stop}
        f:
          script: x
          environment: {name: x, on_stop: a}
        """) == [
        (3, "job “a”: “environment” needs a “name”"),
        (8, "job “b”: the environment name “review (main)” must be 1 to 255 letters, digits, spaces and - _ / $ { } ."),
        (13, "job “c”: “environment: url” must be an http:// or https:// address, not “example.com”"),
        (14, "job “c”: “environment: action” must be one of start, prepare, stop, verify, access, not the text "
             "“deploy”"),
        (15, "job “c”: “environment: deployment_tier” must be one of production, staging, testing, development, "
             "other, not the text “live”"),
        (19, "job “d”: “environment: on_stop”: the job “e” stops the environment “other”, not “review”"),
    ]


def test_on_stop_checks() -> None:
    assert problems("""\
        a:
          script: x
          environment: {name: x, on_stop: nope}
        b:
          script: x
          environment: {name: x, on_stop: c}
        c:
          script: x
        d:
          script: x
          environment: {name: x, on_stop: e}
        e:
          script: x
          environment: {name: x}
        """) == [
        (3, "job “a”: “environment: on_stop” names “nope”, which is not a job in this file"),
        (6, "job “b”: “environment: on_stop”: the job “c” has no “environment”"),
        (11, "job “d”: “environment: on_stop”: the job “e” needs “environment: action: stop”"),
    ]


# --- coverage, dependencies, delayed, interruptible, resource_group, manual_confirmation ------------------------


def test_coverage() -> None:
    (test,) = read("test:\n  script: pytest\n  coverage: '/TOTAL.+ ([0-9]{1,3}%)/'\n").jobs
    assert test.coverage == "TOTAL.+ ([0-9]{1,3}%)"
    assert problems("""\
        a:
          script: x
          coverage: TOTAL
        b:
          script: x
          coverage: /(unclosed/
        c:
          script: x
          coverage: /(?=lookahead)/
        """) == [
        (3, "job “a”: “coverage” must be a regular expression between slashes, such as /TOTAL.+ (\\d+%)/, not the "
            "text “TOTAL”"),
        (6, "job “b”: “coverage”: the regular expression /(unclosed/ is invalid: missing ): (unclosed"),
        (9, "job “c”: “coverage”: the regular expression /(?=lookahead)/ is invalid: invalid perl operator: (?="),
    ]


def test_dependencies() -> None:
    assert problems("""\
        stages: [build, test]
        build:
          stage: build
          script: x
        lint:
          stage: test
          script: x
        test:
          stage: test
          script: x
          dependencies: [build, lint, nope, .hidden]
        needing:
          stage: test
          script: x
          needs: [lint]
          dependencies: [build]
        .hidden:
          script: x
        """) == [
        (11, "job “test”: the dependency “.hidden” is a hidden job (hidden jobs never run)"),
        (11, "job “test”: the dependency “lint” is not in an earlier stage (GitLab takes artifacts only from "
             "earlier stages)"),
        (11, "job “test”: the dependency “nope” is not a job in this file"),
        (16, "job “needing”: the dependency “build” must also be listed in “needs”"),
    ]


def test_delayed_jobs() -> None:
    result = run("""\
        deploy:
          script: x
          when: delayed
          start_in: 30 minutes
        later:
          script: x
          rules:
            - if: $CI_COMMIT_BRANCH == "main"
              when: delayed
              start_in: 2 hours
        plain:
          script: x
        """)
    assert (job(result, "deploy").when, job(result, "deploy").start_in) == ("delayed", 1800)
    assert (job(result, "later").when, job(result, "later").start_in) == ("delayed", 7200)
    assert job(result, "plain").start_in is None
    assert problems("""\
        a:
          script: x
          when: delayed
          start_in: 2 weeks
        b:
          script: x
          start_in: 5 minutes
        c:
          script: x
          rules:
            - when: delayed
        """) == [
        (4, "job “a”: “start_in” must be 0 or more and at most 1 week (2 weeks)"),
        (7, "job “b”: “start_in” is only used with “when: delayed”"),
        (11, "job “c”: a rule with “when: delayed” needs “start_in”"),
    ]


def test_interruptible_resource_group_and_rules_overrides() -> None:
    result = run("""\
        build:
          script: x
          interruptible: true
          resource_group: production-$CI_COMMIT_REF_SLUG
          manual_confirmation: Really deploy?
          rules:
            - if: $CI_COMMIT_BRANCH == "main"
              interruptible: false
              needs: []
            - when: on_success
        """)
    build = job(result, "build")
    assert not build.interruptible and build.needs == ()
    assert build.resource_group == "production-$CI_COMMIT_REF_SLUG"
    assert build.manual_confirmation == "Really deploy?"
    other = job(run(result_text := """\
        build:
          script: x
          interruptible: true
          rules:
            - if: $CI_COMMIT_BRANCH == "main"
              interruptible: false
            - when: on_success
        """, {"CI_COMMIT_BRANCH": "feature", "CI_COMMIT_REF_NAME": "feature"}), "build")
    assert other.interruptible and other.needs is None and result_text
    assert problems("a:\n  script: x\n  interruptible: yes please\n  resource_group: ''\n") == [
        (3, "job “a”: “interruptible” must be true or false, not the text “yes please”"),
        (4, "job “a”: “resource_group” must be a non-empty text, not the text “”"),
    ]


def test_workflow_name_and_auto_cancel() -> None:
    text = """\
        workflow:
          name: Pipeline for $CI_COMMIT_REF_NAME
          auto_cancel:
            on_new_commit: interruptible
          rules:
            - if: $CI_COMMIT_TAG
              auto_cancel:
                on_new_commit: none
            - when: always
        job:
          script: x
        """
    result = run(text)
    assert result.workflow_name == "Pipeline for main"
    assert result.auto_cancel == {"on_new_commit": "interruptible"}
    tagged = run(text, {"CI_COMMIT_TAG": "v1", "CI_COMMIT_REF_NAME": "v1"})
    assert tagged.auto_cancel == {"on_new_commit": "none"}
    assert problems("workflow:\n  auto_cancel:\n    on_new_commit: always\njob:\n  script: x\n") == [
        (3, "“workflow”: “auto_cancel: on_new_commit” must be one of conservative, interruptible, none, not the "
            "text “always”"),
    ]
