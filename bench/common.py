"""Shared helpers of the benchmarks: timing, the machine's description, inputs, atomic JSON."""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from albertzero_utils import paths
from albertzero_utils.fileio import write_json_atomic  # noqa: F401  (re-exported for bench modules)


@dataclass
class Timing:
    """Wall-clock and process CPU seconds of repeated runs; figures are medians over the runs."""

    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return len(self.wall_s)

    @property
    def wall(self) -> float:
        return statistics.median(self.wall_s)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_s)

    def summary(self) -> dict[str, Any]:
        return {"wall_s": round(self.wall, 4), "cpu_s": round(self.cpu, 4), "runs": self.runs,
                "wall_s_all": [round(t, 4) for t in self.wall_s]}


@contextmanager
def timed(timing: Timing) -> Iterator[None]:
    """Add the wall and CPU time of the block to ``timing``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    timing.wall_s.append(time.perf_counter() - wall)
    timing.cpu_s.append(time.process_time() - cpu)


def time_runs(function: Callable[[], Any], runs: int) -> tuple[Timing, Any]:
    """Run ``function`` ``runs`` times; return the timing and the last result."""
    timing, result = Timing(), None
    for _ in range(runs):
        with timed(timing):
            result = function()
    return timing, result


def ratio(slow: float, fast: float) -> float:
    return round(slow / fast, 3) if fast > 0 else float("inf")


# ------------------------------------------------------------------------------------------ machine
def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_description() -> dict[str, Any]:
    """CPU model, cores, RAM, library versions, torch threads and the date."""
    from importlib.metadata import version

    import torch

    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": ram_gib(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": version("transformers"),
        "datasets": version("datasets"),
        "tokenizers": version("tokenizers"),
        "numpy": version("numpy"),
        "torch_threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": load_average(),
    }


# ------------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class BenchInputs:
    """The dev set and tokenizer the benchmarks read: the committed official dev set and albert-base-v2 tokenizer."""

    dev_file: Path
    tokenizer_dir: Path
    real: bool

    def describe(self) -> dict[str, Any]:
        return {**{k: str(v) for k, v in asdict(self).items() if k != "real"}, "real_material": self.real}


def bench_inputs() -> BenchInputs:
    return BenchInputs(paths.SQUAD2_DEV, paths.ALBERT_BASE_DIR, True)
