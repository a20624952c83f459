"""The integrity record of a feature cache file: its size and SHA-256 in ``NAME.check.json``, written once the
Arrow file is complete. A cache that does not match its record (truncated, corrupted, or left without a record
by a crash) is deleted, so ``datasets`` rebuilds it instead of failing on it in every later run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .fileio import sha256_matches, sha256_of, write_json_atomic


def _record_path(cache: Path) -> Path:
    return cache.with_name(cache.name + ".check.json")


def _file_check(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_of(path)}


def drop_bad_cache(cache: Path) -> None:
    """Delete a cache file that does not match its size and checksum record (or has none): it is rebuilt."""
    record = _record_path(cache)
    if not cache.exists():
        record.unlink(missing_ok=True)
        return
    try:
        expected = json.loads(record.read_text(encoding="utf-8"))
        if sha256_matches(cache, expected["sha256"], size=expected["size"]):  # the size first: no hash needed
            return
    except (OSError, ValueError, TypeError, KeyError):
        pass
    cache.unlink(missing_ok=True)
    record.unlink(missing_ok=True)


def record_cache(cache: Path) -> None:
    """Write the record of a complete cache file that has none yet."""
    record = _record_path(cache)
    if cache.exists() and not record.exists():
        write_json_atomic(record, _file_check(cache))
