"""Atomic writes: complete files or none, usual permissions, strict JSON."""
from __future__ import annotations

import json
import math
import os

import pytest

from albertzero_utils.fileio import atomic_write, write_json_atomic, write_text_atomic


def test_json_is_written_whole_with_usual_permissions(tmp_path) -> None:
    target = write_json_atomic(tmp_path / "sub" / "a.json", {"x": [1, 2]})
    assert json.loads(target.read_text()) == {"x": [1, 2]}
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    target = write_text_atomic(tmp_path / "a.txt", "old")

    def crash(tmp) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_json_is_strict(tmp_path) -> None:
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "nan.json", {"f1": math.nan})
    assert not (tmp_path / "nan.json").exists()
