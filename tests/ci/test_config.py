"""Reading pipeline files: every supported keyword, and the errors (with their lines) for everything else."""

from __future__ import annotations

import textwrap

import pytest

from ci.config import ConfigErrors, Image, PipelineConfig, RefFilter, Rule, load, plan


def read(text: str) -> PipelineConfig:
    return load(textwrap.dedent(text), ".gitlab-ci.yml")


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ConfigErrors) as caught:
        read(text)
    return [(e.line, e.message) for e in caught.value.errors]


def one_problem(text: str) -> tuple[int | None, str]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# --- stages, jobs, scripts ---------------------------------------------------------------------------------------


def test_minimal_job_gets_gitlab_defaults() -> None:
    config = read("""\
        hello:
          script: echo hello
        """)
    assert config.stages == (".pre", "build", "test", "deploy", ".post")
    (job,) = config.jobs
    assert job.name == "hello" and job.line == 1
    assert job.stage == "test"
    assert job.script == ("echo hello",)
    assert job.when == "on_success" and job.allow_failure is False
    assert job.needs is None and job.rules is None and job.only is None and job.image is None


def test_custom_stages_keep_pre_and_post_around_them() -> None:
    config = read("""\
        stages: [lint, build, ship]
        setup:
          stage: .pre
          script: prepare
        lint:
          stage: lint
          script: ruff check .
        """)
    assert config.stages == (".pre", "lint", "build", "ship", ".post")
    assert [job.stage for job in config.jobs] == [".pre", "lint"]


def test_hidden_jobs_are_not_jobs() -> None:
    config = read("""\
        .template:
          script: never runs
        real:
          script: runs
        """)
    assert [job.name for job in config.jobs] == ["real"]


def test_script_lists_nested_by_anchors_are_flattened() -> None:
    config = read("""\
        .setup: &setup
          - pip install -U pip
          - pip install -e .
        test:
          before_script:
            - *setup
            - echo ready
          script:
            - [pytest -q, [coverage report]]
          after_script: echo done
        """)
    (job,) = config.jobs
    assert job.before_script == ("pip install -U pip", "pip install -e .", "echo ready")
    assert job.script == ("pytest -q", "coverage report")
    assert job.after_script == ("echo done",)


def test_multiline_script_blocks_stay_one_command() -> None:
    config = read("""\
        test:
          script:
            - |
              if true; then
                echo yes
              fi
        """)
    assert config.jobs[0].script == ("if true; then\n  echo yes\nfi\n",)


def test_image_as_name_or_mapping() -> None:
    config = read("""\
        a:
          image: python:3.12-slim
          script: x
        b:
          image:
            name: registry.example/tools:1
            entrypoint: [""]
          script: x
        """)
    assert config.jobs[0].image == Image("python:3.12-slim")
    assert config.jobs[1].image == Image("registry.example/tools:1", ("",))


def test_variables_global_and_per_job() -> None:
    config = read("""\
        variables:
          PYTHON: "3.12"
          RETRIES: 3
          RATIO: 0.5
          DEPLOY_ENV:
            value: staging
            description: Where to deploy
          LITERAL:
            value: "$HOME/x"
            expand: false
        test:
          variables:
            PYTHON: "3.11"
            EMPTY: ""
          script: x
        """)
    assert config.variables == {
        "PYTHON": "3.12",
        "RETRIES": "3",
        "RATIO": "0.5",
        "DEPLOY_ENV": "staging",
        "LITERAL": "$$HOME/x",
    }
    assert config.jobs[0].variables == {"PYTHON": "3.11", "EMPTY": ""}


def test_timeouts_in_gitlab_forms() -> None:
    config = read("""\
        a: {script: x, timeout: 1h 30m}
        b: {script: x, timeout: 90 minutes}
        c: {script: x, timeout: "3600"}
        d: {script: x, timeout: 600}
        e: {script: x, timeout: 2 hours and 15 minutes}
        f: {script: x, timeout: "1:30:00"}
        g: {script: x, timeout: 1d}
        """)
    assert [job.timeout_seconds for job in config.jobs] == [5400, 5400, 3600, 600, 8100, 5400, 86400]


