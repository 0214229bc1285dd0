"""``artifacts``, ``cache`` and ``services``: GitLab's forms are read into the job, bad forms are errors with the
line they are on, and ``default:`` / the old global keywords / ``inherit`` decide what a job takes."""

from __future__ import annotations

from ci.config import ConfigErrors
from ci.config.spec import Artifacts, Cache, Service
from tests.ci.config.helpers import job, problems, read, run, warnings

# --- artifacts -----------------------------------------------------------------------------------------------------


def test_artifacts_in_full() -> None:
    config = read("""\
        build:
          script: make
          artifacts:
            name: "$CI_JOB_NAME-$CI_COMMIT_REF_SLUG"
            paths: [dist/, "build/*.bin"]
            exclude: ["**/*.tmp"]
            untracked: false
            when: always
            expire_in: 1 week
            expose_as: Build output
            reports:
              junit: [report.xml, "reports/*.xml"]
        """)
    assert config.jobs[0].artifacts == Artifacts(
        name="$CI_JOB_NAME-$CI_COMMIT_REF_SLUG", paths=("dist/", "build/*.bin"), exclude=("**/*.tmp",),
        untracked=False, when="always", expire_in=7 * 86400, expose_as="Build output",
        junit=("report.xml", "reports/*.xml"),
    )


def test_artifacts_defaults() -> None:
    (build,) = read("build:\n  script: make\n  artifacts:\n    paths: [dist/]\n").jobs
    assert build.artifacts == Artifacts(paths=("dist/",), when="on_success", expire_in=None)


def test_expire_in_forms_gitlab_documents() -> None:
    cases = {"42": 42, "42 seconds": 42, "3 mins 4 sec": 184, "2 hrs 20 min": 8400, "2h20min": 8400,
             "6 mos 1 day": 181 * 86400, "47 yrs 6 mos and 4d": (47 * 365 + 184) * 86400,
             "3 weeks and 2 days": 23 * 86400, "30 mins": 1800, "never": None}
    for text, seconds in cases.items():
        (built,) = read(f"b:\n  script: x\n  artifacts:\n    paths: [a]\n    expire_in: {text}\n").jobs
        assert built.artifacts is not None and built.artifacts.expire_in == seconds, text
        assert built.artifacts.expire_never == (text == "never"), text


def test_other_report_types_are_accepted_with_a_warning() -> None:
    text = """\
        test:
          script: pytest
          artifacts:
            reports:
              junit: report.xml
              coverage_report:
                coverage_format: cobertura
                path: coverage.xml
              dotenv: build.env
        """
    (test,) = read(text).jobs
    assert test.artifacts is not None and test.artifacts.junit == ("report.xml",)
    assert [line for line, _ in warnings(text)] == [6, 9]
    assert "“artifacts: reports: coverage_report” is not used by this forge" in warnings(text)[0][1]


def test_bad_artifacts() -> None:
    assert problems("""\
        a:
          script: x
          artifacts:
            paths: dist/
            when: sometimes
            expire_in: soon
            reports:
              junitt: r.xml
            keep: true
        b:
          script: x
          artifacts: [dist/]
        c:
          script: x
          artifacts:
            expose_as: Output
        """) == [
        (5, "job “a”: “artifacts: when” must be one of on_success, on_failure, always, not the text “sometimes”"),
        (6, "job “a”: “artifacts: expire_in” must be a duration such as “30 mins”, “1 week” or “2h 20min” or "
            "never, not the text “soon”"),
        (8, "job “a”: “junitt” is not a report type (known: junit, accessibility, annotations, api_fuzzing, "
            "browser_performance, cluster_image_scanning, codequality, container_scanning, coverage_fuzzing, "
            "coverage_report, cyclonedx, dast, dependency_scanning, dotenv, license_scanning, load_performance, "
            "metrics, performance, repository_xray, requirements, requirements_v2, sast, secret_detection, "
            "terraform)"),
        (9, "job “a”: “artifacts”: unknown key “keep” (known: paths, exclude, name, when, expire_in, untracked, "
            "expose_as, reports, public, access)"),
        (12, "job “b”: “artifacts” must be a mapping (paths, name, when, expire_in, reports...), not a list"),
        (16, "job “c”: “artifacts: expose_as” needs “artifacts: paths”"),
    ]


