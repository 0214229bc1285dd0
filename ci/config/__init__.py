"""Reading pipeline files (``.forge-ci.yml``, or ``.gitlab-ci.yml`` when it is absent) into ``ci.config.spec``.

``load(text, filename)`` checks the whole file and returns a ``PipelineConfig`` or raises ``ConfigErrors`` listing
every problem with its line; ``plan(config, variables, changed_paths, exists)`` decides which jobs one trigger
runs; ``finalize(job, variables)`` expands the names the server and runner use once a job's own variables exist.
Modules: ``yamlfile`` (YAML with line numbers), ``includes`` (``include: local``; the other kinds are warnings),
``inputs`` (``spec: inputs`` and ``$[[ inputs.name ]]``), ``inherit`` (``extends``, ``!reference``), ``leftout``
(jobs lost with unreadable includes, keywords accepted without effect), ``values``, ``rules``, ``delivery``,
``jobkeys`` and ``schema`` (keywords and checks),
``expressions`` (the ``rules:if`` language), ``globs`` (``changes``/``exists`` patterns), ``expand`` (``$VAR`` in
variable values), ``parallel`` (instances), ``planning`` (``plan``), ``finalize``.
"""

from __future__ import annotations

import dataclasses

from ci.config.expand import substitute
from ci.config.finalize import finalize
from ci.config.globs import glob_matches
from ci.config.includes import IncludeContext, IncludeReader, resolve_includes
from ci.config.inputs import apply_inputs
from ci.config.planning import plan
from ci.config.problems import quote
from ci.config.schema import build, used_stages
from ci.config.spec import (
    DEFAULT_STAGES,
    ConfigError,
    ConfigErrors,
    Image,
    JobConfig,
    PipelineConfig,
    Plan,
    PlannedJob,
    RefFilter,
    Rule,
)
from ci.config.yamlfile import read_yaml


def load(text: str, filename: str, read_file: IncludeReader | None = None,
         context: IncludeContext | None = None) -> PipelineConfig:
    """The pipeline ``filename`` (used in messages) holds; raises ``ConfigErrors``. ``read_file(path)`` gives the
    text of a file of the same commit for ``include: local`` (None: missing); without it includes are errors.
    ``context`` (the pipeline's variables, files and changes) decides ``include: rules``."""
    root, problems = read_yaml(text, filename)
    try:
        interpolated = apply_inputs(root, None, quote(filename), 1, problems, included=False)
        if interpolated is None:
            problems.raise_if_any()
        root = interpolated or root
        root, included, left_out = resolve_includes(root, problems, read_file, context)
        config = build(root, problems, left_out)
    except RecursionError:
        # Only absurdly deep structures get here (YAML nesting is already bounded by the parser's own stack).
        raise ConfigErrors([ConfigError(None, f"{filename} is nested too deeply to be read")]) from None
    problems.raise_if_any()
    assert config is not None
    return dataclasses.replace(config, includes=included) if included else config


__all__ = [
    "DEFAULT_STAGES",
    "ConfigError",
    "ConfigErrors",
    "Image",
    "IncludeContext",
    "IncludeReader",
    "JobConfig",
    "PipelineConfig",
    "Plan",
    "PlannedJob",
    "RefFilter",
    "Rule",
    "finalize",
    "glob_matches",
    "load",
    "plan",
    "substitute",
    "used_stages",
]
