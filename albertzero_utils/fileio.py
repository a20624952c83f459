"""Atomic file writes: a reader (or a resumed run) sees the old file or the complete new one, never a torn one."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def _umask() -> int:
    """The process umask: read from /proc on Linux, else set and put back at once (``os.umask`` has no getter)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename it into place.

    The file gets the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write strict JSON (no NaN or Infinity, UTF-8 kept as is) atomically, with a final newline."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False) + "\n")


_RENAME_EXCHANGE = 2  # renameat2(2) flag (Linux >= 3.15)
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return done == 0


def replace_dir(new: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Put the directory `new` in place of `target` so that a reader always finds one of the two complete.

    An existing `target` is swapped with `new` in one atomic step (renameat2 RENAME_EXCHANGE) and the old one
    deleted after. Where the filesystem cannot swap (not Linux, some FUSE mounts such as Google Drive), the
    old directory is renamed aside and the new one renamed in: two renames, with no copying or deleting
    between them, then the old one is deleted.
    """
    import shutil

    new, target = Path(new), Path(target)
    if not target.exists():
        os.replace(new, target)
        return target
    if _exchange(new, target):  # `new` now holds the old directory
        shutil.rmtree(new, ignore_errors=True)
        return target
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def sha256_of(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_MATCHED: dict[str, tuple[int, int, str]] = {}  # file -> (size, mtime_ns, sha256) of a copy that matched


def sha256_matches(path: str | os.PathLike, expected: str, size: int | None = None) -> bool:
    """Whether the file has the sha256 `expected` (and `size`, checked first, when given). A match is remembered
    for the process by (size, mtime_ns), so an unchanged file is hashed once however often it is checked."""
    stat = os.stat(path)
    if size is not None and stat.st_size != size:
        return False
    known = (stat.st_size, stat.st_mtime_ns, expected)
    if _MATCHED.get(str(path)) == known:
        return True
    if sha256_of(path) != expected:
        return False
    _MATCHED[str(path)] = known
    return True
