"""Issue templates: Markdown files in ``.forge/ISSUE_TEMPLATE/`` on the default branch (``.gitea/`` and
``.github/`` as fallbacks, the first directory holding any template wins), each with optional YAML front matter:

    ---
    name: Bug report
    about: Something does not work
    title: "[bug] "
    labels: bug, triage        # or a YAML list
    assignees: alice
    ---
    Body text the new issue starts with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pygit2
import yaml

DIRECTORIES = (".forge/ISSUE_TEMPLATE", ".gitea/ISSUE_TEMPLATE", ".github/ISSUE_TEMPLATE")
MAX_TEMPLATES = 50
MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class IssueTemplate:
    file: str  # file name within its directory, e.g. "bug.md": the ?template= value
    name: str
    about: str = ""
    title: str = ""
    body: str = ""
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list):
        items = [str(v) for v in value]
    else:
        return []
    return [item.strip() for item in items if item.strip()]


def parse(file: str, text: str) -> IssueTemplate:
    """A template from a file's text; without front matter the file name is its name and the text its body."""
    meta: dict[str, object] = {}
    body = text
    normal = text.replace("\r\n", "\n")
    if normal.startswith("---\n"):
        end = normal.find("\n---", 4)
        if end != -1:
            try:
                loaded = yaml.safe_load(normal[4:end])
            except yaml.YAMLError:
                loaded = None
            if isinstance(loaded, dict):
                meta = loaded
                body = normal[end + 4:].lstrip("-").lstrip("\n")
    stem = file.rsplit(".", 1)[0]
    return IssueTemplate(
        file=file,
        name=str(meta.get("name") or stem).strip()[:100],
        about=str(meta.get("about") or "").strip()[:300],
        title=str(meta.get("title") or "").strip()[:255],
        body=body,
        labels=_names(meta.get("labels")),
        assignees=[n.lstrip("@") for n in _names(meta.get("assignees"))],
    )


def list_templates(repo_path: Path, branch: str) -> list[IssueTemplate]:
    """The templates on ``branch`` (none when the repository or branch is empty or missing)."""
    try:
        repo = pygit2.Repository(str(repo_path))
        commit = repo.revparse_single(f"refs/heads/{branch}").peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return []
    for directory in DIRECTORIES:
        try:
            tree = commit.tree[directory]
        except KeyError:
            continue
        if not isinstance(tree, pygit2.Tree):
            continue
        found = []
        for entry in tree:
            name = entry.name or ""
            if not name.lower().endswith(".md") or entry.type_str != "blob":
                continue
            blob = repo.get(entry.id)
            if not isinstance(blob, pygit2.Blob) or blob.size > MAX_BYTES:
                continue
            found.append(parse(name, bytes(blob.data).decode("utf-8", "replace")))
            if len(found) >= MAX_TEMPLATES:
                break
        if found:
            return sorted(found, key=lambda t: (t.name.lower(), t.file))
    return []


def find(templates: list[IssueTemplate], file: str) -> IssueTemplate | None:
    return next((t for t in templates if t.file == file), None)
