"""``forge ci lint FILE``: the ``ci`` command group, driven through click's test runner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ci.cli import ci

VALID = """\
stages: [build, test]
build:
  stage: build
  script: make
test:
  script: make test
  needs: [build]
"""

INVALID = """\
stages: [build]
build:
  stage: build
  script: make
  release:
    tag_name: v1
test:
  scirpt: make test
"""


def lint(path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(ci, ["lint", str(path)])
    return result.exit_code, result.stdout, result.stderr


def test_valid_file(tmp_path: Path) -> None:
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(VALID)
    code, out, err = lint(path)
    assert code == 0, out + err
    assert out == f"{path} is valid: 2 jobs in stages build, test.\n"


def test_single_job_wording(tmp_path: Path) -> None:
    path = tmp_path / ".forge-ci.yml"
    path.write_text("hello:\n  script: echo hi\n")
    assert lint(path) == (0, f"{path} is valid: 1 job in stage test.\n", "")


def test_invalid_file_lists_each_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(INVALID)
    code, out, err = lint(path)
    assert code == 1
    assert out.splitlines() == [
        f"{path}:7: job “test” has no “script”: every job needs one",
        f"{path}:8: job “test”: unknown key “scirpt”; did you mean “script”?",
    ]
    assert err == f"{path} is not valid: 2 problems.\n"


def test_problem_without_a_line(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("")
    code, out, _ = lint(path)
    assert code == 1
    assert out == f"{path}: empty.yml is empty; it needs at least one job with a script\n"


def test_yaml_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("build:\n  script: [make\n  stage: build\n")
    code, out, _ = lint(path)
    assert code == 1 and out.startswith(f"{path}:3: the file is not valid YAML:")


def test_warnings_are_shown_on_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "dup.yml"
    path.write_text("job:\n  script: a\n  script: b\n")
    code, out, _ = lint(path)
    assert code == 0
    assert out.splitlines() == [
        f"{path}:3: warning: “script” is written twice in this mapping (also line 2); the last one is used",
        f"{path} is valid: 1 job in stage test.",
    ]


def test_missing_file(tmp_path: Path) -> None:
    code, out, err = lint(tmp_path / "nope.yml")
    assert code == 2 and out == ""
    assert err == f"error: cannot read {tmp_path / 'nope.yml'}: No such file or directory.\n"


def test_directory(tmp_path: Path) -> None:
    code, _, err = lint(tmp_path)
    assert code == 2 and err.startswith(f"error: cannot read {tmp_path}:")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"job:\n  script: echo \xe9t\xe9\n")
    code, _, err = lint(path)
    assert code == 2 and err == f"error: {path} is not UTF-8 text.\n"
