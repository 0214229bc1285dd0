"""Files a new repository can start with: README, a .gitignore template and a licence."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from forge.errors import InvalidInput
from forge.i18n import N_

_DATA = Path(__file__).resolve().parent.parent / "data"


def gitignore_templates() -> list[str]:
    return sorted(p.name for p in (_DATA / "gitignore").iterdir())


def licenses() -> list[str]:
    return sorted(p.name for p in (_DATA / "licenses").iterdir())


def initial_files(
    *, repo_name: str, description: str, owner: str, readme: bool, gitignore: str, license: str
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if readme:
        text = f"# {repo_name}\n"
        if description:
            text += f"\n{description}\n"
        files["README.md"] = text.encode()
    if gitignore:
        if gitignore not in gitignore_templates():
            raise InvalidInput(N_("Unknown .gitignore template “%(name)s”."), name=gitignore)
        files[".gitignore"] = (_DATA / "gitignore" / gitignore).read_bytes()
    if license:
        if license not in licenses():
            raise InvalidInput(N_("Unknown licence “%(name)s”."), name=license)
        text = (_DATA / "licenses" / license).read_text()
        text = text.replace("{year}", str(date.today().year)).replace("{owner}", owner)
        files["LICENSE"] = text.encode()
    return files
