"""Name rules for accounts and repositories: refused names get a message a person understands."""

from __future__ import annotations

import pytest

from forge.errors import InvalidInput
from forge.names import validate_account_name, validate_repo_name, validate_topics


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("..", "may not contain “..”"),
        ("a..b", "may not contain “..”"),
        ("a/b", "may not contain “/”"),
        ("名字", "ASCII letters"),
        ("café", "ASCII letters"),
        ("with space", "ASCII letters"),
        (".hidden", "reserved"),
        ("settings", "reserved"),
        ("repo.git", "may not end in .git"),
        ("", "required"),
        ("x" * 101, "at most 100"),
    ],
)
def test_bad_repo_names_are_refused_with_a_reason(name: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_repo_name(name)
    assert fragment in str(exc.value)


@pytest.mark.parametrize("name", ["app", "my-app", "my_app", "v1.2", "A-B_c.d", "x" * 100])
def test_good_repo_names(name: str) -> None:
    assert validate_repo_name(name) == name


@pytest.mark.parametrize("name", ["admin", "api", "explore", "-bad", "bad-", "a..b", "ü", "a--b", "x" * 40])
def test_bad_account_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_account_name(name)


def test_topics_are_normalised_and_checked() -> None:
    assert validate_topics("Python, web  git python") == ["python", "web", "git"]
    with pytest.raises(InvalidInput):
        validate_topics("not_valid!")
    with pytest.raises(InvalidInput):
        validate_topics(" ".join(f"t{i}" for i in range(21)))
