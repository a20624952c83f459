"""``--dry-run``: three optimizer steps with a profile's real shapes, then what the whole comparison costs.

On a GPU the profile runs as it is (its model and data, if the Hub is reachable or cached). Without one (or
offline) the steps run on the CPU with a config-only albert-base-v2 (random weights from
data/albert-base-v2/config.json: the same shapes, no download) and windows of the committed SQuAD 2.0 dev
set at the profile's ``max_seq_length``: no Hub call. Nothing is written. The report gives the device,
precision, micro-batch, seconds per step, peak memory, where checkpoints would go, and the hours of the
whole comparison (arms x seeds x steps x s/step + evaluations), labelled an ESTIMATE.
"""
from __future__ import annotations

import dataclasses
import os
import resource
import time
from typing import Any

import torch

from . import paths, profiles
from .colab import squad_run_cost, storage_note
from .display import run_cost
from .eta import duration
from .evaluation import evaluate
from .run_setup import make_accelerator, prepare_run, resolve_mixed_precision
from .train import _fresh_state, _post_cfg, optimizer_steps

STEPS = 3
EVAL_QUESTIONS = 16  # evaluated once to time an evaluation window


def _needs_hub(cfg: profiles.TrainConfig) -> bool:
    return not os.path.isdir(paths.model_location(cfg.model)) or cfg.train_file is None or cfg.eval_file is None


def dry_config(cfg: profiles.TrainConfig) -> tuple[profiles.TrainConfig, str]:
    """The config the dry run trains, and what it replaced: on the CPU, or when the Hub is not there, the
    committed albert-base-v2 config and SQuAD 2.0 dev set stand in for Hub material."""
    gpu = not cfg.cpu and torch.cuda.is_available()
    changes: dict[str, Any] = {"require_gpu": False, "cpu": not gpu, "save_steps": None,
                               "max_train_samples": STEPS * cfg.global_batch_size, "max_eval_samples": EVAL_QUESTIONS,
                               "final_eval_full": False, "max_steps": STEPS, "output_dir": os.devnull}
    note = "the profile's own model and data"
    if _needs_hub(cfg) and (not gpu or profiles.hub_offline()):
        changes.update(model=str(paths.ALBERT_BASE_DIR) if not os.path.isdir(paths.model_location(cfg.model))
                       else cfg.model, train_file=cfg.train_file or str(paths.SQUAD2_DEV),
                       eval_file=cfg.eval_file or str(paths.SQUAD2_DEV))
        note = ("config-only albert-base-v2 (random weights, data/albert-base-v2) and SQuAD 2.0 dev windows "
                "(data/squad2) for the shapes: no Hub")
    if not gpu and cfg.mixed_precision == "fp16":
        changes["mixed_precision"] = "no"
    return dataclasses.replace(cfg, **changes), note


def _full_run_cost(cfg: profiles.TrainConfig) -> dict[str, Any]:
    """Steps and evaluation windows of one real run of `cfg` (SQuAD 2.0 counts for Hub data)."""
    if cfg.train_file is None or cfg.eval_file is None:
        return squad_run_cost(cfg)
    from .data import build_train_features, load_examples, load_tokenizer
    from .features import FeatureConfig

    tokenizer = load_tokenizer(cfg.model, match_original_albert=cfg.match_original_albert_tokenizer)
    features = build_train_features(load_examples(cfg.train_file, split="train",
                                                  max_samples=cfg.max_train_samples),
                                    tokenizer, FeatureConfig(cfg.max_seq_length, cfg.doc_stride, cfg.max_query_length))
    questions = len(load_examples(cfg.eval_file))
    return run_cost(cfg, len(features), questions, 1.0, 0.0)


def dry_run(cfg: profiles.TrainConfig, runs: int, output_dir: str | os.PathLike,
            what: str = "the comparison") -> list[str]:
    """Run :data:`STEPS` optimizer steps of `cfg` (see the module doc) and return the report's lines."""
    dry, note = dry_config(cfg)
    accelerator = make_accelerator(dry)
    setup = prepare_run(dry, accelerator)
    model, optimizer, scheduler = setup.model, setup.optimizer, setup.scheduler
    cuda = accelerator.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    model.train()
    times, started = [], time.perf_counter()
    for _ in optimizer_steps(accelerator, model, optimizer, scheduler, setup.train_loader, _fresh_state(),
                             total_steps=STEPS, max_grad_norm=dry.max_grad_norm, save_steps=None, save=lambda: None):
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
    done = len(times)
    per_step = sum(times[1:]) / len(times[1:]) if len(times) > 1 else times[0]  # the first one warms up
    started = time.perf_counter()
    evaluate(model, setup.eval_set, accelerator, _post_cfg(dry), desc="dry-run eval")
    per_eval_window = (time.perf_counter() - started) / max(1, len(setup.eval_set.features))
    peak = (f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB allocated on the GPU" if cuda else
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB peak RSS of this process")
    cost = _full_run_cost(cfg)
    hours = runs * (cost["steps"] * per_step + cost["eval_windows"] * per_eval_window) / 3600
    plan = setup.batches
    return [
        f"dry run of profile {cfg.profile!r}: {done} optimizer steps on {accelerator.device} with {note}",
        f"device: {accelerator.device}"
        + (f" ({torch.cuda.get_device_name(accelerator.device)})" if cuda else ""),
        f"precision: {resolve_mixed_precision(dry)} (mixed_precision {cfg.mixed_precision!r})",
        f"micro-batch: {plan.per_process_batch_size} windows x {plan.gradient_accumulation_steps} accumulated x "
        f"{plan.num_processes} process(es) = global batch {plan.global_batch_size} (micro_batch_size "
        f"{cfg.micro_batch_size!r}), max_seq_length {dry.max_seq_length}",
        f"seconds per optimizer step: {per_step:.3g} (mean of steps 2-{done}; the first warms up); "
        f"evaluation: {per_eval_window * 1000:.3g} ms per window",
        f"peak memory: {peak}",
        f"ESTIMATE for {what}: {runs} run(s) x {cost['steps']} steps x {per_step:.3g} s/step + "
        f"{cost['eval_windows']} evaluation windows per run = about {duration(hours)} on this machine "
        f"({accelerator.device}; extrapolated from {done} steps, not measured)",
        f"checkpoints: {storage_note(output_dir)}",
    ]
