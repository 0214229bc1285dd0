"""The ``rules:if`` expression language and the ``changes``/``exists`` glob patterns, against GitLab's documented
behaviour."""

from __future__ import annotations

import pytest

from ci.config.expressions import ExpressionError, holds, parse
from ci.config.globs import any_matches, glob_matches

VARS = {
    "CI_COMMIT_BRANCH": "main",
    "CI_DEFAULT_BRANCH": "main",
    "CI_PIPELINE_SOURCE": "push",
    "EMPTY": "",
    "BLANK": "  ",
    "FEATURE": "feature/login-Page",
    "REGEX": "/^feature\\//",
    "NOT_A_REGEX": "feature",
    "ONE": "1",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Equality, with variables on either side and both quote styles.
        ('$CI_COMMIT_BRANCH == "main"', True),
        ("$CI_COMMIT_BRANCH == 'main'", True),
        ('"main" == $CI_COMMIT_BRANCH', True),
        ('$CI_COMMIT_BRANCH != "main"', False),
        ("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", True),
        ("${CI_COMMIT_BRANCH} == $CI_DEFAULT_BRANCH", True),
        # null: an undefined variable is null; an empty one is "" and not null.
        ("$UNDEFINED == null", True),
        ('$UNDEFINED == ""', False),
        ("$EMPTY == null", False),
        ('$EMPTY == ""', True),
        ("$CI_COMMIT_BRANCH != null", True),
        ("null == null", True),
        # A bare variable: defined and not blank.
        ("$CI_COMMIT_BRANCH", True),
        ("$UNDEFINED", False),
        ("$EMPTY", False),
        ("$BLANK", False),
        ('"text"', True),
        ("null", False),
        # Regular expressions search, case-sensitive unless /i.
        ("$FEATURE =~ /^feature/", True),
        ("$FEATURE =~ /login/", True),
        ("$FEATURE =~ /LOGIN/", False),
        ("$FEATURE =~ /LOGIN/i", True),
        ("$FEATURE !~ /^release/", True),
        ("$FEATURE =~ /^feature\\/login/", True),
        ('"abc" =~ /b/', True),
        ("$UNDEFINED =~ /^$/", True),
        ("$UNDEFINED =~ /x/", False),
        # The right side may be a variable holding a /pattern/; other values match nothing.
        ("$FEATURE =~ $REGEX", True),
        ("$FEATURE =~ $NOT_A_REGEX", False),
        ("$FEATURE !~ $NOT_A_REGEX", True),
        ("$FEATURE =~ $UNDEFINED", False),
        # A pattern in quotes is read as the pattern (GitLab accepts it; public pipelines use it).
        ('$FEATURE =~ "/^feature/"', True),
        ("$FEATURE !~ '/^release/'", True),
        # Variables inside a pattern are not expanded.
        ("$FEATURE =~ /$CI_COMMIT_BRANCH/", False),
        # && binds tighter than ||; parentheses group.
        ('$ONE == "1" || $ONE == "2" && $UNDEFINED', True),
        ('($ONE == "1" || $ONE == "2") && $UNDEFINED', False),
        ('$CI_COMMIT_BRANCH == "my-branch" || (($ONE == "1" || $ONE == "2") && $FEATURE)', True),
        ("$FEATURE =~ /^feature/ && $CI_PIPELINE_SOURCE == 'push'", True),
        ("($FEATURE =~ /^content.*/ || $FEATURE =~ /Page$/) && $ONE", True),
        ("$UNDEFINED && $UNDEFINED_TOO || $ONE", True),
    ],
)
def test_evaluation(expression: str, expected: bool) -> None:
    assert holds(expression, VARS) is expected


