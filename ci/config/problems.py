"""Collecting every problem of a pipeline file before giving up, so a user fixes them all in one go."""

from __future__ import annotations

from ci.config.spec import ConfigError, ConfigErrors, SourceLine


def quote(name: object) -> str:
    """How keys, job names and values appear inside messages."""
    return f"“{name}”"


def _order(error: ConfigError) -> tuple[int, int, str]:
    # File order; problems without a single place (None) go last.
    return (0 if error.line is not None else 1, error.line or 0, error.message)


def _placed(line: int | None, message: str) -> ConfigError:
    """A problem in a file brought in by ``include`` points at the ``include`` line and names its own place."""
    if isinstance(line, SourceLine):
        return ConfigError(line.anchor or None, f"in {quote(line.file)}, line {int(line)}: {message}")
    return ConfigError(line, message)


class Problems:
    """Errors (the file cannot be used) and warnings (it can, but probably not as meant)."""

    def __init__(self) -> None:
        self._errors: list[ConfigError] = []
        self._warnings: list[ConfigError] = []

    def error(self, line: int | None, message: str) -> None:
        self._errors.append(_placed(line, message))

    def warn(self, line: int | None, message: str) -> None:
        self._warnings.append(_placed(line, message))

    def extend(self, errors: list[ConfigError]) -> None:
        self._errors.extend(errors)

    def __bool__(self) -> bool:
        return bool(self._errors)

    @property
    def errors(self) -> list[ConfigError]:
        return sorted(dict.fromkeys(self._errors), key=_order)

    @property
    def warnings(self) -> list[ConfigError]:
        return sorted(dict.fromkeys(self._warnings), key=_order)

    def raise_if_any(self) -> None:
        if self._errors:
            raise ConfigErrors(self.errors)
