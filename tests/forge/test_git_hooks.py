"""The hook launchers git runs on every push: the sh fast paths must decide exactly as hook_main.py does."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from forge.git.hooks import install_hooks

ZERO, SHA = "0" * 40, "1" * 40


def _policy(**refs: dict[str, str | None]) -> str:
    return json.dumps({"refs": refs})


def _run(hooks: Path, name: str, lines: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    return subprocess.run(["sh", str(hooks / name)], input=lines, env={**clean, **env}, capture_output=True,
                          text=True, timeout=30, check=False)


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    install_hooks(tmp_path / "hooks")
    return tmp_path / "hooks"


ALLOW = {"deny": None, "deny_force": None}


@pytest.mark.parametrize("lines, policy, refused", [
    (f"{ZERO} {SHA} refs/heads/main\n", _policy(**{"refs/heads/main": ALLOW}), ""),
    (f"{ZERO} {SHA} refs/heads/main\n{ZERO} {SHA} refs/tags/v1\n",
     _policy(**{"refs/heads/main": ALLOW, "refs/tags/v1": ALLOW}), ""),
    # A ref git updates that the forge was not told about is refused, even when the policy denies nothing.
    (f"{ZERO} {SHA} refs/heads/main\n", _policy(**{"refs/heads/ma": ALLOW}), "not announced"),
    (f"{ZERO} {SHA} refs/heads/main\n{ZERO} {SHA} refs/heads/x\n", _policy(**{"refs/heads/main": ALLOW}),
     "refs/heads/x: this ref was not announced"),
    (f"{ZERO} {SHA} refs/heads/main\n", _policy(**{"refs/heads/main": {"deny": "Protected.", "deny_force": None}}),
     "refs/heads/main: Protected."),
    (f"{ZERO} {SHA} refs/heads/main\n", "", "not announced"),
    # A name JSON escapes cannot be matched by sh: the full check decides, and accepts it.
    (f"{ZERO} {SHA} refs/heads/\u00e9t\u00e9\n", _policy(**{"refs/heads/\u00e9t\u00e9": ALLOW}), ""),
])
def test_pre_receive(hooks: Path, lines: str, policy: str, refused: str) -> None:
    result = _run(hooks, "pre-receive", lines, FORGE_PUSH_POLICY=policy)
    if refused:
        assert result.returncode == 1 and refused in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_post_receive_appends_the_accepted_updates(hooks: Path, tmp_path: Path) -> None:
    result_file = tmp_path / "result.txt"
    result_file.write_text(f"{ZERO} {SHA} refs/heads/first\n")
    run = _run(hooks, "post-receive", f"{ZERO} {SHA} refs/heads/main\n", FORGE_PUSH_RESULT=str(result_file))
    assert run.returncode == 0
    assert result_file.read_text().splitlines() == [f"{ZERO} {SHA} refs/heads/first", f"{ZERO} {SHA} refs/heads/main"]
    assert _run(hooks, "post-receive", f"{ZERO} {SHA} refs/heads/main\n").returncode == 0  # no result file named
