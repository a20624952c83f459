"""Atomic training checkpoints, and `latest` discovery that never picks a partial one.

A checkpoint ``OUTPUT/checkpoints/step-N/`` holds

- ``model.safetensors``: the model weights (safetensors: no code can run on load);
- ``optimizer.pt``, ``scheduler.pt``, ``scaler.pt`` (fp16 only): state dicts of tensors and numbers, read
  back with ``torch.load(..., weights_only=True)``;
- ``rng-R.safetensors`` for each process R: the python, numpy, torch and CUDA generator states as tensors;
- ``trainer_state.json``: the loop position (step, epoch, batch in epoch), running-loss sums, counters and
  the number of metrics.jsonl records written so far. The sampler's generator needs no saved state: it is
  re-seeded from (seed, epoch) at every epoch, and the batches already seen are skipped;
- ``manifest.json``, written last: the size and SHA-256 of every other file.

It is written to ``checkpoints/.tmp-step-N`` and renamed only when complete, so a crash mid-write leaves no
``step-N``. A directory whose manifest is missing or disagrees with its files (truncated, deleted, or
corrupted) is never used.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import safetensors.torch
import torch

from .errors import CheckpointError
from .fileio import sha256_matches, sha256_of

CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
TRAINER_STATE = "trainer_state.json"
MODEL_FILE = "model.safetensors"
REQUIRED_FILES = (MODEL_FILE, "optimizer.pt", "scheduler.pt", TRAINER_STATE, "rng-0.safetensors")
_STEP_DIR = re.compile(r"^step-(\d+)$")
_TMP_PREFIX = ".tmp-"


def checkpoints_dir(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / CHECKPOINTS


def step_of(path: Path) -> int | None:
    """N for a directory named ``step-N``, else None."""
    match = _STEP_DIR.match(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Every ``step-N`` directory (complete or not), by increasing step."""
    root = checkpoints_dir(output_dir)
    found = [p for p in root.iterdir() if p.is_dir() and step_of(p) is not None] if root.is_dir() else []
    return sorted(found, key=lambda p: step_of(p) or 0)


