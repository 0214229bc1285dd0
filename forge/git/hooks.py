"""Install the hook launchers into ``$FORGE_HOME/hooks``.

Pushes run ``git -c core.hooksPath=$FORGE_HOME/hooks receive-pack``, so every repository shares these hooks and
nothing inside a repository directory can replace them. They are rewritten at every start so an upgrade of the
forge (or a move of its Python) takes effect at once.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

HOOK_NAMES = ("pre-receive", "post-receive")
_HOOK_MAIN = Path(__file__).resolve().parent / "hook_main.py"


# Starting Python twice per push (about 30 ms each) was most of the forge's push overhead over git-http-backend, so
# the common cases run in sh: post-receive only appends git's lines to the result file, and pre-receive accepts
# at once when every ref pushed is in the policy and the policy denies nothing. Anything else (a deny, a force-push
# rule, a ref name the JSON escapes) goes to hook_main.py, which stays the one authority on refusals.
_POST_RECEIVE = """#!/bin/sh
# Append the accepted "<old> <new> <ref>" lines for the forge to record (see forge/git/hook_main.py).
[ -n "$FORGE_PUSH_RESULT" ] || exit 0
exec cat >> "$FORGE_PUSH_RESULT"
"""

_PRE_RECEIVE = r"""#!/bin/sh
# Fast path: nothing in the policy is denied and every pushed ref is in it. Otherwise the full check decides.
input=$(cat)
case "$FORGE_PUSH_POLICY" in
  *'"deny": "'*|*'"deny_force": "'*) ;;
  *)
    missing=$(printf '%s\n' "$input" | while read -r old new ref; do
      [ -n "$ref" ] || continue
      case "$FORGE_PUSH_POLICY" in
        *"\"$ref\": {"*) ;;
        *) echo "$ref"; break ;;
      esac
    done)
    [ -n "$missing" ] || exit 0
    ;;
esac
printf '%s\n' "$input" | exec {python} -I -S {main} pre-receive
"""


def install_hooks(hooks_dir: Path) -> None:
    hooks_dir.mkdir(parents=True, exist_ok=True)
    # -I -S: isolated mode without site-packages; the hook needs only the standard library and starts fast.
    scripts = {
        "pre-receive": _PRE_RECEIVE.replace("{python}", shlex.quote(sys.executable))
        .replace("{main}", shlex.quote(str(_HOOK_MAIN))),
        "post-receive": _POST_RECEIVE,
    }
    for name in HOOK_NAMES:
        target = hooks_dir / name
        tmp = target.with_suffix(".tmp")
        tmp.write_text(scripts[name])
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
