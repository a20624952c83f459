"""Everything a run builds before its first step, in the order that makes the arms of a comparison paired.

:func:`prepare_run` seeds everything, builds the model (its heads drawn from the seed), and only then
re-initialises the targets from a generator of their own. For one seed, every arm therefore sees the same
dropout masks, head initialisation and batch order (the sampler has its own generator too): the arms differ
in the re-initialised parameters alone.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState, PartialState
from accelerate.utils import set_seed
from transformers.trainer_pt_utils import get_length_grouped_indices

from .batching import PadToLongest, window_lengths
from .errors import ConfigError
from .data import build_train_features, load_examples, load_tokenizer
from .evaluation import EvalSet, build_eval_set, eval_schedule, fixed_subset
from .features import TRAIN_COLUMNS, FeatureConfig
from .micro_batch import CPU_MICRO_BATCH_CAP, free_memory, pick_micro_batch
from .modeling import avpool_class, enable_gradient_checkpointing, load_model_config, load_qa_model
from .paths import ALBERT_BASE_DIR, model_location
from .predict import check_fits
from .profiles import HUB_MODEL, TrainConfig, window_end_step
from .reinit import available_targets, changed_parameters, reinit_layers


def model_targets(name_or_dir: str) -> list[str]:
    """The re-init targets a model offers, from its config alone (built on the meta device: no weights).

    The Hub's albert-base-v2 is read from its committed config (data/albert-base-v2, the same architecture), so
    checking a plan needs neither the Hub nor its cache."""
    location = ALBERT_BASE_DIR if str(name_or_dir) == HUB_MODEL else model_location(name_or_dir)
    config = load_model_config(location)
    with torch.device("meta"):
        model = avpool_class(config.model_type)(config)
    return available_targets(model)


def derive_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose (``"reinit"``, ``"data-order:EPOCH"``) that is a fixed function of `seed`."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:8], "little") >> 1


class EpochShuffleSampler(torch.utils.data.Sampler[int]):
    """A permutation per epoch from a generator seeded with (seed, epoch): the global RNG is never used, and
    the order of any epoch can be rebuilt on resume from the pair alone."""

    def __init__(self, num_samples: int, seed: int) -> None:
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, f"data-order:{self.epoch}"))

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.num_samples, generator=self._generator()).tolist())


class LengthGroupedEpochSampler(EpochShuffleSampler):
    """Like :class:`EpochShuffleSampler`, but consecutive ``batch_size`` indices have similar lengths, so that
    a batch padded to its longest window holds little padding: the Hugging Face Trainer's ``group_by_length``
    (shuffle, cut into mega-batches of 50 batches, sort each by length, the longest batch first).

    The order depends on (seed, epoch, lengths) and the grouping size alone, so both arms of a pair and a
    resumed run see the same batches. :func:`prepare_run` groups by the *global* batch, so the order is the
    same on 1 or N processes and for any micro-batch: each optimizer step takes the next global batch of it
    (each process whole micro-batches), and a resume on another process count continues at the same example.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        super().__init__(len(lengths), seed)
        self.lengths, self.batch_size = [int(n) for n in lengths], batch_size

    def __iter__(self) -> Iterator[int]:
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=self._generator()))


