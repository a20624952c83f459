"""The files of one run directory: guards, config.json, metrics.jsonl, TensorBoard events and final/.

Only the main process writes; every process may read. JSON is written atomically (temp file + rename);
metrics.jsonl is appended one fsynced line per evaluation and truncated back to a checkpoint on resume.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

from . import checkpoint, paths
from .errors import CheckpointError, ConfigError
from .fileio import write_json_atomic, write_text_atomic

#: Files and folders of a run that a fresh start (or --overwrite-output-dir) replaces.
RUN_ARTIFACTS = ("metrics.jsonl", "done.json", "final", "checkpoints", "predictions.json", "null_odds.json",
                 "nbest_predictions.json")


class OutputDir:
    """One run's output directory: checks before training, then the files written around it."""

    def __init__(self, path: str | os.PathLike, *, main: bool) -> None:
        self.path = Path(path).expanduser()
        self.main = main

    def check_writable(self) -> None:
        """Create the directory and write a probe file, so a bad --output-dir fails before any training."""
        probe = self.path / f".write-test-{os.getpid()}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe.write_text("ok", encoding="utf-8")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"--output-dir {self.path}: not writable ({exc.strerror or exc})") from None

    def find_resume(self, resume: str | None, say: Callable[[str], None]) -> Path | None:
        """The checkpoint to resume from: None (fresh), the latest complete one, or a given directory."""
        if resume is None:
            return None
        if resume == "latest":
            found = checkpoint.find_latest(self.path, log=say)
            if found is None:
                say(f"no complete checkpoint in {checkpoint.checkpoints_dir(self.path)}: starting fresh")
            return found
        directory = Path(resume).expanduser()
        problem = checkpoint.problem_with(directory)
        if problem is not None:
            raise CheckpointError(f"--resume-from-checkpoint {directory}: not a usable checkpoint ({problem})")
        return directory

    def start(self, resume: str | None, overwrite: bool, accelerator: Any, say: Callable[[str], None]) -> Path | None:
        """Check the directory, then prepare it for a fresh start or a resume (all processes in step); return
        the checkpoint to resume from, or None."""
        self.check_writable()
        resume_dir = self.find_resume(resume, say)
        accelerator.wait_for_everyone()
        self.prepare(resume_dir, resume_requested=resume is not None, overwrite=overwrite)
        accelerator.wait_for_everyone()
        return resume_dir

    def existing_artifacts(self) -> list[str]:
        """Names of run files already present (a non-empty metrics.jsonl, checkpoints, final/, ...)."""
        found = []
        for name in RUN_ARTIFACTS:
            path = self.path / name
            if path.is_file() and path.stat().st_size > 0 or path.is_dir() and any(path.iterdir()):
                found.append(name)
        return found

    def is_finished(self) -> bool:
        return (self.path / "done.json").is_file()

    def prepare(self, resume_dir: Path | None, *, resume_requested: bool, overwrite: bool) -> None:
        """Refuse to mix two runs in one directory; clear what a fresh start or a resume replaces."""
        existing = self.existing_artifacts()
        if resume_dir is None and existing and not (overwrite or resume_requested):
            raise ConfigError(f"--output-dir {self.path} already holds a run ({', '.join(existing)}); pass "
                              f"--resume-from-checkpoint latest to continue it, --overwrite-output-dir to "
                              f"replace it, or another --output-dir")
        if not self.main:
            return
        checkpoint.remove_partial_writes(self.path)
        if resume_dir is None:
            for name in existing:
                path = self.path / name
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            return
        resumed_step = checkpoint.step_of(resume_dir) or 0
        for later in checkpoint.list_checkpoints(self.path):  # a future that will not happen now
            if (checkpoint.step_of(later) or 0) > resumed_step:
                checkpoint.remove_checkpoint(later)
        (self.path / "done.json").unlink(missing_ok=True)

    def write_json(self, name: str, obj: Any) -> None:
        if self.main:
            write_json_atomic(self.path / name, obj)

    def save_final(self, model: Any, tokenizer: Any) -> None:
        """``final/``: save_pretrained of the model and tokenizer, renamed into place when complete."""
        if not self.main:
            return
        final, tmp = self.path / "final", self.path / ".final.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)


class MetricsLog:
    """metrics.jsonl: one JSON object per evaluation, appended and fsynced by the main process."""

    def __init__(self, path: Path, *, main: bool) -> None:
        self.path, self.main = path, main

    def read(self) -> list[dict[str, Any]]:
        """Every complete record (a torn last line, from a crash mid-write, is ignored)."""
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines(keepends=True):
            if not line.endswith("\n"):
                break
            records.append(json.loads(line))
        return records

    def truncate(self, count: int) -> list[dict[str, Any]]:
        """Keep the first `count` records (those logged before the checkpoint resumed from); return them."""
        if not self.main:
            return []
        records = self.read()
        if len(records) < count:
            raise CheckpointError(f"{self.path}: has {len(records)} records but the checkpoint expects {count}")
        records = records[:count]
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in records))
        return records

    def append(self, record: dict[str, Any]) -> None:
        if not self.main:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


class TensorBoard:
    """Scalars of every metrics record as TensorBoard events, when `tensorboard` is installed (optional)."""

    def __init__(self, output_dir: Path, *, purge_step: int, main: bool) -> None:
        self.writer = None
        if main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                return
            self.writer = SummaryWriter(str(output_dir / "tensorboard"), purge_step=purge_step)

    def add(self, record: dict[str, Any]) -> None:
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` when it has local changes), or None outside git."""
    try:
        run = lambda *args: subprocess.run(["git", *args], cwd=paths.REPO_ROOT, capture_output=True,  # noqa: E731
                                           text=True, timeout=10, check=True).stdout.strip()
        commit = run("rev-parse", "HEAD")
        return commit + ("-dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("albertzero", "torch", "transformers", "accelerate", "datasets", "tokenizers", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def machine() -> dict[str, Any]:
    """The machine a run ran on: CPU model, logical CPUs, torch's thread count and the OS (for model cards)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform()}


def run_info(accelerator: Any, setup: Any, mixed_precision: str) -> dict[str, Any]:
    """What config.json records beside the settings: where and how the run ran, and its plan."""
    import torch

    device = str(accelerator.device)
    if accelerator.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(accelerator.device)})"
    return {"device": device, **setup.batches.as_dict(),
            "mixed_precision_resolved": mixed_precision, "total_steps": setup.total_steps,
            "steps_per_epoch": setup.steps_per_epoch, "epochs_run": setup.num_epochs,
            "eval_schedule": setup.schedule, "reinit_parameters": setup.reinit_parameters, **setup.reinit_check,
            **setup.sizes,
            "machine": machine(), "versions": package_versions(), "git_commit": git_commit()}