def test_regex_flags_m_and_s() -> None:
    variables = {"MSG": "title\nsecond line"}
    assert holds("$MSG =~ /^second/m", variables)
    assert not holds("$MSG =~ /^second/", variables)
    assert holds("$MSG =~ /title.second/s", variables)
    assert not holds("$MSG =~ /title.second/", variables)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "the expression is empty"),
        ('$A = "x"', "unexpected “=” at column 4 (use == to compare)"),
        ('$A == "x" & $B', "unexpected “&” at column 11 (use && or ||)"),
        ('$A == "x" &&', "expected a variable, a quoted string or null, found the end of the expression"),
        ('$A == "x', "the string starting at column 7 has no closing \""),
        ("$A == main", "unexpected word “main” at column 7: variables start with $ and text goes in quotes"),
        ("$A =~ /x", "the regular expression starting at column 7 has no closing /"),
        ("$A =~ /(x/", "the regular expression /(x/ is invalid: missing ): (x (column 7)"),
        ("$A =~ /x/g", "the regular expression /x/g has the flag “g”; only i, m and s are known (column 7)"),
        ('$A =~ "x"', "=~ at column 4 must be followed by a /regular expression/"),
        ('$A =~ "/(/"', "the regular expression /(/ is invalid: missing ): ( (column 7)"),
        # RE2, like GitLab's: no back-references, so no pattern can backtrack for ever.
        ("$A =~ /(a)\\1/", "the regular expression /(a)\\1/ is invalid: invalid escape sequence: \\1 (column 7)"),
        ("$A == /x/", "== compares text; use =~ to match the regular expression /x/"),
        ("/x/", "the regular expression /x/ must follow =~ or !~"),
        ("($A", "the “(” at column 1 is not closed: expected “)” before the end of the expression"),
        ("$A)", "unexpected “)” at column 3 (a “)” without its “(”?)"),
        ("$A $B", "unexpected “$B” at column 4 (missing && or ||?)"),
        ('$A == "x" == "y"', "“==” at column 11: comparisons cannot be chained; join them with && or ||"),
        ('($A) == "x"', "“==” at column 6 cannot compare a group in parentheses"),
        ("$ == 1", "“$” at column 1 must be followed by a variable name"),
        ("${A", "“${” at column 1 must be followed by a variable name and “}”"),
    ],
)
def test_syntax_errors(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(expression)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("Dockerfile", "Dockerfile", True),
        ("Dockerfile", "sub/Dockerfile", False),
        ("docker/scripts/*", "docker/scripts/build.sh", True),
        ("docker/scripts/*", "docker/scripts/deep/build.sh", False),
        ("dockerfiles/**/*", "dockerfiles/a/b/Dockerfile", True),
        ("dockerfiles/**/*", "dockerfiles/Dockerfile", True),
        ("**/*.json", "package.json", True),
        ("**/*.json", "a/b/c.json", True),
        ("**/*.json", ".config/x.json", True),
        ("more_scripts/*.{rb,py,sh}", "more_scripts/run.py", True),
        ("more_scripts/*.{rb,py,sh}", "more_scripts/run.js", False),
        ("src/{app,lib/{core,util}}/*.py", "src/lib/util/x.py", True),
        ("*", ".gitlab-ci.yml", True),  # FNM_DOTMATCH
        ("*.py", "pkg/mod.py", False),  # FNM_PATHNAME: * stays in its directory
        ("docs/**", "docs/index.md", True),
        ("docs/**", "docs/api/index.md", False),  # ** without / is a plain *
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file10.txt", False),
        ("[abc].md", "b.md", True),
        ("[!abc].md", "d.md", True),
        ("[!abc].md", "a.md", False),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a+b(c).txt", "a+b(c).txt", True),
    ],
)
def test_globs_match_like_gitlab(pattern: str, path: str, expected: bool) -> None:
    assert glob_matches(pattern, path) is expected


def test_any_matches() -> None:
    assert any_matches(["*.md", "src/**/*.py"], ["README.txt", "src/a/b.py"])
    assert not any_matches(["*.md"], ["src/README.md"])
    assert not any_matches(["*.md"], [])


def test_a_catastrophic_pattern_still_answers_at_once() -> None:
    # With Python's re this takes longer than the universe's age on 40 "a"s; RE2 matches in linear time.
    import time

    started = time.monotonic()
    assert not holds("$MSG =~ /^(a|a)*b$/", {"MSG": "a" * 100_000})
    assert time.monotonic() - started < 1.0
