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


def install_hooks(hooks_dir: Path) -> None:
    hooks_dir.mkdir(parents=True, exist_ok=True)
    for name in HOOK_NAMES:
        # -I -S: isolated mode without site-packages; the hook needs only the standard library and starts fast.
        script = (
            "#!/bin/sh\n"
            f"exec {shlex.quote(sys.executable)} -I -S {shlex.quote(str(_HOOK_MAIN))} {name}\n"
        )
        target = hooks_dir / name
        tmp = target.with_suffix(".tmp")
        tmp.write_text(script)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