# --- cache ---------------------------------------------------------------------------------------------------------


def test_cache_forms() -> None:
    (job_config,) = read("""\
        test:
          script: pytest
          cache:
            - key: pip-$CI_COMMIT_REF_SLUG
              paths: [.cache/pip]
              policy: pull
              when: always
              fallback_keys: [pip-main, pip]
              unprotect: true
            - key:
                files: [poetry.lock, pyproject.toml]
                prefix: venv
              paths: [.venv/]
            - paths: [.mypy_cache/]
              untracked: true
        """).jobs
    assert job_config.cache == (
        Cache(key="pip-$CI_COMMIT_REF_SLUG", paths=(".cache/pip",), policy="pull", when="always",
              fallback_keys=("pip-main", "pip"), unprotect=True),
        Cache(key=None, key_files=("poetry.lock", "pyproject.toml"), key_prefix="venv", paths=(".venv/",)),
        Cache(key="default", paths=(".mypy_cache/",), untracked=True),
    )


def test_cache_key_files_resolve_from_the_commit() -> None:
    text = """\
        test:
          script: go test
          cache:
            - key: {files: [go.sum]}
              paths: [.go/]
            - key: {files: [go.sum, missing.txt], prefix: gomod}
              paths: [.gomod/]
            - key: {files: [nothing.lock], prefix: none}
              paths: [x/]
            - key: {files: [nothing.lock]}
              paths: [y/]
        """
    blobs = {"go.sum": "a" * 40}
    first = run(text, blob_id=blobs.get).jobs[0].cache
    blobs["go.sum"] = "b" * 40
    second = run(text, blob_id=blobs.get).jobs[0].cache
    keys = [c.key or "" for c in first]
    assert len(keys[0]) == 40 and keys[1] == f"gomod-{keys[0]}"
    assert keys[2:] == ["none-default", "default"]  # GitLab: no file found means the key "default"
    assert second[0].key != first[0].key  # the key follows the file's content
    assert second[2].key == "none-default"


def test_bad_cache() -> None:
    assert problems("""\
        a:
          script: x
          cache:
            key: feature/x
            policy: sometimes
        b:
          script: x
          cache:
            key: {files: [a, b, c]}
        c:
          script: x
          cache: [{paths: [a]}, {paths: [b]}, {paths: [c]}, {paths: [d]}, {paths: [e]}]
        d:
          script: x
          cache:
            key: ..
            fallback_keys: [a, b, c, d, e, f]
        """) == [
        (4, "job “a”: the cache key “feature/x” is not allowed: it must not contain “/”"),
        (5, "job “a”: “cache: policy” must be one of pull-push, pull, push, not the text “sometimes”"),
        (9, "job “b”: “cache: key: files” must list 1 or 2 files"),
        (12, "job “c”: “cache” lists 5 caches; at most 4 are allowed"),
        (16, "job “d”: the cache key “..” is not allowed: it must not be “.” or “..”"),
        (17, "job “d”: “cache: fallback_keys” lists 6 keys; at most 5 are allowed"),
    ]


# --- services ------------------------------------------------------------------------------------------------------


def test_services_forms() -> None:
    (test,) = read("""\
        test:
          script: pytest
          services:
            - redis:7
            - name: postgres:16
              alias: db,postgres
              command: ["postgres", "-c", "fsync=off"]
              entrypoint: ["docker-entrypoint.sh"]
              pull_policy: if-not-present
              variables:
                POSTGRES_PASSWORD: secret
        """).jobs
    assert test.services == (
        Service("redis:7"),
        Service("postgres:16", ("db", "postgres"), ("postgres", "-c", "fsync=off"), ("docker-entrypoint.sh",),
                {"POSTGRES_PASSWORD": "secret"}),
    )


