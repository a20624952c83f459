"""The files of one run directory: guards, config.json, metrics.jsonl, TensorBoard events and final/.

Only the main process writes; every process may read. JSON is written atomically (temp file + rename);
metrics.jsonl is appended one fsynced line per evaluation and truncated back to a checkpoint on resume.
Nothing of an earlier run is deleted before the new one has started cleanly: what a fresh start or a resume
replaces is first moved aside into ``.replaced-PID/`` (:meth:`OutputDir.set_aside`), put back if the start
fails (:meth:`OutputDir.restore_aside`) and deleted once the new run has made its first step.
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
from .fileio import replace_dir, write_json_atomic, write_text_atomic
from .locks import OutputLock

#: Files and folders of a run that a fresh start (or --overwrite-output-dir) replaces.
RUN_ARTIFACTS = ("metrics.jsonl", "done.json", "final", "checkpoints", "predictions.json", "null_odds.json",
                 "nbest_predictions.json")


class OutputDir:
    """One run's output directory: checks before training, then the files written around it."""

    def __init__(self, path: str | os.PathLike, *, main: bool) -> None:
        self.path = Path(path).expanduser()
        self.main = main
        self.aside: Path | None = None  # what this start replaced, kept until the new run has started
        self.created = False  # whether this start made the directory (removed again if nothing was written)
        self.lock = OutputLock(self.path)

    def check_apart_from(self, model_dir: str | os.PathLike, flag: str = "--model") -> None:
        """Refuse an output directory equal to, inside or above the (local) model directory."""
        model = Path(model_dir).expanduser()
        if not model.is_dir():
            return
        out, model = self.path.resolve(), model.resolve()
        if out == model or model in out.parents or out in model.parents:
            relation = "is" if out == model else "is inside" if model in out.parents else "contains"
            raise ConfigError(f"--output-dir {self.path} {relation} {flag} {model_dir}: the run would overwrite "
                              f"the model; choose an --output-dir outside it")

    def check_writable(self) -> None:
        """Create the directory and write a probe file, so a bad --output-dir fails before any training."""
        probe = self.path / f".write-test-{os.getpid()}"
        self.created = not self.path.exists()
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

    def claim(self, resume: str | None, overwrite: bool, say: Callable[[str], None]) -> Path | None:
        """Check the directory is writable, take its lock (main process; :meth:`release` drops it) and find the
        checkpoint to resume from; refuse to mix two runs. Nothing is moved or deleted yet."""
        self.check_writable()
        if self.main:
            self.lock.acquire()
            if self.lock.stale_pid is not None:
                say(f"{self.lock.path}: a stale lock of pid {self.lock.stale_pid} (no longer running) was taken over")
        resume_dir = self.find_resume(resume, say)
        existing = self.existing_artifacts()
        if resume_dir is None and existing and not (overwrite or resume is not None):
            raise ConfigError(f"--output-dir {self.path} already holds a run ({', '.join(existing)}); pass "
                              f"--resume-from-checkpoint latest to continue it, --overwrite-output-dir to "
                              f"replace it, or another --output-dir")
        return resume_dir

    def release(self) -> None:
        """Drop the lock; a directory this start made and nothing was written to (its inputs were refused) goes."""
        self.lock.release()
        if self.main and self.created and self.path.is_dir() and \
                {p.name for p in self.path.iterdir()} <= {self.lock.path.name}:
            self.lock.path.unlink(missing_ok=True)
            self.path.rmdir()

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

    def replaced_by(self, resume_dir: Path | None) -> list[Path]:
        """What a start replaces: a fresh start, every run file; a resume, the later checkpoints (a future
        that will not happen now) and done.json."""
        if resume_dir is None:
            return [self.path / name for name in self.existing_artifacts()]
        resumed_step = checkpoint.step_of(resume_dir) or 0
        later = [p for p in checkpoint.list_checkpoints(self.path) if (checkpoint.step_of(p) or 0) > resumed_step]
        return [*later, *[self.path / "done.json"][: int((self.path / "done.json").is_file())]]

    def set_aside(self, resume_dir: Path | None) -> None:
        """Move what this start replaces into ``.replaced-PID/`` (same directory, so renames only)."""
        if not self.main:
            return
        checkpoint.remove_partial_writes(self.path)
        replaced = self.replaced_by(resume_dir)
        rewritten = [self.path / name for name in ("config.json", "metrics.jsonl") if (self.path / name).is_file()]
        if not replaced and not rewritten:
            return
        self.aside = self.path / f".replaced-{os.getpid()}"
        self.aside.mkdir(exist_ok=True)
        for path in rewritten:  # the new run rewrites them (a resume truncates metrics.jsonl): keep copies
            shutil.copy2(path, self.aside / path.name)
        for path in replaced:
            os.replace(path, self.aside / path.relative_to(self.path).as_posix().replace("/", "__"))

    def restore_aside(self) -> None:
        """The start failed: put back what :meth:`set_aside` moved (the new run's files give way)."""
        if self.aside is None:
            return
        for moved in self.aside.iterdir():
            home = self.path / moved.name.replace("__", "/")
            if home.exists():
                shutil.rmtree(home) if home.is_dir() else home.unlink()
            os.replace(moved, home)
        self.aside.rmdir()
        self.aside = None

    def discard_aside(self) -> None:
        """The new run has started cleanly: delete what it replaced (truncated first, as every pruned checkpoint:
        nothing large is left in Google Drive's trash)."""
        if self.aside is None:
            return
        checkpoint.delete_tree(self.aside)
        self.aside = None

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
        replace_dir(tmp, final)  # a reader sees the old final/ or the new one, never neither


class MetricsLog:
    """metrics.jsonl: one JSON object per evaluation, appended and fsynced by the main process."""

    def __init__(self, path: Path, *, main: bool) -> None:
        self.path, self.main = path, main

    def read(self) -> list[dict[str, Any]]:
        """Every complete record (a torn last line, from a crash mid-write, is ignored)."""
        if not self.path.is_file():
            return []
        records = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(keepends=True), start=1):
            if not line.endswith("\n"):
                break
            try:
                records.append(json.loads(line))
            except (ValueError, RecursionError):
                raise CheckpointError(f"{self.path}, line {number}: not a JSON metrics record") from None
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
