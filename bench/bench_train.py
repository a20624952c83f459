"""Benchmark 4: per-step overhead of our training loop against a bare PyTorch loop (tiny config, smoke profile).

Both sides train the same model (tiny ALBERT, same seed) on the same windows (smoke profile: batch 16,
128 tokens) with the same optimizer (AdamW, weight decay off biases/LayerNorm), linear schedule and
gradient clipping, for the same number of steps. Setup is excluded by timestamping the end of every
optimizer step (a wrapper around ``LambdaLR.step``, installed identically for both sides) and timing only
the intervals between consecutive steps: model building, feature building, the first step (warm-up) and
our final evaluation (after the last step; ``eval_steps`` = the step count) fall outside every interval.
"""
from __future__ import annotations

import contextlib
import cProfile
import io
import math
import pstats
import statistics
import tempfile
import time
from typing import Any, Callable, Iterator

import torch

from albertzero_utils import profiles
from albertzero_utils.data import build_train_features, load_examples, load_tokenizer
from albertzero_utils.features import TRAIN_COLUMNS, FeatureConfig
from albertzero_utils.modeling import load_qa_model
from albertzero_utils.train import train


TARGET_OVERHEAD = 0.05


@contextlib.contextmanager
def step_clock() -> Iterator[list[tuple[float, float]]]:
    """Record (wall, cpu) at the end of every ``LambdaLR.step`` call made inside the block."""
    stamps: list[tuple[float, float]] = []
    original = torch.optim.lr_scheduler.LambdaLR.step

    def stamped_step(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        stamps.append((time.perf_counter(), time.process_time()))
        return result

    torch.optim.lr_scheduler.LambdaLR.step = stamped_step
    try:
        yield stamps
    finally:
        torch.optim.lr_scheduler.LambdaLR.step = original


def step_intervals(stamps: list[tuple[float, float]], steps: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds between consecutive optimizer steps (the first stamp is the scheduler's creation)."""
    ends = stamps[-steps:]
    if len(stamps) != steps + 1:
        raise AssertionError(f"expected {steps + 1} scheduler steps (1 at creation), saw {len(stamps)}")
    wall = [b[0] - a[0] for a, b in zip(ends, ends[1:])]
    cpu = [b[1] - a[1] for a, b in zip(ends, ends[1:])]
    return wall, cpu


def smoke_config(steps: int, output_dir: str, batch_size: int) -> profiles.TrainConfig:
    return profiles.resolve("smoke", None, {"max_steps": steps, "eval_steps": steps, "max_eval_samples": 8,
                                            "global_batch_size": batch_size, "output_dir": output_dir,
                                            "overwrite_output_dir": True, "pad_to_max_length": True})


def run_ours(cfg: profiles.TrainConfig) -> None:
    """Our train(), quiet (its progress bar still runs, into a buffer)."""
    with contextlib.redirect_stderr(io.StringIO()):
        train(cfg, log=lambda _: None)


def make_bare_loop(cfg: profiles.TrainConfig) -> Callable[[], None]:
    """A bare PyTorch loop with the same model, windows, batch, optimizer, schedule and clipping."""
    tokenizer = load_tokenizer(cfg.model)
    features = build_train_features(load_examples(cfg.train_file), tokenizer,
                                    FeatureConfig(cfg.max_seq_length, cfg.doc_stride, cfg.max_query_length,
                                                  pad_to_max_length=True))
    dataset = features.select_columns(list(TRAIN_COLUMNS)).with_format("torch")

    def bare() -> None:
        torch.manual_seed(cfg.seed)
        model = load_qa_model(cfg.model, seed=cfg.seed)
        model.train()
        norms = {id(p) for m in model.modules() if isinstance(m, torch.nn.LayerNorm) for p in m.parameters()}
        no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or id(p) in norms]
        decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or id(p) in norms)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=cfg.learning_rate)
        total, warmup = cfg.max_steps, math.ceil(cfg.warmup_ratio * cfg.max_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
        loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.global_batch_size, shuffle=True,
                                             generator=torch.Generator().manual_seed(cfg.seed))
        for step, batch in enumerate(loader, start=1):
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            if step == cfg.max_steps:
                break

    return bare


def profile_ours(cfg: profiles.TrainConfig, top: int = 12) -> list[str]:
    """The functions where one run of ours spends its time (cProfile, by own time), for a missed target."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_ours(cfg)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return [line.rstrip() for line in out.getvalue().splitlines() if line.strip()][-top - 1:]


def run(steps: int = 11, repeats: int = 3, batch_size: int = 16) -> dict:
    """Interleave ``repeats`` runs of each side; per-step time = median interval, then median over runs."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as out:
        cfg = smoke_config(steps, out, batch_size)
        bare = make_bare_loop(cfg)
        per_run: dict[str, dict[str, list[float]]] = {"ours": {"wall": [], "cpu": []},
                                                       "bare": {"wall": [], "cpu": []}}
        for _ in range(repeats):
            for name, function in (("ours", lambda: run_ours(cfg)), ("bare", bare)):
                with step_clock() as stamps:
                    function()
                wall, cpu = step_intervals(stamps, steps)
                per_run[name]["wall"].append(statistics.median(wall))
                per_run[name]["cpu"].append(statistics.median(cpu))
        ours_s = statistics.median(per_run["ours"]["wall"])
        bare_s = statistics.median(per_run["bare"]["wall"])
        ours_cpu, bare_cpu = statistics.median(per_run["ours"]["cpu"]), statistics.median(per_run["bare"]["cpu"])
        overhead = ours_cpu / bare_cpu - 1
        result = {
            "what": "train() vs a bare PyTorch loop: same tiny model, windows, batch, AdamW, schedule, clipping",
            "steps_per_run": steps, "repeats": repeats, "batch_size": cfg.global_batch_size,
            "max_seq_length": cfg.max_seq_length,
            "setup_excluded_by": "timing only the intervals between consecutive optimizer steps "
                                 "(first step, setup and the final evaluation fall outside)",
            "ours_step_s": round(ours_s, 5), "bare_step_s": round(bare_s, 5),
            "ours_step_cpu_s": round(ours_cpu, 5), "bare_step_cpu_s": round(bare_cpu, 5),
            "per_run_median_step_s": {k: [round(x, 5) for x in v["wall"]] for k, v in per_run.items()},
            "per_run_median_step_cpu_s": {k: [round(x, 5) for x in v["cpu"]] for k, v in per_run.items()},
            "overhead_cpu": round(overhead, 4), "overhead_wall": round(ours_s / bare_s - 1, 4),
            "target_judged_on": "CPU time per step (one thread; wall time on a shared machine is noisier)",
            "target_overhead": TARGET_OVERHEAD, "target_met": overhead <= TARGET_OVERHEAD,
        }
        if overhead > TARGET_OVERHEAD:
            result["profile_of_ours"] = profile_ours(cfg)
    return result
