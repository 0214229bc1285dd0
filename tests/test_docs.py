"""The documentation keeps up with the code (like Datasette's tests/test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from app.cli import main as cli_main
from forge.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ADMIN_GUIDE = ROOT / "docs" / "admin-guide.md"
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


@pytest.fixture(scope="module")
def admin_guide() -> str:
    return ADMIN_GUIDE.read_text(encoding="utf-8")


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(admin_guide: str, field: str) -> None:
    env_var = f"FORGE_{field.upper()}"
    assert re.search(rf"`{env_var}`", admin_guide), f"{env_var} ({field}) is not documented in docs/admin-guide.md"


def _commands(group: click.Group, prefix: str = "forge") -> list[str]:
    names = []
    for name, command in sorted(group.commands.items()):
        names.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            names.extend(_commands(command, f"{prefix} {name}"))
    return names


@pytest.mark.parametrize("command", _commands(cli_main))
def test_every_cli_command_is_documented(admin_guide: str, command: str) -> None:
    assert command in admin_guide, f"`{command}` is not documented in docs/admin-guide.md"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_point_at_existing_files(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


def test_readme_set_up_has_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\s*(bash \S+.*)$", section, flags=re.M)
    assert commands == ["bash scripts/install.sh", "bash scripts/test.sh"], commands
    for script in ("scripts/install.sh", "scripts/test.sh"):
        assert (ROOT / script).exists()
