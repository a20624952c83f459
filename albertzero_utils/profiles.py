"""Run settings: the `TrainConfig` dataclass and the `smoke`, `colab`, `paper` and `cpu-real` profiles.

A run's settings are resolved in three layers: a profile, then an optional YAML/JSON config file, then
command-line overrides (:func:`resolve`). :func:`check_environment` fails fast, in one line, when a profile
needs the Hugging Face Hub or a GPU that is not there, and names the offline alternatives.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from . import paths, splits
from .errors import ConfigError
from .profile_table import HUB_DATASET, HUB_MODEL, PROFILES  # noqa: F401  (re-exported: the public names)

MIXED_PRECISION_CHOICES = ("no", "fp16", "bf16", "auto")
#: Metrics a comparison can be judged on (its co-primary metrics: `headline_metric`, `coprimary_metric`). The
#: claim under test is about F1 at the fixed null threshold; `best_f1` (the official best-threshold F1) is the
#: co-primary no threshold decides. The smoke profile's tiny random-init model never learns when to abstain in
#: a minute, so its demo is judged on HasAns_span_f1 alone.
HEADLINE_METRICS = ("f1", "exact", "best_f1", "HasAns_f1", "HasAns_span_f1")
#: The card's claim: about +2 F1 early in fine-tuning. Every call tests the interval against 0 and this.
CLAIM_GAIN = 2.0


def window_end_step(epochs: float, steps_per_epoch: int, total_steps: int) -> int:
    """The optimizer step at which an early window of `epochs` epochs ends: ``epochs x steps_per_epoch``
    rounded half up, at least 1 and at most `total_steps` (the schedule evaluates exactly there)."""
    if not epochs > 0 or steps_per_epoch < 1 or total_steps < 1:
        raise ValueError(f"need epochs > 0, steps_per_epoch >= 1 and total_steps >= 1, got "
                         f"{epochs}, {steps_per_epoch}, {total_steps}")
    return max(1, min(total_steps, math.floor(epochs * steps_per_epoch + 0.5)))
OFFLINE_ALTERNATIVES = "offline alternatives: --profile smoke, or --model DIR --train-file F --eval-file F"
#: What works without a GPU (tests/test_engine.py runs each): flags and what they do.
NO_GPU_ALTERNATIVES = {"--dry-run": "3 steps of this profile on the CPU, and the hours the whole run would take",
                       "--profile smoke": "the offline CPU demo",
                       "--cpu": "this profile on the CPU, very slowly"}


@dataclass(frozen=True)
class TrainConfig:
    """Every option of one training run (see `albertzero train --help`).

    The defaults ARE the smoke profile (offline, CPU, tiny random ALBERT on the bundled sample, 60 steps):
    lr 1e-3 / batch 16 / 10% warmup learned best in the data's learnability checks (2e-3 diverged); 60 steps
    keep `make demo` (2 arms x 3 seeds) at about 3 minutes on 2 cores (3 min 4 s to 3 min 15 s measured).
    """

    profile: str = "smoke"
    # model and data; a split is read from its file if given (JSON path or "sample:train"/"sample:dev"),
    # else from the Hub dataset.
    model: str = str(paths.TINY_MODEL_DIR)
    train_file: str | None = "sample:train"
    eval_file: str | None = "sample:dev"
    dataset: str | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None  # periodic evaluations use a fixed subset of this size
    final_eval_full: bool = False  # then evaluate the final model on the whole eval set once more
    max_seq_length: int = 128
    doc_stride: int = 64
    max_query_length: int = 32
    pad_to_max_length: bool = False  # True: every window padded to max_seq_length (slower; the old way)
    match_original_albert_tokenizer: bool = False  # ALBERT's original SentencePiece segmentation (features.py)
    # the experiment
    reinit: tuple[str, ...] = ()  # re-init targets; "a,b", "a+b", "none" and None are accepted
    seed: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)  # the default seeds of `albertzero compare`
    output_dir: str | None = None  # None: runs/PROFILE/REINIT-seedSEED
    # optimisation. The duration is num_epochs unless max_steps (optimizer steps) is set; a layer of settings
    # that gives either replaces the earlier layers' duration (see resolve).
    num_epochs: int = 2
    max_steps: int | None = 60
    duration_source: str = "defaults"  # the layer the duration came from (written by resolve)
    # The experiment's batch: training windows per optimizer step over all processes. Each process runs its
    # share in micro-batches of at most micro_batch_size (None: all at once; "auto": the largest divisor of
    # the share that fits the device's free memory, see micro_batch.py) and accumulates the gradients.
    global_batch_size: int = 16
    micro_batch_size: int | str | None = None
    eval_batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    # A step whose loss or gradient is NaN/inf is skipped (as fp16's GradScaler skips an overflow) and counted;
    # this many in a row stop the run. 10: GradScaler's start-up overflows end within a few halvings of its
    # 2**16 scale (10 reach 2**6), while NaNs that come from the weights or a broken input repeat every step.
    max_consecutive_skips: int = 10
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    cpu: bool = True
    require_gpu: bool = False
    # evaluation: step 0 (the initial model), then every eval_steps, or (default) eval_early_count evenly
    # spaced points in the early window and eval_late_count evenly spaced after it; the window's end is
    # always an evaluation point
    eval_steps: int | None = None
    eval_early_count: int = 5
    eval_late_count: int = 6
    n_best: int = 20
    max_answer_length: int = 30
    # The comparison's pre-registered plan (comparison.json). The early window is given in epochs of the
    # training data. Smoke: 0.4 epochs of the sample (616 windows, 39 steps per epoch at batch 16: steps
    # 1-16 of the 60-step run (the old first-quarter rule ended at step 15), so `make demo` keeps its 12
    # evaluations).
    early_window_epochs: float = 0.4
    # What `albertzero compare` decides on: the headline metric and a co-primary one (None: the headline
    # alone). The smoke model never learns to abstain, so its demo has one primary metric (HasAns_span_f1).
    headline_metric: str = "HasAns_span_f1"
    coprimary_metric: str | None = None
    claim_gain: float = CLAIM_GAIN  # the claimed gain every call is tested against (with 0)
    # checkpoints
    save_steps: int | None = None
    save_total_limit: int | None = 2
    resume_from_checkpoint: str | None = None  # a checkpoint directory or "latest"
    allow_resume_change: str | None = None  # "precision,processes": what a resume may change (run_identity)
    overwrite_output_dir: bool = False

    def __post_init__(self) -> None:
        from .reinit import parse_targets  # reinit imports torch: only when a config is made

        object.__setattr__(self, "reinit", parse_targets(self.reinit))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if self.output_dir is None:
            tag = "+".join(self.reinit) or "none"
            object.__setattr__(self, "output_dir", str(Path("runs") / self.profile / f"{tag}-seed{self.seed}"))


def hub_offline() -> bool:
    """True when the Hugging Face Hub must not be contacted (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(flag.strip().upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


def is_main_process() -> bool:
    """False on the other processes of `accelerate launch` (RANK > 0): they train but print and write nothing."""
    return int(os.environ.get("RANK", "0")) == 0


def cuda_available() -> bool:
    import torch  # heavy import, only when needed

    return torch.cuda.is_available()


def default_profile() -> str:
    """`smoke` when offline or without a GPU, else `colab`."""
    return "smoke" if hub_offline() or not cuda_available() else "colab"


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON file of TrainConfig fields (dashes or underscores) into a dict."""
    import yaml

    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
        try:  # JSON first: valid JSON indented with tabs is not valid YAML
            data = json.loads(text)
        except ValueError:
            data = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); expected a YAML or JSON config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML/JSON ({' '.join(str(exc).split())[:160]})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config file (a mapping of options)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values, not {type(data).__name__}")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def _coerce(name: str, value: Any, source: str, config_class: type = TrainConfig) -> Any:
    """Check one option value against its type in `config_class` (ints and numeric text are accepted for
    floats)."""
    hint = typing.get_type_hints(config_class)[name]
    if name == "micro_batch_size" and value == "auto" and str in typing.get_args(hint):
        return value
    if name == "reinit":
        if value is not None and not isinstance(value, (str, list, tuple)):
            raise ConfigError(f"{source}: option 'reinit' expects targets such as ffn_output, not {value!r:.60}")
        from .reinit import parse_targets

        return parse_targets(value)
    if typing.get_origin(hint) is tuple:  # seeds
        items = value.split(",") if isinstance(value, str) else value
        try:
            return tuple(int(item) for item in items)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: option {name!r} expects integers such as 0,1,2, "
                              f"not {value!r:.60}") from None
    optional = type(None) in typing.get_args(hint)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    if value is None and optional:
        return None
    if base is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML reads 2e-5 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if base is str and isinstance(value, os.PathLike):
        return str(value)
    if type(value) is not base:
        wanted = base.__name__ + (" or null" if optional else "")
        if name == "micro_batch_size" and str in typing.get_args(hint):
            wanted = "a positive integer, auto or null"
        raise ConfigError(f"{source}: option {name!r} expects {wanted}, not {value!r:.60}")
    if base is float and not math.isfinite(value):  # NaN passes every "not > 0" check silently
        raise ConfigError(f"{source}: option {name!r} must be a finite number, not {value!r}")
    return value


DURATION_OPTIONS = ("num_epochs", "max_steps")


def apply_options(base: Mapping[str, Any], options: Mapping[str, Any], source: str,
                  config_class: type = TrainConfig) -> dict[str, Any]:
    """`base` updated with `options` (unknown names and wrong types raise ConfigError naming `source`);
    the options are the fields of `config_class` (TrainConfig, or pretrain's PretrainConfig).

    Durations layer as a whole: when `options` gives ``num_epochs`` or ``max_steps``, the duration of `base`
    is dropped (an epoch count given here is not cut short by an earlier layer's ``max_steps``) and
    ``duration_source`` names `source`.
    """
    merged = dict(base)
    known = {f.name for f in dataclasses.fields(config_class)}
    given = [name for name in DURATION_OPTIONS if name in options]
    if given and "duration_source" in known:
        merged["max_steps"] = None
        merged["duration_source"] = f"{source} ({', '.join(f'{n}={options[n]}' for n in given)})"
    for name, value in options.items():
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=2)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise ConfigError(f"{source}: unknown option {name!r}{hint}")
        merged[name] = _coerce(name, value, source, config_class)
    return merged


def resolve(profile: str | None = None, config_file: str | os.PathLike | None = None,
            overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The TrainConfig of a profile, updated by a config file, then by (CLI) overrides; validated."""
    file_options = load_config_file(config_file) if config_file else {}
    name = profile or file_options.pop("profile", None) or default_profile()
    file_options.pop("profile", None)
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    options = apply_options({"profile": name}, PROFILES[name], f"profile {name}")
    options = apply_options(options, file_options, f"config file {config_file}")
    options = apply_options(options, dict(overrides or {}), "command line")
    cfg = TrainConfig(**options)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Raise a one-line ConfigError for an option that cannot work (checked before any training)."""
    at_least_one = ("global_batch_size", "eval_batch_size", "num_epochs", "max_consecutive_skips",
                    "max_seq_length", "doc_stride", "max_query_length", "eval_early_count", "eval_late_count", "n_best",
                    "max_answer_length")
    none_or_at_least_one = ("max_steps", "micro_batch_size", "eval_steps", "save_steps", "save_total_limit",
                            "max_train_samples", "max_eval_samples")
    for name in at_least_one + none_or_at_least_one:
        value = getattr(cfg, name)
        if (value is None and name in none_or_at_least_one) or (name == "micro_batch_size" and value == "auto"):
            continue
        if isinstance(value, str):
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, not {value!r}")
        if value is None or value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, not {value}")
    if not cfg.learning_rate > 0:
        raise ConfigError(f"--learning-rate must be positive, not {cfg.learning_rate}")
    if not 0 <= cfg.warmup_ratio < 1:
        raise ConfigError(f"--warmup-ratio must be in [0, 1), not {cfg.warmup_ratio}")
    if cfg.weight_decay < 0 or not cfg.max_grad_norm > 0:
        raise ConfigError("weight_decay must be >= 0 and max_grad_norm > 0")
    if cfg.mixed_precision not in MIXED_PRECISION_CHOICES:
        raise ConfigError(f"--mixed-precision must be one of {', '.join(MIXED_PRECISION_CHOICES)}, "
                          f"not {cfg.mixed_precision!r}")
    if cfg.headline_metric not in HEADLINE_METRICS:
        raise ConfigError(f"headline_metric must be one of {', '.join(HEADLINE_METRICS)}, "
                          f"not {cfg.headline_metric!r}")
    if cfg.coprimary_metric is not None and (cfg.coprimary_metric not in HEADLINE_METRICS
                                             or cfg.coprimary_metric == cfg.headline_metric):
        raise ConfigError(f"coprimary_metric must be null or one of {', '.join(HEADLINE_METRICS)} other than "
                          f"the headline {cfg.headline_metric!r}, not {cfg.coprimary_metric!r}")
    if not (math.isfinite(cfg.early_window_epochs) and cfg.early_window_epochs > 0):
        raise ConfigError(f"--early-window-epochs must be a positive number of epochs, not {cfg.early_window_epochs}")
    if not (math.isfinite(cfg.claim_gain) and cfg.claim_gain > 0):
        raise ConfigError(f"--claim-gain must be a positive number of points, not {cfg.claim_gain}")
    for seed in (cfg.seed, *cfg.seeds):
        check_seed(seed)
    for split, source in (("train", cfg.train_file), ("eval", cfg.eval_file)):
        if source is None and cfg.dataset is None:
            raise ConfigError(f"no {split} data: pass --{split}-file FILE or --dataset HUB_ID")
        if source is not None and source.startswith(splits.PREFIX) and source not in splits.SOURCES:
            raise ConfigError(f"--{split}-file {source}: unknown split; choose one of {', '.join(splits.SOURCES)}")
        if source is not None and not source.startswith(("sample:", splits.PREFIX)) and \
                not Path(source).expanduser().is_file():
            raise ConfigError(f"--{split}-file {source}: no such file")
    from .reinit import check_target_names  # names only: reinit_layers checks them against the model

    check_target_names(cfg.reinit)
    from .features import FeatureConfig  # raises ConfigError for windows that cannot hold a context

    FeatureConfig(cfg.max_seq_length, cfg.doc_stride, cfg.max_query_length)
    resume = cfg.resume_from_checkpoint
    if resume not in (None, "latest") and not Path(resume).expanduser().is_dir():
        raise ConfigError(f"--resume-from-checkpoint {resume}: no such checkpoint directory (or use 'latest')")


#: numpy's and Python's generators take seeds in [0, 2**32).
MAX_SEED = 2**32 - 1


def check_seed(seed: int, flag: str = "--seed") -> None:
    """A one-line ConfigError for a seed the random generators cannot take."""
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{flag} must be an integer from 0 to 2**32-1 ({MAX_SEED}), not {str(seed)[:40]}")


def check_environment(cfg: TrainConfig) -> None:
    """Fail fast when the run needs the Hub or a GPU that is missing, naming the offline alternatives."""
    if cfg.require_gpu and not cfg.cpu and not cuda_available():
        ways = ", ".join(f"{flag} ({what})" for flag, what in NO_GPU_ALTERNATIVES.items())
        raise ConfigError(f"profile {cfg.profile!r} needs a CUDA GPU and none was found; without one: {ways}")
    if cfg.mixed_precision == "fp16" and (cfg.cpu or not cuda_available()):
        raise ConfigError("--mixed-precision fp16 needs a CUDA GPU; use --mixed-precision bf16 or no on CPU")
    model_path = Path(paths.model_location(cfg.model)).expanduser()
    if not model_path.is_dir() and (model_path.exists() or str(cfg.model).startswith(("/", ".", "~"))):
        raise ConfigError(f"--model {cfg.model}: no such model directory")  # a path, not a Hub id
    if not hub_offline():
        return
    needs = [("--model", cfg.model)] if not model_path.is_dir() else []
    if cfg.dataset and (cfg.train_file is None or cfg.eval_file is None):
        needs.append(("--dataset", cfg.dataset))
    missing = [(flag, name) for flag, name in needs if not _in_hub_cache(name, flag == "--dataset")]
    if missing:
        flag, name = missing[0]
        raise ConfigError(f"profile {cfg.profile!r}: {flag} {name} needs the Hugging Face Hub, but HF_HUB_OFFLINE "
                          f"is set and it is not cached; {OFFLINE_ALTERNATIVES}")


def _in_hub_cache(repo_id: str, is_dataset: bool) -> bool:
    """True when the Hub cache holds `repo_id` (so offline mode can still load it)."""
    from huggingface_hub import constants

    folder = f"{'datasets' if is_dataset else 'models'}--{repo_id.replace('/', '--')}"
    return (Path(constants.HF_HUB_CACHE) / folder / "snapshots").is_dir()


def describe(cfg: TrainConfig) -> str:
    """The resolved settings, one `name: value` per line (printed at the start of a run)."""
    return "\n".join(f"  {name}: {json.dumps(value)}" for name, value in config_dict(cfg).items())


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The config as JSON-ready values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))
