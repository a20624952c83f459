"""Colab end to end, by injection: a fake `google.colab` (Drive mount), a runtime without/with a GPU."""
from __future__ import annotations

import importlib.machinery
import math
import sys
import types
from pathlib import Path

import pytest

from albertzero_utils import colab, profiles
from albertzero_utils.errors import ConfigError


@pytest.fixture
def fake_colab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Pretend to be inside Colab: `google.colab.drive.mount` records its calls and creates MyDrive."""
    mounts: list[str] = []

    def mount(mount_point: str) -> None:
        mounts.append(mount_point)
        (Path(mount_point) / "MyDrive").mkdir(parents=True)

    google, google_colab = types.ModuleType("google"), types.ModuleType("google.colab")
    google.__spec__ = importlib.machinery.ModuleSpec("google", None, is_package=True)
    google_colab.__spec__ = importlib.machinery.ModuleSpec("google.colab", None, is_package=True)
    google_colab.drive = types.SimpleNamespace(mount=mount)
    google.colab = google_colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)
    monkeypatch.setattr(colab, "DRIVE_MOUNT_POINT", tmp_path / "drive")
    return mounts


def test_one_comparison_directory_per_profile_shared_by_the_notebooks(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert colab.comparison_dir("smoke") == Path("runs/notebooks/compare-smoke")
    assert colab.comparison_dir("colab") == Path("runs/notebooks/compare-colab")
    with pytest.raises(ConfigError, match="USE_DRIVE = True needs Google Colab"):
        colab.comparison_dir("colab", use_drive=True)


def test_drive_is_mounted_once_and_holds_the_comparison(fake_colab, tmp_path) -> None:
    first = colab.comparison_dir("colab", use_drive=True)
    assert first == tmp_path / "drive" / "MyDrive" / "albertZero" / "runs" / "notebooks" / "compare-colab"
    assert first.parents[1].is_dir() and fake_colab == [str(tmp_path / "drive")]
    assert colab.comparison_dir("colab", use_drive=True) == first and len(fake_colab) == 1  # already mounted


def test_gpu_runtime_check_names_the_gpu_or_says_how_to_get_one(monkeypatch) -> None:
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-test")  # how a Colab runtime identifies itself
    assert "no GPU needed" in colab.check_gpu_runtime("smoke", cuda_available=False)
    with pytest.raises(ConfigError, match=r"needs a CUDA GPU .*Runtime > Change runtime type > T4 GPU"):
        colab.check_gpu_runtime("colab", cuda_available=False)
    t4 = colab.check_gpu_runtime("colab", cuda_available=True, device_name="Tesla T4", capability=(7, 5))
    assert t4 == "GPU: Tesla T4 (compute capability 7.5; mixed precision auto -> fp16)"
    assert colab.check_gpu_runtime("paper", cuda_available=True, device_name="NVIDIA A100", capability=(8, 0)) \
        .endswith("-> bf16)")


def test_time_warning_is_labelled_an_estimate_and_compares_with_the_session() -> None:
    hour_at_8 = 8e12 * 3600
    short = colab.time_warning(hour_at_8, runs=6, sustained_tflops=8, gpu="T4 fp16")
    assert short.startswith("ESTIMATE, not a measurement")
    assert "1.0 h per run, 6.0 h for the comparison's 6 runs" in short
    assert "within one Colab session" in short
    long = colab.time_warning(3 * hour_at_8, runs=6, sustained_tflops=8, gpu="T4 fp16")
    assert "longer than one Colab session" in long and "USE_DRIVE = 'auto'" in long and "even one run" not in long
    assert "even one run is longer" in colab.time_warning(13 * hour_at_8, runs=1, sustained_tflops=8, gpu="T4")
    quick = colab.time_warning(hour_at_8 / 10, runs=6, sustained_tflops=8, gpu="A100")  # not "0.1 h" or "0.0 h"
    assert "about 6 min per run, 36 min for the comparison's 6 runs" in quick


def test_the_colab_profile_estimate_comes_from_its_flop_count() -> None:
    cfg = profiles.resolve("colab", overrides={"cpu": True, "require_gpu": False})
    cost = colab.squad_run_cost(cfg)
    windows = round(130_319 * 12_155 / 11_873)  # SQuAD 2.0 training questions x dev windows per question
    assert cost["steps"] == math.ceil(windows / 32) and cost["train_windows"] == cost["steps"] * 32  # one epoch
    lines = colab.estimate_banner(cfg, runs=6).splitlines()
    assert len(lines) == len(colab.ASSUMED_TFLOPS) and all(line.startswith("ESTIMATE") for line in lines)
    assert cost["tokens_per_window"] == colab.SQUAD_MEAN_TOKENS_PER_WINDOW  # dynamic padding: real tokens
    minutes = round(cost["flops"] / (8e12 * 3600) * 60)
    assert cost["flops"] < 8e12 * 3600 and f"about {minutes} min per run" in lines[0]


def test_pruned_checkpoints_are_truncated_before_they_are_deleted(tmp_path, monkeypatch) -> None:
    """Drive's trash keeps a deleted file's content: every file of a pruned checkpoint is emptied first."""
    import os

    import torch

    from albertzero_utils import checkpoint
    from albertzero_utils.run_setup import make_accelerator

    accelerator = make_accelerator(profiles.TrainConfig())
    model = torch.nn.Linear(64, 64)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    for step in (1, 2):
        checkpoint.save_checkpoint(tmp_path, step, accelerator, model, optimizer, scheduler, {"step": step})
    old = tmp_path / "checkpoints" / "step-1"
    names = sorted(p.name for p in old.iterdir())
    assert (old / checkpoint.MODEL_FILE).stat().st_size > 64 * 64 * 4  # the weights: not a small file
    real_unlink, removed = os.unlink, {}

    def recording_unlink(path, *, dir_fd=None):
        removed[os.path.basename(path)] = os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_size
        real_unlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "unlink", recording_unlink)
    checkpoint.save_checkpoint(tmp_path, 3, accelerator, model, optimizer, scheduler, {"step": 3}, keep=2)
    assert not old.exists() and (tmp_path / "checkpoints" / "step-2").is_dir()
    assert sorted(removed) == names  # every file of step-1 went through unlink...
    assert removed.pop(checkpoint.MANIFEST) > 0  # (the manifest first, whole: it only makes step-1 incomplete)
    assert set(removed.values()) == {0}  # ...the others emptied first: nothing large is left in a trash


def test_drive_is_the_default_inside_colab_only(fake_colab, tmp_path, monkeypatch) -> None:
    assert colab.comparison_dir("colab") == tmp_path / "drive" / "MyDrive" / "albertZero" / "runs" / "notebooks" \
        / "compare-colab"  # "auto" inside Colab: Drive
    assert colab.comparison_dir("colab", use_drive=False) == Path("runs/notebooks/compare-colab")  # switched off
    with pytest.raises(ConfigError, match="USE_DRIVE must be 'auto', True or False, not 'yes'"):
        colab.comparison_dir("colab", use_drive="yes")
    monkeypatch.delitem(sys.modules, "google.colab")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert colab.comparison_dir("colab") == Path("runs/notebooks/compare-colab")  # "auto" elsewhere: runs/


def test_storage_note_says_whether_checkpoints_outlive_the_runtime(fake_colab, tmp_path, monkeypatch) -> None:
    on_drive = colab.storage_note(colab.comparison_dir("colab"))
    assert on_drive.startswith("persistent (Google Drive") and "resume across Colab sessions" in on_drive
    assert colab.storage_note("runs/x").startswith("NOT persistent")  # Colab's own disk
    monkeypatch.delitem(sys.modules, "google.colab")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert colab.storage_note("runs/x").startswith("persistent (local disk")


def _fake_run(path: Path, steps_done: int, elapsed: float, total: int, finished: bool = False) -> None:
    import json

    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"total_steps": total}))
    records = [{"step": 0, "elapsed_s": 1.0}] + ([{"step": steps_done, "elapsed_s": elapsed}] if steps_done else [])
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if finished:
        (path / "done.json").write_text("{}")


def test_the_banner_is_measured_once_steps_have_run(tmp_path, monkeypatch) -> None:
    from albertzero_utils import eta

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    cfg = profiles.resolve("colab", overrides={"cpu": True, "require_gpu": False, "seeds": (0, 1)})
    before = colab.estimate_banner(cfg, runs=4, output_dir=tmp_path)
    assert before.startswith("ESTIMATE, not a measurement") and "no step measured yet" in before
    assert before.splitlines()[-1].startswith("checkpoints: persistent (local disk")
    _fake_run(tmp_path / "baseline" / "seed-0", 1000, 1000.0, 1000, finished=True)  # 1 s/step
    _fake_run(tmp_path / "reinit" / "seed-0", 200, 400.0, 1000)  # 2 s/step: pooled 1400 s / 1200 steps
    left = eta.remaining([tmp_path / a / f"seed-{s}" for s in (0, 1) for a in ("baseline", "reinit")])
    assert left.steps_left == 800 + 1000 + 1000 and left.runs_left == 3  # unstarted runs: the started total
    assert left.seconds_per_step == pytest.approx(1400 / 1200)
    assert left.hours == pytest.approx(2800 * 1400 / 1200 / 3600)
    after = colab.estimate_banner(cfg, runs=4, output_dir=tmp_path)
    assert after.startswith("MEASURED on this machine: 1.17 s per step") and "about 54 min left" in after
    assert "ESTIMATE" not in after
    assert eta.remaining([tmp_path / "nothing"]) is None
