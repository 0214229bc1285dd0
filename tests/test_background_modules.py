"""Every module with a ``@periodic`` task is listed in its package's TASK_MODULES, which the application passes to
the scheduler, so no task depends on some other import having happened first (a sweep that never runs fails
silently)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci import background as ci_background
from community import background as community_background
from forge import background as forge_background

ROOT = Path(forge_background.__file__).parent.parent


@pytest.mark.parametrize("package, listed", [
    ("forge", forge_background.TASK_MODULES),
    ("ci", ci_background.TASK_MODULES),
    ("community", community_background.TASK_MODULES),
])
def test_every_module_with_a_periodic_task_is_listed(package: str, listed: tuple[str, ...]) -> None:
    base = ROOT / package
    with_tasks = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in base.rglob("*.py")
        if path.name != "background.py" and "\n@periodic(" in path.read_text(encoding="utf-8")
    }
    assert with_tasks == set(listed), (sorted(with_tasks - set(listed)), sorted(set(listed) - with_tasks))
