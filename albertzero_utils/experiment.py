"""The re-init experiment: arms x seeds in a paired design, trained seed-major, then summarised.

Within a seed every arm shares the whole configuration except ``reinit``, so ``arm - baseline`` per seed is
a paired difference: the seed-to-seed noise common to both arms cancels. The comparison directory's layout
and its summary (the statistics and the verdict) live in :mod:`albertzero_utils.results`, which reads files
only; this module runs the training.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .eta import remaining
from .fileio import write_json_atomic
from .locks import OutputLock
from .plan import build_plan, register
from .profiles import MAX_SEED, is_main_process
from .results import BASELINE, is_finished, run_dir, summarize
from .run_identity import CONTINUATION_FIELDS

DEFAULT_ARMS = "baseline,reinit"
#: config.json fields that may differ between a run and its continuation (run_identity's one list).
IGNORED_FIELDS = CONTINUATION_FIELDS
#: An arm name is a directory of the comparison: no '/', not '.', '..' or hidden, not empty.
_ARM_NAME = re.compile(r"^(?!\.)[A-Za-z0-9_.+=-]+$")


@dataclass(frozen=True)
class Arm:
    """One experimental condition: its name (a directory) and the re-init targets (empty = baseline)."""

    name: str
    targets: tuple[str, ...]

    def describe(self) -> str:
        return "no re-init" if not self.targets else "re-init " + " + ".join(self.targets)


def parse_arms(spec: str) -> list[Arm]:
    """Parse ``baseline,reinit,pooler,both=ffn_output+attention_output`` into arms.

    ``baseline`` re-initialises nothing, ``reinit`` is ``ffn_output``, any other bare name is a target
    (``a+b`` for several) and ``name=t1+t2`` names a combination. The baseline is required: every gain is
    measured against it.
    """
    arms: list[Arm] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, _, target_text = item.partition("=")
        name = name.strip()
        if not target_text:
            target_text = {"baseline": "", "reinit": "ffn_output"}.get(name, name)
        targets = tuple(t.strip() for t in target_text.split("+") if t.strip())
        if not _ARM_NAME.match(name):
            raise ConfigError(f"--arms: arm name {name!r} may only use letters, digits and _ . + = - (not "
                              f"empty, not starting with a dot)")
        if (name == BASELINE) != (not targets):
            raise ConfigError(f"--arms: {item!r}: only {BASELINE!r} re-initialises nothing")
        if any(arm.name == name for arm in arms):
            raise ConfigError(f"--arms: arm {name!r} is listed twice")
        arms.append(Arm(name, targets))
    if not any(arm.name == BASELINE for arm in arms) or len(arms) < 2:
        raise ConfigError(f"--arms {spec!r}: need {BASELINE!r} and at least one re-init arm to compare with it")
    return arms


def parse_seeds(spec: str) -> list[int]:
    """Parse ``0,1,2`` into distinct non-negative seeds."""
    try:
        seeds = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {spec!r}: expected comma-separated integers such as 0,1,2") from None
    if not seeds or any(not 0 <= s <= MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {spec[:60]!r}: expected distinct integers from 0 to 2**32-1 such as 0,1,2")
    return seeds


# --------------------------------------------------------------------------------------------- running


def arm_config(cfg: Any, arm: Arm, seed: int, output_dir: str | os.PathLike) -> Any:
    """The config of one arm and seed: the shared config with only seed, reinit and output_dir changed."""
    return dataclasses.replace(cfg, seed=seed, reinit=arm.targets, resume_from_checkpoint=None,
                               output_dir=str(run_dir(output_dir, arm.name, seed)))


def check_same_config(path: Path, cfg: Any) -> None:
    """Raise ConfigError if the run at `path` was started with a different config (IGNORED_FIELDS aside)."""
    config_file = path / "config.json"
    try:
        saved = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{config_file}: unreadable run config ({exc})") from None
    # Only the settings are compared: the run facts config.json also holds (device, versions) may differ.
    wanted = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    for key, value in wanted.items():
        if key not in IGNORED_FIELDS and saved.get(key, "<absent>") != value:
            raise ConfigError(
                f"{config_file}: this run has {key}={saved.get(key, '<absent>')!r} but the comparison asks for "
                f"{value!r}; use another --output-dir or remove {path}"
            )


def check_arm_targets(cfg: Any, arms: Sequence[Arm]) -> None:
    """Every arm's re-init targets must exist in the model (checked for all arms before the first trains)."""
    from .profiles import TrainConfig

    if not isinstance(cfg, TrainConfig) or not any(arm.targets for arm in arms):
        return
    from .run_setup import model_targets  # torch: only for a real comparison

    offered = model_targets(cfg.model)
    for arm in arms:
        unknown = [target for target in arm.targets if target not in offered]
        if unknown:
            raise ConfigError(f"--arms: arm {arm.name!r}: --model {cfg.model} has no re-init target "
                              f"{unknown[0]!r}; it offers {', '.join(offered)}")


