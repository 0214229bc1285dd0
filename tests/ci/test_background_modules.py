"""Every CI module with a ``@periodic`` task is imported by the scheduler, so no task depends on some other import
having happened first (a sweep that never runs fails silently)."""

from __future__ import annotations

from pathlib import Path

from ci import background

CI = Path(background.__file__).parent


def test_every_module_with_a_periodic_task_is_listed() -> None:
    with_tasks = {
        "ci." + ".".join(path.relative_to(CI).with_suffix("").parts)
        for path in CI.rglob("*.py")
        if path.name != "background.py" and "\n@periodic(" in path.read_text(encoding="utf-8")
    }
    assert with_tasks, "no periodic task found: the test would prove nothing"
    assert with_tasks <= set(background.TASK_MODULES), sorted(with_tasks - set(background.TASK_MODULES))