def test_bad_services() -> None:
    assert problems("""\
        a:
          script: x
          services: postgres
        b:
          script: x
          services:
            - alias: db
            - name: redis
              command: redis-server --save ""
              pull_policy: sometimes
              port: 6379
        """) == [
        (3, "job “a”: “services” must be a list of images, not the text “postgres”"),
        (7, "job “b”: each service needs a “name” (its image)"),
        (9, "job “b”: “services: command” must be a list such as [\"--flag\", \"value\"], not the text "
            "“redis-server --save \"\"”"),
        (10, "job “b”: “pull_policy” must be always, if-not-present, never or a list of them, not “sometimes”"),
        (11, "job “b”: service: unknown key “port” (known: name, alias, command, entrypoint, variables, "
             "pull_policy)"),
    ]


# --- default:, the old globals and inherit -------------------------------------------------------------------------


def test_default_and_global_keywords_are_inherited_and_replaced_whole() -> None:
    config = read("""\
        services: [redis:7]
        cache:
          key: global
          paths: [.cache]
        default:
          artifacts:
            expire_in: 1 day
            paths: [out/]
          retry: 2
          interruptible: true
        plain:
          script: x
        own:
          script: x
          cache: []
          services: [postgres:16]
          retry: {max: 1, when: [runner_system_failure]}
          interruptible: false
          artifacts:
            paths: [other/]
        """)
    plain, own = config.jobs
    assert plain.services == (Service("redis:7"),) and plain.cache == (Cache(key="global", paths=(".cache",)),)
    assert plain.artifacts == Artifacts(paths=("out/",), expire_in=86400)
    assert plain.retry.max == 2 and plain.retry.when == ("always",) and plain.interruptible
    assert own.services == (Service("postgres:16"),) and own.cache == ()
    assert own.artifacts == Artifacts(paths=("other/",))  # replaced, not merged with the default's
    assert own.retry.max == 1 and own.retry.when == ("runner_system_failure",) and not own.interruptible


def test_inherit() -> None:
    config = read("""\
        variables:
          DOMAIN: example.com
          KEY: value
        default:
          image: ruby:3.3
          before_script: [bundle install]
          services: [redis:7]
        none:
          script: x
          inherit:
            default: false
            variables: false
        some:
          script: x
          inherit:
            default: [image]
            variables: [DOMAIN]
        """)
    none, some = config.jobs
    assert none.image is None and none.before_script == () and none.services == ()
    assert some.image is not None and some.image.name == "ruby:3.3" and some.before_script == ()
    result = run("""\
        variables:
          DOMAIN: example.com
          KEY: value
        none:
          script: x
          inherit: {variables: false}
        some:
          script: x
          inherit: {variables: [DOMAIN]}
        """)
    assert job(result, "none").variables == {}
    assert job(result, "some").variables == {"DOMAIN": "example.com"}


def test_bad_inherit() -> None:
    assert problems("""\
        a:
          script: x
          inherit:
            default: [image, allow_failure]
            variables: maybe
            stages: false
        """) == [
        (4, "job “a”: “inherit: default” lists “allow_failure”, which is not a default keyword (known: image, "
            "before_script, after_script, tags, timeout, artifacts, cache, services, retry, interruptible)"),
        (5, "job “a”: “inherit: variables” must be true, false or a list, not the text “maybe”"),
        (6, "job “a”: “inherit”: unknown key “stages” (known: default, variables)"),
    ]


def test_errors_in_default_point_at_default() -> None:
    try:
        read("default:\n  cache:\n    key: a/b\njob:\n  script: x\n")
    except ConfigErrors as exc:
        assert [(e.line, e.message) for e in exc.errors] == [
            (3, "“default”: the cache key “a/b” is not allowed: it must not contain “/”")
        ]
    else:
        raise AssertionError("accepted")


def test_image_pull_policy_is_accepted() -> None:
    (built,) = read("b:\n  script: x\n  image:\n    name: alpine\n    pull_policy: [always, if-not-present]\n").jobs
    assert built.image is not None and built.image.name == "alpine"
    assert problems("b:\n  script: x\n  image:\n    name: alpine\n    pull_policy: sometimes\n") == [
        (5, "job “b”: “pull_policy” must be always, if-not-present, never or a list of them"),
    ]
