"""User-facing errors: each one is printed by the CLI as a single line, without a traceback."""
from __future__ import annotations


class AlbertZeroError(Exception):
    """Base class for problems the user can fix (bad input, bad options, bad files)."""

    exit_code = 2


class DataError(AlbertZeroError):
    """A data, prediction or na-prob file is malformed. The message names file, article and question id."""


class ConfigError(AlbertZeroError):
    """An option, profile or config file is invalid."""


class CheckpointError(AlbertZeroError):
    """A checkpoint or weights file cannot be used."""


class UnsafeCheckpointError(CheckpointError):
    """A weights file would need arbitrary code execution to load; nothing was executed."""


class TrainingDivergedError(AlbertZeroError):
    """The loss became NaN or infinite."""

    exit_code = 3


def location(file: object, title: str | None = None, qid: str | None = None) -> str:
    """Format 'FILE: article 'TITLE', question QID' for error messages."""
    parts = [str(file)]
    if title is not None:
        parts.append(f"article {title!r}")
    if qid is not None:
        parts.append(f"question {qid}")
    return ", ".join(parts)