def test_bad_timeouts_are_errors() -> None:
    found = problems("""\
        a: {script: x, timeout: soon}
        b: {script: x, timeout: 3 fortnights}
        c: {script: x, timeout: 2 months}
        """)
    assert [line for line, _ in found] == [1, 2, 3]
    assert "“timeout” must be a duration such as “1h 30m”" in found[0][1]
    assert "at most one month" in found[2][1]


def test_tags_when_and_allow_failure() -> None:
    config = read("""\
        a:
          script: x
          tags: [docker, linux]
          when: always
          allow_failure: true
        b:
          script: x
          tags: docker
          when: manual
        c:
          script: x
          when: manual
          allow_failure: false
        """)
    a, b, c = config.jobs
    assert a.tags == ("docker", "linux") and a.when == "always" and a.allow_failure is True
    # GitLab: a manual job does not block the pipeline unless it says allow_failure: false.
    assert b.tags == ("docker",) and b.when == "manual" and b.allow_failure is True
    assert c.allow_failure is False


def test_type_is_the_old_name_of_stage() -> None:
    config = read("""\
        build:
          type: build
          script: make
        """)
    assert config.jobs[0].stage == "build"


# --- default: and the old global keywords ------------------------------------------------------------------------


def test_default_applies_to_jobs_that_do_not_set_the_keyword() -> None:
    config = read("""\
        default:
          image: python:3.12
          before_script: [pip install -e .]
          after_script: [echo bye]
          tags: [docker]
          timeout: 30m
        plain:
          script: pytest
        own:
          image: node:20
          before_script: []
          tags: [big]
          timeout: 2h
          script: npm test
        """)
    plain, own = config.jobs
    assert plain.image == Image("python:3.12")
    assert plain.before_script == ("pip install -e .",) and plain.after_script == ("echo bye",)
    assert plain.tags == ("docker",) and plain.timeout_seconds == 1800
    # A job's own keyword replaces the default's entirely (an empty list switches it off).
    assert own.image == Image("node:20") and own.before_script == () and own.after_script == ("echo bye",)
    assert own.tags == ("big",) and own.timeout_seconds == 7200


def test_old_global_keywords_act_as_defaults() -> None:
    config = read("""\
        image: alpine:3.20
        before_script: echo before
        after_script: echo after
        job:
          script: echo job
        """)
    (job,) = config.jobs
    assert job.image == Image("alpine:3.20")
    assert job.before_script == ("echo before",) and job.after_script == ("echo after",)


def test_default_rejects_keys_gitlab_does_not_allow_there() -> None:
    assert one_problem("""\
        default:
          image: alpine
          allow_failure: true
        job:
          script: x
        """) == (
        3,
        "“default”: unknown key “allow_failure” (known: image, before_script, after_script, tags, timeout, "
        "artifacts, cache, services, retry, interruptible)",
    )


def test_default_keywords_without_effect_are_warnings() -> None:
    config = read("""\
        default:
          id_tokens:
            ID: {aud: x}
        job:
          script: x
        """)
    assert [(w.line, w.message) for w in config.warnings] == [
        (2, "“default”: “id_tokens” is not supported on this forge (ID): the variables it names are empty: this "
            "forge issues no ID tokens"),
    ]


def test_global_and_default_image_together_is_an_error() -> None:
    line, message = one_problem("""\
        image: alpine
        default:
          image: busybox
        job:
          script: x
        """)
    assert line == 1 and "both at the top level and in “default”" in message


# --- extends, anchors, merges, !reference -----------------------------------------------------------------------


