"""The pre-receive and post-receive hook, run by ``git receive-pack`` for every push.

It imports only the standard library so that it starts in milliseconds. All decisions are made by the forge
before git starts (see forge/repos/git_access.py) and handed over in ``FORGE_PUSH_POLICY``:

    {"refs": {"refs/heads/main": {"deny": null | "message", "deny_force": null | "message"}}}

pre-receive refuses the whole push when any ref is denied, or when a ref whose force-push is denied is not a
fast-forward (checked with git itself, which sees the quarantined new objects). post-receive appends the accepted
updates to the file named by ``FORGE_PUSH_RESULT`` so the forge can record them as push events.
"""

import json
import os
import subprocess
import sys

ZERO = ("0" * 40, "0" * 64)


def _is_ancestor(old: str, new: str) -> bool:
    git = os.environ.get("FORGE_GIT_BIN", "git")
    result = subprocess.run([git, "merge-base", "--is-ancestor", old, new], capture_output=True, check=False)
    return result.returncode == 0


def pre_receive(lines: list[str]) -> int:
    policy = json.loads(os.environ.get("FORGE_PUSH_POLICY") or "{}").get("refs", {})
    errors = []
    for line in lines:
        try:
            old, new, ref = line.split(" ", 2)
        except ValueError:
            continue
        rule = policy.get(ref)
        if rule is None:
            errors.append(f"{ref}: this ref was not announced in the push and is refused.")
            continue
        if rule.get("deny"):
            errors.append(f"{ref}: {rule['deny']}")
        elif rule.get("deny_force") and old not in ZERO and new not in ZERO and not _is_ancestor(old, new):
            errors.append(f"{ref}: {rule['deny_force']}")
    if errors:
        sys.stderr.write("\n".join(["", "The forge refused this push:", *errors, ""]) + "\n")
        return 1
    return 0


def post_receive(lines: list[str]) -> int:
    path = os.environ.get("FORGE_PUSH_RESULT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
            fh.flush()
            os.fsync(fh.fileno())
    return 0


def main() -> int:
    hook = sys.argv[1] if len(sys.argv) > 1 else ""
    lines = [line for line in sys.stdin.read().splitlines() if line]
    if hook == "pre-receive":
        return pre_receive(lines)
    if hook == "post-receive":
        return post_receive(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