@dataclass(frozen=True)
class BatchPlan:
    """How one optimizer step's global batch is split: over processes, then into accumulated micro-batches.

    ``global_batch_size = num_processes * gradient_accumulation_steps * per_process_batch_size``, so the
    experiment (batch, learning rate, number of steps) is the same on 1 or N processes.
    """

    global_batch_size: int
    num_processes: int
    per_process_batch_size: int  # windows in one forward/backward pass of one process
    gradient_accumulation_steps: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def plan_batches(global_batch_size: int, num_processes: int, micro_batch_size: int | None = None) -> BatchPlan:
    """Split `global_batch_size` over `num_processes`, each running micro-batches of at most
    `micro_batch_size` windows (None: its whole share at once), with the fewest accumulation steps."""
    share, left_over = divmod(global_batch_size, num_processes)
    if left_over or share == 0:
        raise ConfigError(f"--global-batch-size {global_batch_size} cannot be split evenly over "
                          f"{num_processes} processes; choose a multiple of {num_processes}")
    limit = min(share, micro_batch_size or share)
    accumulation = next(k for k in range(math.ceil(share / limit), share + 1) if share % k == 0)
    return BatchPlan(global_batch_size, num_processes, share // accumulation, accumulation)


@dataclass
class RunSetup:
    """Everything :func:`train` builds before its first step."""

    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    train_loader: Any
    sampler: EpochShuffleSampler
    eval_set: EvalSet
    final_eval_set: EvalSet | None
    reinit_parameters: list[str]
    total_steps: int
    steps_per_epoch: int
    num_epochs: int
    schedule: list[int]
    batches: BatchPlan
    sizes: dict[str, int] = field(default_factory=dict)
    #: With re-init: the tensors that changed bitwise, and "N of M" other tensors that are bit-identical.
    reinit_check: dict[str, Any] = field(default_factory=dict)


#: The first CUDA compute capability with native bf16 tensor cores (Ampere, 8.0). Below it (T4 7.5,
#: V100 7.0) `torch.cuda.is_bf16_supported()` may still say True because bf16 can be *emulated*: slowly.
NATIVE_BF16_CAPABILITY = (8, 0)


def precision_for_capability(capability: tuple[int, int] | None) -> str:
    """The autocast precision for a CUDA compute capability ``(major, minor)``: bf16 from 8.0 (native bf16),
    fp16 below it (T4, V100: fp16 tensor cores, no native bf16), ``no`` without a GPU (None)."""
    if capability is None:
        return "no"
    return "bf16" if tuple(capability) >= NATIVE_BF16_CAPABILITY else "fp16"


def resolve_mixed_precision(cfg: TrainConfig) -> str:
    """``auto``: :func:`precision_for_capability` of the current GPU, ``no`` on CPU; other values as given."""
    if cfg.mixed_precision != "auto":
        return cfg.mixed_precision
    if cfg.cpu or not torch.cuda.is_available():
        return "no"
    return precision_for_capability(torch.cuda.get_device_capability())


def micro_batch_limit(cfg: TrainConfig, num_processes: int, *, free_bytes: int | None = None) -> int | None:
    """``cfg.micro_batch_size``, with ``auto`` resolved by :func:`micro_batch.pick_micro_batch` for this device
    (`free_bytes` replaces the measured free memory, for tests) and the model's config."""
    if cfg.micro_batch_size != "auto":
        return cfg.micro_batch_size
    share = max(1, cfg.global_batch_size // num_processes)
    cuda = not cfg.cpu and torch.cuda.is_available()
    free = free_memory(cuda) if free_bytes is None else free_bytes
    model_config = load_model_config(model_location(cfg.model))  # one-line errors, no remote code
    if not cuda:  # the largest divisor of the share up to the cap that fits the RAM
        share_on_cpu = max(d for d in range(1, min(share, CPU_MICRO_BATCH_CAP) + 1) if share % d == 0)
        return min(share_on_cpu, pick_micro_batch(share, free, model_config, cfg.max_seq_length, "no"))
    return pick_micro_batch(share, free, model_config, cfg.max_seq_length, resolve_mixed_precision(cfg))


def make_accelerator(cfg: TrainConfig) -> Accelerator:
    """A fresh Accelerator (its singletons reset, so train() can run several times in one process) that
    accumulates gradients as :func:`plan_batches` says for this number of processes (``auto`` micro-batches
    are resolved here, once: :func:`prepare_run` reads the plan back from the Accelerator)."""
    AcceleratorState._reset_state()
    GradientState._reset_state()
    processes = PartialState(cpu=cfg.cpu).num_processes
    batches = plan_batches(cfg.global_batch_size, processes, micro_batch_limit(cfg, processes))
    return Accelerator(cpu=cfg.cpu, mixed_precision=resolve_mixed_precision(cfg), rng_types=[],
                       gradient_accumulation_steps=batches.gradient_accumulation_steps,
                       step_scheduler_with_optimizer=False)


def optimizer_for(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW (bias-corrected) with weight decay on every weight except biases and LayerNorm parameters."""
    no_decay = {id(p) for m in model.modules() if isinstance(m, torch.nn.LayerNorm) for p in m.parameters()}
    no_decay |= {id(p) for name, p in model.named_parameters() if name.endswith("bias")}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if id(p) not in no_decay], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate)


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `warmup` steps (step k of them at k/warmup of the peak, so the first step already
    trains), then linear decay to 0 at `total`."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _load_split(cfg: TrainConfig, split: str, max_samples: int | None) -> Any:
    source = cfg.train_file if split == "train" else cfg.eval_file
    hub_split = "train" if split == "train" else "validation"
    return load_examples(source or cfg.dataset, split=hub_split, max_samples=max_samples)


def _train_loader(features: Any, cfg: TrainConfig, batch_size: int,
                  pad_token_id: int | None) -> tuple[torch.utils.data.DataLoader, EpochShuffleSampler]:
    """Batches of ``batch_size`` windows (one process's micro-batch) from an order length-grouped by the global
    batch, padded to their longest window; with ``pad_to_max_length``, the old way: shuffled windows, all
    padded to max_seq_length."""
    columns = features.select_columns(list(TRAIN_COLUMNS))
    if cfg.pad_to_max_length:
        sampler = EpochShuffleSampler(len(features), cfg.seed)
        dataset, collate = columns.with_format("torch"), None
    else:
        sampler = LengthGroupedEpochSampler(window_lengths(features), cfg.global_batch_size, cfg.seed)
        dataset, collate = columns, PadToLongest(pad_token_id)
    # A private generator: creating an iterator then draws nothing from the global RNG (exact resume).
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(0))
    return loader, sampler


def prepare_run(cfg: TrainConfig, accelerator: Accelerator) -> RunSetup:
    """Seed, build the model (then re-init its targets), the data, the optimizer and the LR schedule."""
    set_seed(cfg.seed)
    model = load_qa_model(cfg.model, seed=cfg.seed)
    names, reinit_check = [], {}
    if cfg.reinit:
        before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
        names = reinit_layers(model, cfg.reinit, seed=derive_seed(cfg.seed, "reinit"))
        changed, _ = changed_parameters(before, model)
        if not set(changed) <= set(names):  # a defect of reinit, never the user's
            raise RuntimeError(f"re-init changed tensors it does not name: {sorted(set(changed) - set(names))}")
        others = sum(name not in names for name in before)  # tensors the re-init does not name: unchanged (guard)
        reinit_check = {"reinit_changed": changed, "reinit_identical": f"{others} of {others}"}
        del before
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    tokenizer = load_tokenizer(cfg.model, match_original_albert=cfg.match_original_albert_tokenizer)
    feature_cfg = FeatureConfig(cfg.max_seq_length, cfg.doc_stride, cfg.max_query_length, cfg.pad_to_max_length)
    check_fits(model.config, tokenizer, cfg.max_seq_length, cfg.model)
    train_examples = _load_split(cfg, "train", cfg.max_train_samples)
    with accelerator.main_process_first():
        train_features = build_train_features(train_examples, tokenizer, feature_cfg)
    share = cfg.global_batch_size // accelerator.num_processes  # the plan make_accelerator chose (auto included)
    batches = plan_batches(cfg.global_batch_size, accelerator.num_processes,
                           max(1, share // accelerator.gradient_accumulation_steps))
    loader, sampler = _train_loader(train_features, cfg, batches.per_process_batch_size, tokenizer.pad_token_id)
    eval_examples = _load_split(cfg, "eval", None)
    eval_set = build_eval_set(fixed_subset(eval_examples, cfg.max_eval_samples), tokenizer, feature_cfg,
                              cfg.eval_batch_size, accelerator)
    final_eval_set = None
    if cfg.final_eval_full and len(eval_set.examples) < len(eval_examples):
        final_eval_set = build_eval_set(eval_examples, tokenizer, feature_cfg, cfg.eval_batch_size, accelerator)
    model, optimizer, loader = accelerator.prepare(model, optimizer_for(model, cfg), loader)
    steps_per_epoch = math.ceil(len(loader) / batches.gradient_accumulation_steps)
    total = cfg.max_steps or cfg.num_epochs * steps_per_epoch
    scheduler = linear_schedule(optimizer, math.ceil(cfg.warmup_ratio * total), total)
    sizes = {"train_examples": len(train_examples), "train_features": len(train_features),
             "eval_examples": len(eval_set.examples), "eval_features": len(eval_set.features),
             "eval_examples_in_file": len(eval_examples)}
    window = window_end_step(cfg.early_window_epochs, steps_per_epoch, total)
    sizes["early_window_steps"] = window
    return RunSetup(model, tokenizer, optimizer, scheduler, loader, sampler, eval_set, final_eval_set, names,
                    total, steps_per_epoch, math.ceil(total / steps_per_epoch),
                    eval_schedule(total, window_steps=window, interval=cfg.eval_steps,
                                  late_count=cfg.eval_late_count, early_count=cfg.eval_early_count), batches, sizes,
                    reinit_check)