def _validate(run_cfg: Any, arm: Arm) -> None:
    """The engine's own checks (e.g. re-init target names) for a real TrainConfig, naming the arm."""
    from .profiles import TrainConfig, validate

    if isinstance(run_cfg, TrainConfig):
        try:
            validate(run_cfg)
        except ConfigError as exc:
            raise ConfigError(f"arm {arm.name!r}: {exc}") from None


def run_comparison(
    cfg: Any,
    arms: str | Sequence[Arm],
    seeds: str | Sequence[int],
    output_dir: str | os.PathLike,
    *,
    train_fn: Callable[[Any], Any] | None = None,
    log: Callable[[str], None] = print,
    plan_only: bool = False,
) -> dict:
    """Train every arm x seed (seed-major), skipping finished runs and resuming unfinished ones.

    Writes ``comparison.json`` (the pre-registered plan, :mod:`plan`) before any run starts, then
    ``summary.json`` in `output_dir`, and returns the summary; with `plan_only`, writes the plan and returns
    it (``{"plan": ...}``) without training. Figures are
    drawn by :mod:`albertzero_utils.plots` (it reads summaries; this module does not import it). Under
    `accelerate launch` every process trains, but only the main one logs, writes and summarises (the
    others return an empty dict).
    """
    main = is_main_process()
    log = log if main else (lambda _: None)
    arm_list = parse_arms(arms) if isinstance(arms, str) else list(arms)
    seed_list = parse_seeds(seeds) if isinstance(seeds, str) else list(seeds)
    if train_fn is None and not plan_only:  # imported here, not at the top: summaries must not need torch
        from .train import train as train_fn
    out = Path(output_dir)
    plan = [(seed, arm, arm_config(cfg, arm, seed, out)) for seed in seed_list for arm in arm_list]
    for _, arm, run_cfg in plan:  # refuse a bad or changed config before spending any compute
        _validate(run_cfg, arm)
        if (Path(run_cfg.output_dir) / "config.json").is_file():
            check_same_config(Path(run_cfg.output_dir), run_cfg)
    check_arm_targets(cfg, arm_list)
    lock = OutputLock(out)  # one comparison per directory (each run also locks its own)
    if main:
        started = any((Path(run_cfg.output_dir) / "config.json").is_file() for _, _, run_cfg in plan)
        if plan_only:  # no lock needed: only comparison.json is written, atomically
            return {"plan": register(out, build_plan(cfg, arm_list, seed_list, baseline=BASELINE),
                                     runs_started=started)}
        out.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    elif plan_only:
        return {}
    try:
        if main:
            register(out, build_plan(cfg, arm_list, seed_list, baseline=BASELINE), runs_started=started)
        for seed, arm, run_cfg in plan:
            path = Path(run_cfg.output_dir)
            if is_finished(path):
                log(f"[{arm.name} seed {seed}] finished already: skipped ({path})")
                continue
            if (path / "config.json").is_file():
                run_cfg = dataclasses.replace(run_cfg, resume_from_checkpoint="latest")
                log(f"[{arm.name} seed {seed}] resuming ({arm.describe()}) in {path}")
            else:
                log(f"[{arm.name} seed {seed}] training ({arm.describe()}) in {path}")
            left = remaining([Path(c.output_dir) for _, _, c in plan])
            if left is not None:  # from the steps measured so far: a realistic duration, not the FLOP estimate
                log(f"[{arm.name} seed {seed}] {left.text()}")
            train_fn(run_cfg)
    finally:
        if main:
            lock.release()
    if not main:
        return {}
    summary = summarize(out)
    write_json_atomic(out / "summary.json", summary)
    return summary
