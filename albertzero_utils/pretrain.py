"""`albertzero pretrain`: ALBERT's own pretraining (n-gram masked LM + sentence-order prediction).

One readable loop, like :mod:`.train`: transformers' ``AlbertForPreTraining`` supplies the two heads and the
loss (MLM cross-entropy + SOP cross-entropy); :mod:`.pretrain_data` supplies the pairs and the masks.
Settings come from a profile, then ``--config FILE``, then the command line. The run directory has the same
files as a fine-tuning run: config.json, metrics.jsonl (a record at step 0 and every ``eval_steps``, measured
on held-out documents), atomic ``checkpoints/step-N/`` with exact resume, and ``final/`` (safetensors, via
``save_pretrained``), which ``albertzero train --model DIR/final`` fine-tunes.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm import tqdm  # the text bar, which TQDM_DISABLE turns off (tqdm.auto's widget ignores it)
from transformers import AlbertConfig, AlbertForPreTraining

from . import checkpoint, paths, profiles
from .data import load_tokenizer
from .errors import ConfigError, TrainingDivergedError
from .remote_code import NO_REMOTE_CODE, refuse_remote_code
from .modeling import seeded_init
from .pretrain_data import (IGNORE_INDEX, MASK_PROBABILITY, PretrainingDataset, build_segment_pairs, collate,
                            neighbour_table_accuracy, read_documents, split_documents)
from .evaluation import quiet_unless
from .run_files import MetricsLog, OutputDir, git_commit, machine, package_versions
from .train import optimizer_steps
from .run_setup import (EpochShuffleSampler, derive_seed, linear_schedule, make_accelerator, optimizer_for,
                        plan_batches)


@dataclass(frozen=True)
class PretrainConfig:
    """Every option of one pretraining run (see `albertzero pretrain --help`).

    The defaults ARE the tiny profile: the best recipe measured so far for the tiny 12-pass ALBERT on the
    embedded corpus (README, *Pretraining*): learning rate 5e-4 (1e-3 and above stay longer at the unigram
    plateau), and 40% of the tokens masked instead of ALBERT's 15% (Wettig et al. 2023, arXiv:2202.08005: more
    prediction targets per step; held-out loss 4.61 against 4.78 after 800 steps here). 1,800 steps took 42
    minutes on one core of the 2-core development machine, with another run on the other core.
    """

    profile: str = "tiny"
    corpus: str = str(paths.PRETRAIN_CORPUS)
    model_config: str = str(paths.TINY_MODEL_DIR)  # a directory with config.json and the tokenizer
    output_dir: str = "runs/pretrain-tiny"
    seed: int = 0
    heldout_share: float = 0.05
    max_seq_length: int = 128
    # share of tokens masked in training (ALBERT: MASK_PROBABILITY, 0.15); held-out data is always masked at 0.15
    mask_probability: float = 0.4
    max_steps: int = 1800
    global_batch_size: int = 32  # pairs per optimizer step over all processes (as in train: see plan_batches)
    micro_batch_size: int | None = None  # at most this many pairs per forward pass of one process
    eval_batch_size: int = 128
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    max_grad_norm: float = 1.0
    eval_steps: int = 100
    save_steps: int | None = 300
    save_total_limit: int | None = 2
    mixed_precision: str = "no"
    cpu: bool = True
    resume_from_checkpoint: str | None = None
    overwrite_output_dir: bool = False


PRETRAIN_PROFILES: dict[str, dict[str, Any]] = {
    # The embedded default: the tiny 12-pass ALBERT of data/tiny-albert on data/pretrain/corpus.txt, on a CPU.
    "tiny": {},
    # A bigger small ALBERT on one or more GPUs: bring --corpus and --model-config (a directory with an
    # AlbertConfig and a tokenizer). The learning rate follows the ALBERT paper's LAMB setting scaled down.
    "gpu": {"cpu": False, "mixed_precision": "auto", "global_batch_size": 128, "eval_batch_size": 256,
            "mask_probability": MASK_PROBABILITY,
            "learning_rate": 1e-3, "max_steps": 20000, "eval_steps": 1000, "save_steps": 1000,
            "output_dir": "runs/pretrain-gpu"},
}


def resolve(profile: str | None = None, config_file: str | Path | None = None,
            overrides: Mapping[str, Any] | None = None) -> PretrainConfig:
    """The PretrainConfig of a profile, updated by a config file, then by (CLI) overrides; validated."""
    file_options = profiles.load_config_file(config_file) if config_file else {}
    name = profile or file_options.pop("profile", None) or "tiny"
    file_options.pop("profile", None)
    if name not in PRETRAIN_PROFILES:
        raise ConfigError(f"unknown pretraining profile {name!r}; choose one of {', '.join(PRETRAIN_PROFILES)}")
    options = {"profile": name, **PRETRAIN_PROFILES[name]}
    options = profiles.apply_options(options, file_options, str(config_file), PretrainConfig)
    options = profiles.apply_options(options, dict(overrides or {}), "command line", PretrainConfig)
    cfg = PretrainConfig(**options)
    validate(cfg)
    return cfg


def validate(cfg: PretrainConfig) -> None:
    """Raise a one-line ConfigError for an option that cannot work."""
    for name in ("max_seq_length", "max_steps", "global_batch_size", "eval_batch_size", "eval_steps"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, not {getattr(cfg, name)}")
    if cfg.max_seq_length < 8:
        raise ConfigError(f"--max-seq-length {cfg.max_seq_length}: too short for two segments")
    if not cfg.learning_rate > 0 or not 0 <= cfg.warmup_ratio < 1 or not 0 < cfg.heldout_share < 1:
        raise ConfigError("--learning-rate must be > 0, --warmup-ratio in [0, 1), --heldout-share in (0, 1)")
    if not 0 < cfg.mask_probability < 1:
        raise ConfigError(f"--mask-probability must be in (0, 1), not {cfg.mask_probability}")
    if not Path(cfg.corpus).expanduser().is_file():
        raise ConfigError(f"--corpus {cfg.corpus}: no such file")
    if not (Path(cfg.model_config).expanduser() / "config.json").is_file():
        raise ConfigError(f"--model-config {cfg.model_config}: no config.json there")
    refuse_remote_code(cfg.model_config, "--model-config")
    profiles.check_seed(cfg.seed)


@dataclass
class PretrainSetup:
    """Everything :func:`pretrain` builds before its first step."""

    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    train_loader: Any
    train_data: PretrainingDataset
    eval_loader: Any
    total_steps: int
    sizes: dict[str, int]
    neighbour_table_accuracy: float  # the yardstick for held-out mlm_accuracy (pretrain_data)


def prepare_pretraining(cfg: PretrainConfig, accelerator: Accelerator) -> PretrainSetup:
    """Seed; build the model from its config (weights drawn from the seed), the pairs and the optimizer."""
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model_config)
    config = AlbertConfig.from_pretrained(cfg.model_config, **NO_REMOTE_CODE)
    with seeded_init(cfg.seed):
        model = AlbertForPreTraining(config)
    train_docs, heldout_docs = split_documents(read_documents(cfg.corpus), cfg.heldout_share)
    train_pairs = build_segment_pairs(train_docs, tokenizer, cfg.max_seq_length)
    heldout_pairs = build_segment_pairs(heldout_docs, tokenizer, cfg.max_seq_length)
    train_data = PretrainingDataset(train_pairs, tokenizer, derive_seed(cfg.seed, "pretraining-data"),
                                    mask_probability=cfg.mask_probability)
    heldout_data = PretrainingDataset(heldout_pairs, tokenizer, seed=0, vary_by_epoch=False)
    # Each loader has a generator of its own: starting an iteration then leaves the global RNG (dropout) alone.
    loader = partial(torch.utils.data.DataLoader, collate_fn=partial(collate, tokenizer))
    batches = plan_batches(cfg.global_batch_size, accelerator.num_processes, cfg.micro_batch_size)
    train_loader = loader(train_data, batch_size=batches.per_process_batch_size,
                          generator=torch.Generator().manual_seed(0),
                          sampler=EpochShuffleSampler(len(train_data), cfg.seed))
    eval_loader = loader(heldout_data, batch_size=cfg.eval_batch_size, generator=torch.Generator().manual_seed(0))
    model, optimizer, train_loader, eval_loader = accelerator.prepare(
        model, optimizer_for(model, cfg), train_loader, eval_loader)
    scheduler = linear_schedule(optimizer, math.ceil(cfg.warmup_ratio * cfg.max_steps), cfg.max_steps)
    sizes = {"train_documents": len(train_docs), "heldout_documents": len(heldout_docs),
             "train_pairs": len(train_pairs), "heldout_pairs": len(heldout_pairs), **batches.as_dict()}
    return PretrainSetup(model, tokenizer, optimizer, scheduler, train_loader, train_data, eval_loader,
                         cfg.max_steps, sizes, neighbour_table_accuracy(train_pairs, heldout_data))


@torch.no_grad()
def evaluate_pretraining(model: Any, loader: Any, accelerator: Accelerator) -> dict[str, float]:
    """Held-out masked-LM and SOP loss and accuracy (over all masked tokens and all pairs)."""
    model.eval()
    sums = torch.zeros(6, dtype=torch.float64, device=accelerator.device)
    for batch in loader:
        out = model(**{k: v for k, v in batch.items() if k not in ("labels", "sentence_order_label")})
        labels, order = batch["labels"], batch["sentence_order_label"]
        masked = labels != IGNORE_INDEX
        mlm_logits, sop_logits = out.prediction_logits[masked].float(), out.sop_logits.float()
        sums += torch.stack([
            torch.nn.functional.cross_entropy(mlm_logits, labels[masked], reduction="sum").double(),
            (mlm_logits.argmax(-1) == labels[masked]).sum().double(), masked.sum().double(),
            torch.nn.functional.cross_entropy(sop_logits, order, reduction="sum").double(),
            (sop_logits.argmax(-1) == order).sum().double(), torch.tensor(float(len(order)), device=sums.device)])
    sums = accelerator.reduce(sums, reduction="sum").tolist()
    model.train()
    return {"mlm_loss": sums[0] / sums[2], "mlm_accuracy": sums[1] / sums[2],
            "sop_loss": sums[3] / sums[5], "sop_accuracy": sums[4] / sums[5]}


def pretrain(cfg: PretrainConfig, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Pretrain one model in ``cfg.output_dir``; return the metrics records (main process)."""
    validate(cfg)
    accelerator = make_accelerator(cfg)
    main = accelerator.is_main_process
    say = (log or print) if main else (lambda _: None)
    out = OutputDir(cfg.output_dir, main=main)
    if cfg.resume_from_checkpoint == "latest" and out.is_finished():
        say(f"{out.path} is finished already (done.json): nothing to resume")
        return MetricsLog(out.path / "metrics.jsonl", main=True).read()
    # Validate, then write: the lock, the checkpoint to resume and every input (corpus, tokenizer, model) are
    # checked before anything of an existing run is moved aside; a failed start puts it back.
    try:
        resume_dir = out.claim(cfg.resume_from_checkpoint, cfg.overwrite_output_dir, say)
        setup = prepare_pretraining(cfg, accelerator)
        accelerator.wait_for_everyone()
        out.set_aside(resume_dir)
        accelerator.wait_for_everyone()
        try:
            return _run(cfg, accelerator, out, resume_dir, setup, say)
        except BaseException:
            out.restore_aside()  # a no-op once the new run has made its first step
            raise
    finally:
        out.release()


