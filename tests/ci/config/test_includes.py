"""``include: local``: files of the same commit merged as GitLab merges them, ``include: rules`` decided with the
pipeline's variables; other include kinds are warnings naming what is left out; problems inside an included file
point at the include line and name the file and its own line; the command line reads includes from ``--root``."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from ci.cli import ci
from ci.config import IncludeContext, load
from tests.ci.config.helpers import branch, names, problems, read, run, tag

FILES = {
    "ci/base.yml": """\
        variables:
          PIP_CACHE_DIR: .cache/pip
          LEVEL: base
        stages: [lint, test]
        .python:
          image: python:3.12
        lint:
          extends: .python
          stage: lint
          script: ruff check .
          variables: {STRICT: "1"}
        """,
    "ci/test.yml": """\
        include: ci/base.yml
        test:
          extends: .python
          stage: test
          script: pytest
        variables:
          LEVEL: test
        """,
}


def reader(path: str) -> str | None:
    text = FILES.get(path)
    return textwrap.dedent(text) if text is not None else None


def test_include_forms_and_merge_order() -> None:
    main = """\
        include:
          - local: /ci/test.yml
          - ci/base.yml
        variables:
          LEVEL: main
        lint:
          variables: {EXTRA: "yes"}
        """
    config = read(main, reader)
    assert config.includes == ("ci/test.yml", "ci/base.yml")  # base.yml is read once, by test.yml
    assert [j.name for j in config.jobs] == ["lint", "test"]
    lint = config.jobs[0]
    # Mappings merge key by key, the main file winning; the job keeps what the included file gave it.
    assert lint.variables == {"STRICT": "1", "EXTRA": "yes"} and lint.script == ("ruff check .",)
    assert config.variables == {"PIP_CACHE_DIR": ".cache/pip", "LEVEL": "main"}
    assert config.stages == (".pre", "lint", "test", ".post")
    assert names(run("include: ci/base.yml\n", read_file=reader)) == ["lint"]
    assert read("include: {local: ci/base.yml}\n", reader).includes == ("ci/base.yml",)


def test_local_include_problems() -> None:
    assert problems("""\
        include:
          - local: ci/base.yml
            rules:
              - if: $X
                variables: {A: b}
          - local: "ci/*.yml"
          - local: ../outside.yml
          - local: ci/notes.txt
          - local: ci/base.yml
            cache: true
        job:
          script: x
        """, reader) == [
        (5, "“include”: rule: unknown key “variables” (known: if, exists, changes, when)"),
        (6, "include “ci/*.yml”: wildcards in “include: local” are not supported yet; list the files"),
        (7, "include “../outside.yml”: the path leaves the repository"),
        (8, "include “ci/notes.txt”: an included file must be YAML (end in .yml or .yaml)"),
        (10, "“include: cache” is not a key of include: local"),
    ]


def test_include_rules_decide_with_the_pipeline_variables() -> None:
    text = """\
        variables:
          FROM_FILE: "yes"
        include:
          - local: ci/base.yml
            rules:
              - if: $CI_COMMIT_TAG
                when: never
              - if: $CI_COMMIT_BRANCH == "main" || $FROM_FILE == "yes"
          - local: ci/$EXTRA.yml
            rules:
              - exists: [Makefile]
        job:
          script: x
        """
    files = {**FILES, "ci/extra.yml": "extra:\n  script: make\n"}

    def loaded(variables: dict[str, str], exists: bool = True) -> list[str]:
        context = IncludeContext({**variables, "EXTRA": "extra"}, lambda _pattern: exists)
        return [j.name for j in load(textwrap.dedent(text), ".gitlab-ci.yml", files.get, context).jobs]

    assert loaded(branch()) == ["lint", "extra", "job"]
    # The file's own variables are not seen by include rules (GitLab's rule), and Makefile may be missing.
    assert loaded(branch("feature"), exists=False) == ["job"]
    assert loaded(tag("v1")) == ["extra", "job"]
    # Without a pipeline (the command-line lint) the rules cannot be decided: the file is read, with a warning.
    config = read(text.replace("ci/$EXTRA.yml", "ci/extra.yml"), files.get)
    assert [j.name for j in config.jobs] == ["lint", "extra", "job"]
    assert [w.line for w in config.warnings] == [5, 10]


def test_other_include_kinds_are_warnings_and_the_own_jobs_run() -> None:
    # GitLab's templates, other projects, remote files and components cannot be read here: each is a warning
    # naming what is left out (the file was an error before, which stopped the project's own jobs too).
    text = """\
        include:
          - template: Python.gitlab-ci.yml
          - remote: https://example.com/ci.yml
          - project: group/other
            file: ci.yml
          - project: group/more
            file: [a.yml, b.yml]
          - component: gitlab.com/acme/c@1.0
          - https://example.com/plain.yml
          - local: ci/base.yml
        job:
          script: x
        """
    config = read(text, reader)
    assert [j.name for j in config.jobs] == ["lint", "job"]
    assert config.left_out_includes == (
        "Python.gitlab-ci.yml", "https://example.com/ci.yml", "group/other", "group/more", "gitlab.com/acme/c@1.0",
        "https://example.com/plain.yml",
    )
    tail = ": its jobs are left out, and jobs that extend or need them are left out too"
    assert [(w.line, w.message) for w in config.warnings] == [
        (2, "GitLab's template “Python.gitlab-ci.yml” is not available on this forge" + tail),
        (3, "the remote file “https://example.com/ci.yml” is not fetched by this forge" + tail),
        (4, "“ci.yml” of the project “group/other” is not available on this forge" + tail),
        (6, "“a.yml”, “b.yml” of the project “group/more” are not available on this forge" + tail),
        (8, "the CI/CD component “gitlab.com/acme/c@1.0” is not available on this forge" + tail),
        (9, "the remote file “https://example.com/plain.yml” is not fetched by this forge" + tail),
    ]


def test_problems_inside_included_files() -> None:
    files = {
        "ci/bad.yml": "job:\n  script: x\n  stage: nowhere\nother:\n  script: x\n  cache:\n    key: a/b\n",
        "ci/broken.yml": "job2:\n  script: [x\n",
    }
    assert problems("include: [ci/bad.yml, ci/broken.yml, ci/missing.yml]\n", files.get) == [
        (1, "in “ci/bad.yml”, line 3: job “job”: the stage “nowhere” is not in “stages” (build, test, deploy)"),
        (1, "in “ci/bad.yml”, line 7: job “other”: the cache key “a/b” is not allowed: it must not contain “/”"),
        (1, "in “ci/broken.yml”, line 3: the file is not valid YAML: did not find expected ',' or ']' (while "
            "parsing a flow sequence at line 2), column 1"),
        (1, "include “ci/missing.yml”: there is no such file in the repository at this commit (paths are relative "
            "to the repository's root)"),
    ]


def test_includes_need_a_reader() -> None:
    assert problems("include: ci/base.yml\njob:\n  script: x\n") == [
        (1, "include “ci/base.yml”: the files named by “include” cannot be read here; lint the file inside its "
            "repository (or give the repository's directory with --root)"),
    ]


def test_an_include_loop_is_read_once() -> None:
    files = {"a.yml": "include: b.yml\na:\n  script: x\n", "b.yml": "include: a.yml\nb:\n  script: x\n"}
    assert [j.name for j in read("include: a.yml\n", files.get).jobs] == ["b", "a"]


def test_lint_reads_includes_from_root(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    for path, text in FILES.items():
        (tmp_path / path).write_text(textwrap.dedent(text))
    (tmp_path / "secret.yml").symlink_to("/etc/passwd")
    main = tmp_path / ".gitlab-ci.yml"
    main.write_text("include: ci/test.yml\n")
    result = CliRunner().invoke(ci, ["lint", str(main), "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{main} is valid (with ci/test.yml, ci/base.yml): 2 jobs in stages lint, test.\n"
    without = CliRunner().invoke(ci, ["lint", str(main)])
    assert without.exit_code == 1
    assert without.stdout.startswith(f"{main}:1: include “ci/test.yml”: the files named by “include” cannot be read")
    main.write_text("include: secret.yml\n")
    outside = CliRunner().invoke(ci, ["lint", str(main), "--root", str(tmp_path)])
    assert outside.exit_code == 1 and "include “secret.yml”: there is no such file" in outside.stdout
