"""Reading pipeline files (``.forge-ci.yml``, or ``.gitlab-ci.yml`` when it is absent) into ``ci.config.spec``.

``load(text, filename)`` checks the whole file and returns a ``PipelineConfig`` or raises ``ConfigErrors`` listing
every problem with its line; ``plan(config, variables, changed_paths, exists)`` decides which jobs one trigger
runs. Modules: ``yamlfile`` (YAML with line numbers), ``inherit`` (``extends``, ``!reference``), ``values`` and
``schema`` (keywords and checks), ``expressions`` (the ``rules:if`` language), ``globs`` (``changes``/``exists``
patterns), ``expand`` (``$VAR`` in variable values), ``planning`` (``plan``).
"""

from __future__ import annotations

from ci.config.globs import glob_matches
from ci.config.planning import plan
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


def load(text: str, filename: str) -> PipelineConfig:
    """The pipeline ``filename`` (used in messages) holds; raises ``ConfigErrors``."""
    root, problems = read_yaml(text, filename)
    try:
        config = build(root, problems)
    except RecursionError:
        # Only absurdly deep structures get here (YAML nesting is already bounded by the parser's own stack).
        raise ConfigErrors([ConfigError(None, f"{filename} is nested too deeply to be read")]) from None
    problems.raise_if_any()
    assert config is not None
    return config


__all__ = [
    "DEFAULT_STAGES",
    "ConfigError",
    "ConfigErrors",
    "Image",
    "JobConfig",
    "PipelineConfig",
    "Plan",
    "PlannedJob",
    "RefFilter",
    "Rule",
    "glob_matches",
    "load",
    "plan",
    "used_stages",
]