def _run(cfg: PretrainConfig, accelerator: Any, out: OutputDir, resume_dir: Any, setup: Any,
         say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The pretraining loop, once the output directory is claimed and the data prepared."""
    main = accelerator.is_main_process
    state = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "loss_sum": 0.0, "loss_steps": 0, "metrics_records": 0,
             "elapsed_s": 0.0}
    if resume_dir is not None:
        state = checkpoint.load_checkpoint(resume_dir, accelerator, setup.model, setup.optimizer, setup.scheduler)
        say(f"resumed from {resume_dir} (step {state['step']} of {setup.total_steps})")
    metrics = MetricsLog(out.path / "metrics.jsonl", main=main)
    records = metrics.truncate(state["metrics_records"])
    out.write_json("config.json", {**dataclasses.asdict(cfg), "device": str(accelerator.device),
                                   "num_processes": accelerator.num_processes,
                                   "mixed_precision_resolved": accelerator.mixed_precision, **setup.sizes,
                                   "heldout_neighbour_table_accuracy": setup.neighbour_table_accuracy,
                                   "machine": machine(), "versions": package_versions(),
                                   "git_commit": git_commit()})
    started, elapsed_before = time.monotonic(), state["elapsed_s"]
    say(f"pretraining {setup.total_steps} steps on {accelerator.device} x{accelerator.num_processes}: "
        f"{setup.sizes['train_pairs']} training pairs, {setup.sizes['heldout_pairs']} held-out; output in {out.path}")
    say(f"held-out yardstick: a lookup table of neighbours reaches mlm_accuracy {setup.neighbour_table_accuracy:.3f}")

    def log_evaluation(learning_rate: float) -> None:
        record = {"step": state["step"], "learning_rate": learning_rate,
                  "train_loss": state["loss_sum"] / state["loss_steps"] if state["loss_steps"] else None,
                  "elapsed_s": round(elapsed_before + time.monotonic() - started, 3),
                  **evaluate_pretraining(setup.model, setup.eval_loader, accelerator)}
        records.append(record)
        metrics.append(record)
        state.update(loss_sum=0.0, loss_steps=0, metrics_records=state["metrics_records"] + 1)
        say(f"step {record['step']}: mlm_accuracy {record['mlm_accuracy']:.3f} sop_accuracy "
            f"{record['sop_accuracy']:.3f} mlm_loss {record['mlm_loss']:.3f} sop_loss {record['sop_loss']:.3f}")

    model, optimizer, scheduler = setup.model, setup.optimizer, setup.scheduler
    model.train()
    if state["step"] == 0:
        log_evaluation(0.0)
    progress = tqdm(total=setup.total_steps, initial=state["step"], desc="pretrain", **quiet_unless(main))

    def save() -> None:
        state["elapsed_s"] = elapsed_before + time.monotonic() - started
        checkpoint.save_checkpoint(out.path, state["step"], accelerator, model, optimizer, scheduler, state,
                                   keep=cfg.save_total_limit)

    steps = optimizer_steps(accelerator, model, optimizer, scheduler, setup.train_loader, state,
                            total_steps=setup.total_steps, max_grad_norm=cfg.max_grad_norm,
                            save_steps=cfg.save_steps, save=save, on_epoch=setup.train_data.set_epoch)
    for learning_rate, step_loss, _ in steps:
        if not math.isfinite(step_loss):
            raise TrainingDivergedError(f"the pretraining loss became {step_loss} at step {state['step']} "
                                        f"(learning rate {learning_rate:.3g}); try a lower --learning-rate")
        state["loss_sum"] += step_loss
        state["loss_steps"] += 1
        out.discard_aside()  # the new run has made a step: what it replaced goes
        progress.update(1)
        progress.set_postfix(loss=f"{step_loss:.3f}")
        if state["step"] % cfg.eval_steps == 0 or state["step"] == setup.total_steps:
            log_evaluation(learning_rate)
    progress.close()
    accelerator.wait_for_everyone()
    out.save_final(accelerator.unwrap_model(model), setup.tokenizer)
    out.write_json("done.json", {"steps": setup.total_steps, "final_metrics": records[-1] if records else {},
                                 "records": len(records)})
    say(f"done: {out.path / 'final'}")
    return records
