"""One writer per output directory: an advisory lock (``fcntl.flock``) held for the length of a run.

The lock file ``.albertzero.lock`` holds the holder's pid. The kernel drops a flock when its holder dies, so
a lock left by a killed run is never in the way; it is recognised (its pid no longer runs) and taken over.
Where ``fcntl`` does not exist (Windows), no lock is taken.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows)
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".albertzero.lock"


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip() or "x")
    except (OSError, ValueError):
        return None


def pid_running(pid: int) -> bool:
    """True when a process with this pid exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class OutputLock:
    """The advisory lock of one directory: :meth:`acquire` refuses at once when another process holds it."""

    def __init__(self, directory: str | os.PathLike, flag: str = "--output-dir") -> None:
        self.path = Path(directory) / LOCK_FILE
        self.flag = flag
        self._fd: int | None = None
        self.stale_pid: int | None = None  # the pid of a dead holder whose lock file was taken over

    def acquire(self) -> OutputLock:
        """Take the lock (the directory must exist); raise a one-line ConfigError naming the holder's pid."""
        if fcntl is None or self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            holder = _pid_in(self.path)
            who = f"pid {holder}" if holder is not None else "another process"
            raise ConfigError(f"{self.flag} {self.path.parent} is in use by another albertzero run ({who}, lock "
                              f"file {self.path}); wait for it to finish or choose another {self.flag}") from None
        previous = _pid_in(self.path)
        if previous is not None and previous != os.getpid() and not pid_running(previous):
            self.stale_pid = previous
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the file stays: removing it would race with a waiting writer)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