def test_extends_merges_mappings_deeply_and_replaces_lists() -> None:
    config = read("""\
        .base:
          image: python:3.12
          variables:
            A: base
            B: base
          script: [echo base]
          tags: [docker]
        .middle:
          extends: .base
          variables:
            B: middle
            C: middle
          before_script: [echo middle]
        job:
          extends: .middle
          variables:
            C: job
          script: [echo job]
        """)
    (job,) = config.jobs
    assert job.image == Image("python:3.12")
    assert job.variables == {"A": "base", "B": "middle", "C": "job"}
    assert job.script == ("echo job",)
    assert job.before_script == ("echo middle",)
    assert job.tags == ("docker",)


def test_extends_several_bases_later_ones_win() -> None:
    config = read("""\
        .a:
          image: a
          variables: {X: a, Y: a}
        .b:
          image: b
          variables: {Y: b}
        job:
          extends: [.a, .b]
          script: x
        """)
    (job,) = config.jobs
    assert job.image == Image("b")
    assert job.variables == {"X": "a", "Y": "b"}


def test_extends_merges_image_mappings_key_by_key() -> None:
    config = read("""\
        .base:
          image:
            name: tools
            entrypoint: [""]
        job:
          extends: .base
          image:
            name: tools:2
          script: x
        """)
    assert config.jobs[0].image == Image("tools:2", ("",))


def test_extends_may_name_a_visible_job() -> None:
    config = read("""\
        unit:
          stage: test
          script: pytest
          variables: {SUITE: unit}
        integration:
          extends: unit
          variables: {SUITE: integration}
        """)
    assert [(j.name, j.script, j.variables["SUITE"]) for j in config.jobs] == [
        ("unit", ("pytest",), "unit"),
        ("integration", ("pytest",), "integration"),
    ]


def test_extends_loop_is_an_error_naming_the_chain() -> None:
    assert one_problem("""\
        .a:
          extends: .b
        .b:
          extends: .c
        .c:
          extends: .a
        job:
          extends: .a
          script: x
        """) == (6, "“.c”: “extends” goes round in a circle: .a → .b → .c → .a")


def test_extends_of_an_unknown_job() -> None:
    assert one_problem("""\
        job:
          script: x
          extends: .missing
        """) == (3, "“job”: “extends” names “.missing”, which is not defined in this file")


def test_extends_nested_too_deep() -> None:
    levels = "".join(f".l{i}:\n  extends: .l{i + 1}\n" for i in range(12)) + ".l12:\n  script: x\n"
    found = problems(levels + "job:\n  extends: .l0\n")
    assert (22, "“.l0”: “extends” is nested more than 10 levels deep") in found


def test_yaml_merge_keys_and_anchors() -> None:
    config = read("""\
        .defaults: &defaults
          image: python:3.12
          variables: {A: "1"}
          tags: [docker]
        test:
          <<: *defaults
          variables: {B: "2"}
          script: pytest
        """)
    (job,) = config.jobs
    # `<<:` is YAML's shallow merge: the job's own `variables` replaces the anchor's (unlike `extends`).
    assert job.image == Image("python:3.12") and job.tags == ("docker",)
    assert job.variables == {"B": "2"}


def test_reference_tags_take_values_from_other_jobs() -> None:
    config = read("""\
        .setup:
          script:
            - echo setup one
            - echo setup two
          variables:
            MODE: fast
        .vars:
          variables: !reference [.setup, variables]
        test:
          extends: .vars
          script:
            - !reference [.setup, script]
            - pytest
        """)
    (job,) = config.jobs
    assert job.script == ("echo setup one", "echo setup two", "pytest")
    assert job.variables == {"MODE": "fast"}


def test_reference_errors() -> None:
    found = problems("""\
        .a:
          script: !reference [.b, script]
        .b:
          script: !reference [.a, script]
        job:
          script: !reference [.nowhere, script]
        """)
    assert (6, "!reference [.nowhere, script]: “.nowhere” is not defined") in found
    assert any("circular chain" in message for _, message in found)


