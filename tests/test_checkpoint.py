"""Checkpoints: exact round trip, atomic writes, and `latest` never picking a partial or corrupted one."""
from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import torch

from albertzero_utils import checkpoint
from albertzero_utils.errors import CheckpointError
from albertzero_utils.profiles import TrainConfig
from albertzero_utils.run_setup import make_accelerator


class Parts:
    """A small model with its optimizer and scheduler, a few steps into training."""

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.accelerator = make_accelerator(TrainConfig())
        self.model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 1))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-2)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 1.0 / (1 + step))

    def step(self) -> None:
        loss = self.model(torch.randn(3, 4)).pow(2).mean()
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()

    def save(self, output_dir, step: int, keep: int | None = None):
        return checkpoint.save_checkpoint(output_dir, step, self.accelerator, self.model, self.optimizer,
                                          self.scheduler, {"step": step, "loss_sum": 0.1 + step}, keep=keep)

    def load(self, directory) -> dict:
        return checkpoint.load_checkpoint(directory, self.accelerator, self.model, self.optimizer, self.scheduler)


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist(), random.gauss(0, 1)


def test_rng_states_round_trip() -> None:
    random.gauss(0, 1)  # leaves a cached gaussian in python's state
    tensors, meta = checkpoint.capture_rng_state()
    first = _draws()
    checkpoint.restore_rng_state(tensors, meta)
    assert _draws() == first


def test_resumed_training_continues_bit_exactly(tmp_path) -> None:
    original = Parts()
    for _ in range(3):
        original.step()
    saved = original.save(tmp_path, 3)
    original.step()
    expected = [p.detach().clone() for p in original.model.parameters()]

    resumed = Parts(seed=123)  # different weights and RNG until the checkpoint is loaded
    state = resumed.load(saved)
    resumed.step()
    assert state["step"] == 3 and state["loss_sum"] == 3.1 and state["num_processes"] == 1
    assert resumed.scheduler.last_epoch == 4
    for got, want in zip(resumed.model.parameters(), expected):
        assert torch.equal(got, want)


def test_checkpoint_files_and_rotation(tmp_path) -> None:
    parts = Parts()
    for step in (2, 4, 6):
        parts.save(tmp_path, step, keep=2)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["step-4", "step-6"]
    names = {p.name for p in (tmp_path / "checkpoints" / "step-6").iterdir()}
    assert names == {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng-0.safetensors",
                     "trainer_state.json", "manifest.json"}
    assert checkpoint.find_latest(tmp_path).name == "step-6"


def test_crash_mid_write_is_never_latest(tmp_path, monkeypatch) -> None:
    parts = Parts()
    parts.save(tmp_path, 2)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing the manifest")

    monkeypatch.setattr(checkpoint, "write_manifest", crash)
    with pytest.raises(KeyboardInterrupt):
        parts.save(tmp_path, 4)
    assert (tmp_path / "checkpoints" / ".tmp-step-4" / "model.safetensors").is_file()
    assert checkpoint.find_latest(tmp_path).name == "step-2"
    checkpoint.remove_partial_writes(tmp_path)
    assert not (tmp_path / "checkpoints" / ".tmp-step-4").exists()


def _truncate(path) -> None:
    path.write_bytes(path.read_bytes()[:50])


@pytest.mark.parametrize("damage, reason", [
    (lambda d: _truncate(d / "optimizer.pt"), "optimizer.pt does not match"),
    (lambda d: (d / "model.safetensors").unlink(), "model.safetensors is missing"),
    (lambda d: (d / "manifest.json").unlink(), "no readable manifest.json"),
    (lambda d: (d / "manifest.json").write_text('{"step": 4, "files": {'), "no readable manifest.json"),
    (lambda d: d.rename(d.with_name("step-5")), "manifest says step 4"),
])
def test_damaged_checkpoint_is_skipped_and_refused(tmp_path, damage, reason: str) -> None:
    parts = Parts()
    parts.save(tmp_path, 2)
    damage(parts.save(tmp_path, 4))
    damaged = checkpoint.list_checkpoints(tmp_path)[-1]
    skipped: list[str] = []
    assert checkpoint.find_latest(tmp_path, log=skipped.append).name == "step-2"
    assert len(skipped) == 1 and reason in skipped[0]
    with pytest.raises(CheckpointError, match=reason):
        parts.load(damaged)


def test_no_checkpoint_means_none(tmp_path) -> None:
    assert checkpoint.find_latest(tmp_path) is None
    (tmp_path / "checkpoints" / "step-3").mkdir(parents=True)  # an empty leftover
    assert checkpoint.find_latest(tmp_path) is None


def test_grad_scaler_state_round_trips(tmp_path) -> None:
    parts = Parts()
    parts.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=128.0)  # as under fp16
    saved = parts.save(tmp_path, 2)
    assert (saved / "scaler.pt").is_file()
    resumed = Parts()
    resumed.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    resumed.load(saved)
    assert resumed.accelerator.scaler.get_scale() == 128.0
    no_scaler = Parts().save(tmp_path / "other", 2)
    with pytest.raises(CheckpointError, match="saved without fp16"):
        resumed.load(no_scaler)


class Evil:
    """Unpickling this would run code: torch.load(weights_only=True) must refuse it."""

    def __reduce__(self):
        return (shutil.rmtree, ("/nonexistent-target",))


def test_pickled_code_is_never_loaded(tmp_path) -> None:
    parts = Parts()
    saved = parts.save(tmp_path, 2)
    torch.save({"state": {}, "param_groups": [], "payload": Evil()}, saved / "optimizer.pt")
    checkpoint.write_manifest(saved, 2)  # a consistent manifest: only the loader can stop it
    with pytest.raises(CheckpointError, match="cannot load safely"):
        parts.load(saved)


def test_trainer_state_is_plain_json(tmp_path) -> None:
    saved = Parts().save(tmp_path, 7)
    assert json.loads((saved / "trainer_state.json").read_text())["step"] == 7
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["step"] == 7 and set(manifest["files"]) >= set(checkpoint.REQUIRED_FILES)
