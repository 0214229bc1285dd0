"""The ``ci`` command group of the ``forge`` program: ``forge ci lint FILE [--root DIR]`` checks a pipeline file
(``--root``: the repository's directory, where ``include: local`` files are read).

It lives here rather than in ``forge/cli.py`` because ``forge`` may not import ``ci``; the ``forge`` entry point
adds this group.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ci.config import ConfigErrors, IncludeReader, load, used_stages

MAX_INCLUDE_BYTES = 1024 * 1024  # as for the pipeline file itself on the server


@click.group("ci", context_settings={"help_option_names": ["-h", "--help"]})
def ci() -> None:
    """Pipelines (CI): check pipeline files."""


def directory_reader(root: Path) -> IncludeReader:
    """``include: local`` from a checkout: paths relative to ``root``, never outside it (symlinks included)."""
    base = root.resolve()

    def read(path: str) -> str | None:
        target = (base / path).resolve()
        if not target.is_relative_to(base) or not target.is_file() or target.stat().st_size > MAX_INCLUDE_BYTES:
            return None
        try:
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    return read


@ci.command("lint")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--root", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="The repository's directory: files named by include: local are read from it.")
def lint(file: Path, root: Path | None) -> None:
    """Check a pipeline file (.forge-ci.yml or .gitlab-ci.yml): exit 0 when valid, 1 listing each problem as
    FILE:LINE: message, 2 when the file cannot be read."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        click.echo(f"error: {file} is not UTF-8 text.", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"error: cannot read {file}: {exc.strerror or exc}.", err=True)
        sys.exit(2)
    try:
        config = load(text, file.name, directory_reader(root) if root is not None else None)
    except ConfigErrors as exc:
        for error in exc.errors:
            click.echo(f"{file}:{error.line}: {error.message}" if error.line else f"{file}: {error.message}")
        count = len(exc.errors)
        click.echo(f"{file} is not valid: {count} problem{'s' if count != 1 else ''}.", err=True)
        sys.exit(1)
    for warning in config.warnings:
        where = f"{file}:{warning.line}" if warning.line else str(file)
        click.echo(f"{where}: warning: {warning.message}")
    jobs = len(config.jobs)
    stages = used_stages(config)
    included = f" (with {', '.join(config.includes)})" if config.includes else ""
    click.echo(
        f"{file} is valid{included}: {jobs} job{'s' if jobs != 1 else ''} in stage{'s' if len(stages) != 1 else ''} "
        f"{', '.join(stages)}."
    )