def test_errors_in_inherited_keys_point_at_the_template() -> None:
    assert one_problem("""\
        .base:
          image: python
          scirpt: echo
        job:
          extends: .base
          script: x
        """) == (3, "job “job”: unknown key “scirpt”; did you mean “script”?")


# --- needs ---------------------------------------------------------------------------------------------------------


def test_needs_forms() -> None:
    config = read("""\
        stages: [build, test]
        build:
          stage: build
          script: make
        docs:
          stage: build
          script: make docs
          rules:
            - if: $DOCS
        lint:
          stage: test
          needs: []
          script: ruff
        test:
          stage: test
          needs:
            - build
            - job: docs
              optional: true
            - job: lint
              artifacts: false
          script: pytest
        """)
    jobs = {job.name: job for job in config.jobs}
    assert jobs["build"].needs is None
    assert jobs["lint"].needs == ()
    assert jobs["test"].needs == ("build", "docs", "lint")
    assert jobs["test"].optional_needs == frozenset({"docs"})


def test_needs_errors_name_job_and_line() -> None:
    found = problems("""\
        stages: [build, test]
        build:
          stage: build
          script: make
          needs: [test]
        test:
          stage: test
          script: pytest
          needs:
            - .template
            - ghost
        .template:
          script: x
        """)
    assert found == [
        (5, "job “build” (stage “build”) needs “test”, which is in the later stage “test”"),
        (10, "job “test” needs “.template”, which is a hidden job (hidden jobs never run)"),
        (11, "job “test” needs “ghost”, which is not a job in this file"),
    ]


def test_needs_loop_is_an_error() -> None:
    assert one_problem("""\
        a:
          script: x
          needs: [b]
        b:
          script: x
          needs: [c]
        c:
          script: x
          needs: [a]
        """) == (3, "the needs of jobs go round in a circle: “a” → “b” → “c” → “a”")


def test_needs_of_itself_is_a_loop() -> None:
    line, message = one_problem("a:\n  script: x\n  needs: [a]\n")
    assert line == 3 and "“a” → “a”" in message


def test_needs_unknown_key() -> None:
    assert one_problem("""\
        a:
          script: x
        b:
          script: x
          needs:
            - job: a
              optoinal: true
        """) == (7, "job “b”: “needs”: unknown key “optoinal”; did you mean “optional”?")


# --- rules, only/except, workflow ------------------------------------------------------------------------------------


def test_rules_are_read_in_full() -> None:
    config = read("""\
        job:
          script: x
          rules:
            - if: '$CI_COMMIT_BRANCH == "main"'
              when: manual
              allow_failure: true
              variables: {TARGET: prod}
            - changes: [src/**/*.py, "*.toml"]
              exists:
                paths: [Dockerfile]
            - changes:
                paths: [docs/*]
              when: never
            - when: on_success
        """)
    assert config.jobs[0].rules == (
        Rule(if_expr='$CI_COMMIT_BRANCH == "main"', when="manual", allow_failure=True, variables={"TARGET": "prod"}),
        Rule(changes=("src/**/*.py", "*.toml"), exists=("Dockerfile",)),
        Rule(changes=("docs/*",), when="never"),
        Rule(when="on_success"),
    )


def test_rules_from_anchors_are_flattened() -> None:
    config = read("""\
        .on_main: &on_main
          - if: $CI_COMMIT_BRANCH == "main"
        job:
          script: x
          rules:
            - *on_main
            - when: never
        """)
    rules = config.jobs[0].rules
    assert rules is not None
    assert [r.if_expr for r in rules] == ['$CI_COMMIT_BRANCH == "main"', None]


def test_bad_rule_expression_is_reported_at_its_line() -> None:
    line, message = one_problem("""\
        job:
          script: x
          rules:
            - when: manual
            - if: $CI_COMMIT_BRANCH = "main"
        """)
    assert line == 5
    assert message.startswith("job “job”: bad “rules: if” expression “$CI_COMMIT_BRANCH = \"main\"”: unexpected “=”")