# ----------------------------------------------------------------------------------- RNG states
def capture_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The python, numpy, torch (and CUDA) generator states as tensors plus string metadata."""
    version, mt_state, gauss = random.getstate()
    kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors = {
        "python": torch.tensor(mt_state, dtype=torch.int64),
        "numpy": torch.from_numpy(np_keys.astype(np.int64)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda_{index}"] = state
    meta = {"python": json.dumps([version, gauss]), "numpy": json.dumps([kind, np_pos, np_has_gauss, np_gauss])}
    return tensors, meta


def restore_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only when the same GPUs are present)."""
    version, gauss = json.loads(meta["python"])
    random.setstate((version, tuple(int(v) for v in tensors["python"].tolist()), gauss))
    kind, np_pos, np_has_gauss, np_gauss = json.loads(meta["numpy"])
    np.random.set_state((kind, tensors["numpy"].numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda_{i}"] for i in range(len([k for k in tensors if k.startswith("cuda_")]))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ----------------------------------------------------------------------------------- integrity
def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_manifest(directory: Path, step: int) -> None:
    """Record size + SHA-256 of every file in `directory` (fsynced), then the manifest itself, last."""
    files = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.name != MANIFEST:
            _fsync_file(path)
            files[path.name] = {"size": path.stat().st_size, "sha256": sha256_of(path)}
    (directory / MANIFEST).write_text(json.dumps({"step": step, "files": files}, indent=1), encoding="utf-8")
    _fsync_file(directory / MANIFEST)


def problem_with(directory: Path) -> str | None:
    """Why `directory` is not a complete checkpoint, or None when it is."""
    step = step_of(directory)
    if step is None:
        return "not named step-N"
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest["step"] != step:
            return f"manifest says step {manifest['step']}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"no readable {MANIFEST} (incomplete write?)"
    for name in REQUIRED_FILES:
        if name not in files:
            return f"manifest lacks {name}"
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if not sha256_matches(path, expected["sha256"], size=expected["size"]):  # hashed once per process
            return f"{name} does not match the manifest (truncated or corrupted)"
    return None


def find_latest(output_dir: str | os.PathLike, log: Callable[[str], None] | None = None) -> Path | None:
    """The complete checkpoint with the highest step, or None; incomplete ones are skipped (and logged)."""
    for directory in reversed(list_checkpoints(output_dir)):
        problem = problem_with(directory)
        if problem is None:
            return directory
        if log is not None:
            log(f"skipping checkpoint {directory}: {problem}")
    return None


# ----------------------------------------------------------------------------------- save / load
def save_checkpoint(output_dir: str | os.PathLike, step: int, accelerator: Any, model: Any, optimizer: Any,
                    scheduler: Any, trainer_state: dict[str, Any], keep: int | None = None,
                    extra_json: dict[str, Any] | None = None) -> Path:
    """Write checkpoint `step` atomically (every process writes its RNG file; the main one the rest), with
    ``extra_json`` (file name -> object, e.g. the run identity) beside the state, under the manifest.

    A failed write (a full disk) removes the partial directory, which never becomes a checkpoint, and raises a
    one-line CheckpointError: the previous complete checkpoint stays the ``latest``."""
    root = checkpoints_dir(output_dir)
    tmp = root / f"{_TMP_PREFIX}step-{step}"
    try:
        return _save(root, step, accelerator, model, optimizer, scheduler, trainer_state, keep, extra_json or {})
    except Exception as exc:  # noqa: BLE001  (ENOSPC surfaces as OSError, RuntimeError or SafetensorError)
        delete_tree(tmp)
        reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:160]
        latest = find_latest(output_dir)
        kept = f"the latest complete checkpoint is {latest.name}" if latest else "no complete checkpoint exists yet"
        raise CheckpointError(f"{root}: could not write checkpoint step-{step} ({reason}); nothing partial was "
                              f"kept and {kept}; free space, then --resume-from-checkpoint latest") from None


def _save(root: Path, step: int, accelerator: Any, model: Any, optimizer: Any, scheduler: Any,
          trainer_state: dict[str, Any], keep: int | None, extra_json: dict[str, Any]) -> Path:
    output_dir = root.parent
    final = root / f"step-{step}"
    tmp = root / f"{_TMP_PREFIX}step-{step}"
    if accelerator.is_main_process:
        delete_tree(tmp)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    tensors, meta = capture_rng_state()
    safetensors.torch.save_file(tensors, str(tmp / f"rng-{accelerator.process_index}.safetensors"), metadata=meta)
    if accelerator.is_main_process:
        safetensors.torch.save_model(accelerator.unwrap_model(model), str(tmp / MODEL_FILE), force_contiguous=True)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        if accelerator.scaler is not None:
            torch.save(accelerator.scaler.state_dict(), tmp / "scaler.pt")
        state = {**trainer_state, "num_processes": accelerator.num_processes}
        (tmp / TRAINER_STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        for name, obj in extra_json.items():
            (tmp / name).write_text(json.dumps(obj, indent=1), encoding="utf-8")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_manifest(tmp, step)
        if final.exists():  # a stale or broken step-N from an earlier attempt
            remove_checkpoint(final)
        os.replace(tmp, final)
        _fsync_dir(root)
        if keep is not None:
            prune_checkpoints(output_dir, keep, protect=final)
    accelerator.wait_for_everyone()
    return final


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune_checkpoints(output_dir: str | os.PathLike, keep: int, protect: Path) -> None:
    """Keep `protect` and the newest ``keep - 1`` other checkpoints; delete the older ones."""
    others = [p for p in list_checkpoints(output_dir) if p != protect]
    for old in others[: max(len(others) - (keep - 1), 0)]:
        remove_checkpoint(old)


def remove_checkpoint(directory: Path) -> None:
    """Delete a checkpoint, manifest first, so a half-deleted one can never look complete."""
    (directory / MANIFEST).unlink(missing_ok=True)
    delete_tree(directory)


def delete_tree(directory: Path) -> None:
    """Delete `directory`, each file truncated to 0 bytes first: Google Drive keeps a deleted file's content in
    its trash (30 days, counted against the quota), so a pruned ~130 MB checkpoint would otherwise stay there;
    a truncated one leaves only empty files behind."""
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*"), reverse=True):
        try:
            if path.is_file() and not path.is_symlink():
                os.truncate(path, 0)
            if not path.is_dir() or path.is_symlink():
                path.unlink()
        except OSError:
            pass  # rmtree below removes what is left, as it always did
    shutil.rmtree(directory, ignore_errors=True)


def remove_partial_writes(output_dir: str | os.PathLike) -> None:
    """Delete ``.tmp-*`` directories left by a crash in the middle of a save."""
    root = checkpoints_dir(output_dir)
    if root.is_dir():
        for path in root.iterdir():
            if path.name.startswith(_TMP_PREFIX):
                delete_tree(path)


def _load_tensors(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (an unsafe or damaged file: refuse, in one line)
        raise CheckpointError(f"{path}: cannot load safely ({' '.join(str(exc).split())[:160]})") from None


def load_checkpoint(directory: Path, accelerator: Any, model: Any, optimizer: Any, scheduler: Any) -> dict:
    """Restore model, optimizer, scheduler, grad scaler and this process's RNG states; return trainer state."""
    problem = problem_with(directory)
    if problem is not None:
        raise CheckpointError(f"{directory}: not a usable checkpoint ({problem})")
    device = accelerator.device
    try:  # safetensors takes "cpu", not the "cpu:0" of a multi-process CPU run
        safetensors.torch.load_model(accelerator.unwrap_model(model), str(directory / MODEL_FILE),
                                     device="cpu" if device.type == "cpu" else str(device))
    except (RuntimeError, safetensors.SafetensorError) as exc:  # missing, unexpected or mis-shaped tensors
        reason = " ".join(str(exc).split())[:160]
        raise CheckpointError(f"{directory / MODEL_FILE}: does not fit this run's model (another architecture "
                              f"or size?): {reason}") from None
    optimizer.load_state_dict(_load_tensors(directory / "optimizer.pt"))
    scheduler.load_state_dict(_load_tensors(directory / "scheduler.pt"))
    if accelerator.scaler is not None:
        if not (directory / "scaler.pt").is_file():
            raise CheckpointError(f"{directory}: saved without fp16, cannot resume with --mixed-precision fp16")
        accelerator.scaler.load_state_dict(_load_tensors(directory / "scaler.pt"))
    state = json.loads((directory / TRAINER_STATE).read_text(encoding="utf-8"))
    rng_file = directory / f"rng-{accelerator.process_index}.safetensors"
    if not rng_file.is_file():  # resumed on more processes than saved: not bit-exact, but consistent
        rng_file = directory / "rng-0.safetensors"
    with safetensors.safe_open(str(rng_file), framework="pt") as handle:
        restore_rng_state({k: handle.get_tensor(k) for k in handle.keys()}, handle.metadata())
    return state