def test_rule_keys_are_checked() -> None:
    found = problems("""\
        job:
          script: x
          rules:
            - iff: $X
            - if: $Y
              start_in: 5 minutes
            - when: later
            - {}
        """)
    assert found == [
        (4, "job “job”: rule: unknown key “iff”; did you mean “if”?"),
        (6, "job “job”: “rules: start_in” is only allowed with “when: delayed” in the same rule"),
        (7, "job “job”: “rules: when” must be one of on_success, on_failure, always, manual, never, delayed, not "
            "the text “later”"),
        (8, "job “job”: a rule needs at least one of if, changes, exists, when"),
    ]


def test_only_and_except_forms() -> None:
    config = read("""\
        a:
          script: x
          only: [main, /^release-.*$/, tags, merge_requests]
          except: [schedules]
        b:
          script: x
          only:
            variables: [$RELEASE == "staging", $STAGING]
            changes: [Dockerfile]
          except:
            refs: [main]
        c:
          script: x
          only: main
        """)
    a, b, c = config.jobs
    assert a.only == RefFilter(refs=("main", "/^release-.*$/", "tags", "merge_requests"))
    assert a.except_ == RefFilter(refs=("schedules",))
    # GitLab merges its default refs into an `only:` mapping that has none of its own.
    assert b.only == RefFilter(refs=("branches", "tags"), variables=('$RELEASE == "staging"', "$STAGING"),
                               changes=("Dockerfile",))
    assert b.except_ == RefFilter(refs=("main",))
    assert c.only == RefFilter(refs=("main",))


def test_rules_with_only_is_an_error() -> None:
    assert one_problem("""\
        job:
          script: x
          rules: [{when: always}]
          only: [main]
        """) == (4, "job “job”: “only” cannot be used together with “rules”; use rules alone")


def test_bad_only_regex_and_variables_expression() -> None:
    found = problems("""\
        job:
          script: x
          only:
            refs: ["/(unclosed/"]
            variables: ["$A =="]
            kubernetes: active
        """)
    assert [line for line, _ in found] == [4, 5, 6]
    assert "is invalid" in found[0][1]
    assert "“kubernetes” is not supported yet" in found[2][1]


def test_workflow_rules() -> None:
    config = read("""\
        workflow:
          rules:
            - if: $CI_COMMIT_TITLE =~ /-draft$/
              when: never
            - if: $CI_PIPELINE_SOURCE == "merge_request_event"
            - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
              variables: {DEPLOY: "yes"}
        job:
          script: x
        """)
    assert config.workflow_rules == (
        Rule(if_expr="$CI_COMMIT_TITLE =~ /-draft$/", when="never"),
        Rule(if_expr='$CI_PIPELINE_SOURCE == "merge_request_event"'),
        Rule(if_expr="$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", variables={"DEPLOY": "yes"}),
    )


def test_workflow_rule_when_is_always_or_never() -> None:
    found = problems("""\
        workflow:
          name: Pipeline for $CI_COMMIT_REF_NAME
          rules:
            - when: manual
            - if: $X
              allow_failure: true
        job:
          script: x
        """)
    assert found == [
        (4, "“workflow”: “rules: when” must be one of always, never, not the text “manual”"),
        (6, "“workflow”: rule: unknown key “allow_failure” (known: if, changes, exists, when, variables, "
            "auto_cancel)"),
    ]


# --- what is refused ---------------------------------------------------------------------------------------------


def test_unknown_job_key_with_suggestion() -> None:
    assert one_problem("""\
        test:
          script: pytest
          stgae: test
        """) == (3, "job “test”: unknown key “stgae”; did you mean “stage”?")


@pytest.mark.parametrize(("key", "effect"), [
    ("release", "no release is created (the job's script still runs)"),
    ("secrets", "the variables it names are empty: this forge reads no external secrets"),
    ("id_tokens", "the variables it names are empty: this forge issues no ID tokens"),
    ("pages", "this forge does not publish GitLab Pages"),
    ("hooks", "its scripts do not run"),
    ("identity", "no cloud identity is given to the job"),
])
def test_job_keywords_this_forge_does_not_act_on(key: str, effect: str) -> None:
    # Real files use them; the job still runs (GitLab's behaviour for everything but the keyword itself).
    config = read(f"job:\n  script: x\n  {key}: something\nother:\n  script: y\n")
    assert [j.name for j in config.jobs] == ["job", "other"]
    assert [(w.line, w.message) for w in config.warnings] == [
        (3, f"job “job”: “{key}” is not supported on this forge: {effect}")
    ]


def test_trigger_jobs_are_left_out_with_a_warning() -> None:
    config = read("job:\n  trigger: group/other\nother:\n  script: y\nafter:\n  needs: [job]\n  script: z\n")
    assert [j.name for j in config.jobs] == ["other"]
    assert [(w.line, w.message) for w in config.warnings] == [
        (2, "job “job” is left out: it starts a downstream pipeline (a trigger job), which this forge does not do"),
        (5, "job “after” is left out: it needs “job”, which is left out"),
    ]


def test_delayed_job_needs_start_in() -> None:
    assert one_problem("job:\n  script: x\n  when: delayed\n") == (
        3, "job “job”: “when: delayed” needs “start_in” (such as “30 minutes”)"
    )


def test_unknown_key_in_image() -> None:
    assert one_problem("""\
        job:
          script: x
          image:
            name: alpine
            entry: [sh]
        """) == (5, "job “job”: “image” has the unknown key “entry” (known: name, entrypoint, pull_policy)")


def test_unknown_top_level_key_that_is_not_a_job() -> None:
    assert one_problem("""\
        stage: test
        job:
          script: x
        """) == (
        1,
        "“stage” is not a keyword (did you mean the keyword “stages”?); as a job it must be a mapping with "
        "“script”, not the text “test”",
    )


def test_job_without_script() -> None:
    assert one_problem("""\
        build:
          stage: build
        """) == (1, "job “build” has no “script”: every job needs one")


def test_empty_script_is_an_error() -> None:
    assert one_problem("build:\n  script: []\n") == (2, "job “build”: “script” is empty")


def test_reserved_words_cannot_be_job_names() -> None:
    assert one_problem("""\
        variables:
          script: echo hi
        job:
          script: x
        """) == (1, "“variables” is a reserved keyword and cannot be the name of a job")


def test_unknown_stage_is_an_error() -> None:
    assert one_problem("""\
        stages: [build, test]
        deploy:
          stage: deploy
          script: x
        """) == (3, "job “deploy”: the stage “deploy” is not in “stages” (build, test)")


def test_boolean_variable_values_read_as_gitlab_does() -> None:
    # GitLab accepts YAML booleans as variable values and passes Ruby's text for them (an unquoted yes is true).
    config = read("""\
        variables:
          DEBUG: yes
          QUIET: false
        job:
          script: x
        """)
    assert config.variables == {"DEBUG": "true", "QUIET": "false"}


def test_script_line_read_as_a_mapping() -> None:
    line, message = one_problem("""\
        job:
          script:
            - echo ok
            - echo key: value
        """)
    assert line == 4 and "put the whole command in quotes" in message


def test_variable_loop_is_an_error() -> None:
    line, message = one_problem("""\
        variables:
          A: $B
          B: ${A}
        job:
          script: x
        """)
    assert line == 1 and message == "“variables”: the variables “A”, “B” refer to each other in a circle"


def test_self_reference_is_not_a_loop() -> None:
    config = read("""\
        variables:
          PATH: $PATH:/opt/bin
        job:
          script: x
        """)
    assert config.variables == {"PATH": "$PATH:/opt/bin"}


def test_all_problems_are_reported_in_file_order() -> None:
    found = problems("""\
        stages: [build]
        a:
          stage: build
          script: x
          when: sometimes
        b:
          stage: build
          scripts: x
        c:
          stage: build
          script: x
          timeout: never
        """)
    assert [line for line, _ in found] == [5, 6, 8, 12]


def test_file_with_no_jobs() -> None:
    assert one_problem("stages: [build]\n.hidden:\n  script: x\n")[1].startswith("the file defines no jobs")


# --- the YAML itself -----------------------------------------------------------------------------------------------


def test_yaml_syntax_error_gives_the_parser_line() -> None:
    line, message = one_problem("""\
        build:
          script:
            - make
           - make install
        """)
    assert line == 4
    assert message.startswith("the file is not valid YAML:")


def test_unclosed_flow_list() -> None:
    line, message = one_problem("build:\n  script: [make\n  stage: build\n")
    assert line == 3 and "the file is not valid YAML" in message


def test_tab_indentation_gets_a_hint() -> None:
    line, message = one_problem("build:\n\tscript: make\n")
    assert line == 2 and message.endswith("; YAML does not allow tabs for indentation, use spaces")


def test_undefined_alias() -> None:
    line, message = one_problem("a:\n  script: *nothing\n")
    assert line == 2 and "undefined alias" in message


def test_empty_file() -> None:
    assert one_problem("") == (None, ".gitlab-ci.yml is empty; it needs at least one job with a script")


def test_top_level_must_be_a_mapping() -> None:
    assert one_problem("- a\n- b\n")[1].startswith("the file must be a mapping")


def test_duplicate_keys_are_a_warning() -> None:
    config = read("""\
        job:
          script: first
        job:
          script: second
        """)
    assert config.jobs[0].script == ("second",)
    assert [(w.line, w.message) for w in config.warnings] == [
        (3, "“job” is written twice in this mapping (also line 1); the last one is used"),
    ]


def test_non_text_keys() -> None:
    assert one_problem("""\
        job:
          script: x
          variables:
            on: "1"
        """) == (4, "the key “on” is read as bool, not text; put it in quotes")


def test_unknown_yaml_tag() -> None:
    assert one_problem("job:\n  script: !shell echo\n") == (2, "the YAML tag “!shell” is not supported")


def test_dates_stay_text() -> None:
    config = read("variables:\n  RELEASED: 2024-05-01\njob:\n  script: x\n")
    assert config.variables == {"RELEASED": "2024-05-01"}


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines += ["job:", "  script: *a8"]
    line, message = one_problem("\n".join(lines) + "\n")
    assert "expands to too much data" in message


def test_alias_inside_itself_is_refused() -> None:
    line, message = one_problem("job: &j\n  script: x\n  again: *j\n")
    assert "refers to a node that contains it" in message


def test_long_chains_of_needs_and_variables() -> None:
    count = 3000
    jobs = "".join(f"j{i}:\n  script: x\n" + (f"  needs: [j{i - 1}]\n" if i else "") for i in range(count))
    variables = "variables:\n" + "".join(f"  V{i}: ${{V{i + 1}}}x\n" for i in range(count)) + f"  V{count}: end\n"
    config = read(variables + jobs)
    assert len(config.jobs) == count and config.jobs[-1].needs == (f"j{count - 2}",)
    planned = plan(config, {"CI_COMMIT_BRANCH": "main"})
    assert planned.jobs[0].variables["V0"] == "end" + "x" * count
    circle = jobs.replace("j0:\n  script: x\n", f"j0:\n  script: x\n  needs: [j{count - 1}]\n", 1)
    ((line, message),) = problems(circle)
    assert line == 3 and message.startswith("the needs of jobs go round in a circle: “j0” → “j2999” → “j2998”")
