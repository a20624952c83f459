"""One readable training loop on 🤗 Accelerate (after HF's ``run_qa_no_trainer.py``), with exact resume.

The same code runs on CPU, one GPU and ``accelerate launch`` (several processes; the main one alone logs
and writes files). The set-up (:mod:`.run_setup`) makes the arms of a comparison paired. After each
evaluation the record goes to metrics.jsonl; every ``save_steps`` a checkpoint (:mod:`.checkpoint`) holds
all that a SIGKILLed run needs to continue and log exactly the records an uninterrupted run would have.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from accelerate import Accelerator
from tqdm import tqdm  # the text bar, which TQDM_DISABLE turns off (tqdm.auto's widget ignores it)

from . import checkpoint, paths, profiles, run_identity
from .errors import TrainingDivergedError
from .evaluation import evaluate, quiet_unless
from .postprocess import PostprocessConfig, Predictions
from .profiles import TrainConfig
from .run_files import MetricsLog, OutputDir, TensorBoard, run_info
from .run_setup import RunSetup, make_accelerator, prepare_run, resolve_mixed_precision


@dataclass
class TrainResult:
    """What a finished run returns: where it lives, its evaluations and its final metrics."""

    output_dir: Path
    steps: int
    final_metrics: dict[str, float]
    records: list[dict[str, Any]]
    resumed_from: int | None


def micro_step(accelerator: Accelerator, model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Forward and backward on one micro-batch (gradients accumulate until Accelerate's ``sync_gradients``).
    Returns the micro-batch's loss."""
    with accelerator.accumulate(model):
        loss = model(**batch).loss
        accelerator.backward(loss)
    return loss.detach().float()


def apply_update(accelerator: Accelerator, model: Any, optimizer: Any, max_grad_norm: float,
                 loss_is_finite: bool) -> bool:
    """Clip the accumulated gradients and take the optimizer step, unless the step's loss or gradient norm is
    not finite: then the step is skipped as fp16's GradScaler skips an overflow (no parameter or optimizer
    state changes; under fp16 the loss scale backs off). Gradients are zeroed either way. Returns True when
    the parameters were updated (False for a skipped step, GradScaler's own skips included)."""
    norm = float(accelerator.clip_grad_norm_(model.parameters(), max_grad_norm))
    scaler = accelerator.scaler
    if loss_is_finite and math.isfinite(norm):
        optimizer.step()
        applied = not accelerator.optimizer_step_was_skipped
    elif scaler is not None and not math.isfinite(norm):
        optimizer.step()  # GradScaler sees the inf/NaN gradients: it skips the update and lowers the scale
        applied = False
    else:
        if scaler is not None:  # finite gradients of a non-finite loss: back off the scale as GradScaler would
            scaler.update(scaler.get_scale() * scaler.get_backoff_factor())
        applied = False
    optimizer.zero_grad()
    return applied


def optimizer_steps(accelerator: Accelerator, model: Any, optimizer: Any, scheduler: Any, loader: Any,
                    state: dict[str, Any], *, total_steps: int, max_grad_norm: float, save_steps: int | None,
                    save: Callable[[], None], num_epochs: int | None = None,
                    on_epoch: Callable[[int], None] | None = None) -> Iterator[tuple[float, float, int]]:
    """The loop skeleton that ``train`` and ``pretrain`` share, resumable exactly from ``state``.

    Runs micro-steps from ``state["epoch"]`` / ``state["batch_in_epoch"]`` (skipping the batches a resumed run
    has done) and, after each optimizer step, advances ``state["step"]`` and yields (learning rate used, mean
    loss, examples seen). A step whose loss or gradient norm is not finite is skipped (:func:`apply_update`):
    its batch is consumed and ``state["step"]`` advances, but neither the parameters nor the LR schedule move;
    ``state["skipped_steps"]`` counts such steps and ``state["consecutive_skips"]`` the current run of them. Once the caller has handled the step (evaluation, logging), the checkpoint is saved
    with ``save()`` every ``save_steps`` steps before the last one. Stops after ``total_steps`` steps (or
    ``num_epochs`` epochs); ``on_epoch(epoch)`` runs at the start of each epoch.
    """
    losses: list[torch.Tensor] = []
    examples = 0
    while state["step"] < total_steps and (num_epochs is None or state["epoch"] < num_epochs):
        loader.set_epoch(state["epoch"])
        if on_epoch is not None:
            on_epoch(state["epoch"])
        batches = loader
        if state["batch_in_epoch"]:
            batches = accelerator.skip_first_batches(loader, state["batch_in_epoch"])
        for batch in batches:
            losses.append(micro_step(accelerator, model, batch))
            examples += batch["input_ids"].shape[0]
            state["batch_in_epoch"] += 1
            if not accelerator.sync_gradients:
                continue
            step_loss, step_examples = _step_loss(accelerator, losses, examples)
            losses, examples = [], 0
            learning_rate = scheduler.get_last_lr()[0]
            applied = apply_update(accelerator, model, optimizer, max_grad_norm, math.isfinite(step_loss))
            if applied:  # a skipped step does not advance the schedule either (as Accelerate does for GradScaler)
                scheduler.step()
            state["skipped_steps"] = state.get("skipped_steps", 0) + (not applied)
            state["consecutive_skips"] = 0 if applied else state.get("consecutive_skips", 0) + 1
            state["step"] += 1
            yield learning_rate, step_loss, step_examples
            if save_steps and state["step"] % save_steps == 0 and state["step"] < total_steps:
                save()
            if state["step"] >= total_steps:
                return
        state.update(epoch=state["epoch"] + 1, batch_in_epoch=0)


def _fresh_state() -> dict[str, Any]:
    """The loop position and running sums, as saved in a checkpoint's trainer_state.json."""
    return {"step": 0, "epoch": 0, "batch_in_epoch": 0, "examples_seen": 0, "loss_sum": 0.0, "loss_steps": 0,
            "skipped_steps": 0, "consecutive_skips": 0, "metrics_records": 0, "elapsed_s": 0.0}


def _step_loss(accelerator: Accelerator, losses: list[torch.Tensor], examples: int) -> tuple[float, int]:
    """Mean loss of one optimizer step over its micro-batches and processes, and the examples it saw."""
    local = torch.stack([torch.stack(losses).sum(), torch.tensor(float(len(losses)), device=losses[0].device),
                         torch.tensor(float(examples), device=losses[0].device)])
    total = accelerator.reduce(local.double(), reduction="sum")
    return float(total[0] / total[1]), int(total[2])


def _record(state: dict[str, Any], epoch: float, learning_rate: float, elapsed_s: float,
            metrics: dict[str, float]) -> dict[str, Any]:
    """One metrics.jsonl line. ``examples_seen`` counts training windows (features) over all processes;
    ``train_loss`` is the mean step loss since the previous evaluation (None at step 0, before training);
    ``learning_rate`` the one just used."""
    loss = state["loss_sum"] / state["loss_steps"] if state["loss_steps"] else None
    return {"step": state["step"], "examples_seen": state["examples_seen"], "epoch": round(epoch, 6),
            "train_loss": loss, "learning_rate": learning_rate,
            "elapsed_s": round(elapsed_s, 3), "skipped_steps": state["skipped_steps"], **metrics}


def train(cfg: TrainConfig, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train and evaluate one run in ``cfg.output_dir``; callable several times in one process.

    Writes config.json, metrics.jsonl (one record per evaluation), checkpoints/step-N/ every
    ``save_steps``, final/ (model + tokenizer), predictions.json, null_odds.json and, last, done.json.
    ``resume_from_checkpoint="latest"`` continues from the newest complete checkpoint (or starts fresh,
    saying so; a finished run is returned as it is). Only the main process writes files and fills
    ``TrainResult.records``. A step with a NaN/inf loss or gradient is skipped and counted (``skipped_steps``
    in metrics.jsonl and done.json); ``cfg.max_consecutive_skips`` of them in a row raise TrainingDivergedError.
    """
    profiles.validate(cfg)
    allowed = run_identity.parse_allowed(cfg.allow_resume_change)
    profiles.check_environment(cfg)
    out = OutputDir(cfg.output_dir, main=profiles.is_main_process())
    out.check_apart_from(paths.model_location(cfg.model))
    accelerator = make_accelerator(cfg)
    say = (log or print) if out.main else (lambda _: None)
    if cfg.resume_from_checkpoint == "latest" and out.is_finished():
        say(f"{out.path} is finished already (done.json): nothing to resume")
        return _finished_result(out)
    try:  # validate everything (model, tokenizer, data, the checkpoint's run) before anything is moved
        resume_dir = out.claim(cfg.resume_from_checkpoint, cfg.overwrite_output_dir, say)
        setup = prepare_run(cfg, accelerator)
        identity = run_identity.run_identity(profiles.config_dict(cfg), precision=resolve_mixed_precision(cfg),
                                             batches=setup.batches.as_dict())
        if resume_dir is not None:
            run_identity.check_resume(resume_dir, identity, allowed)
        accelerator.wait_for_everyone()
        out.set_aside(resume_dir)
        accelerator.wait_for_everyone()
        try:
            result = _run(cfg, accelerator, out, setup, resume_dir, identity, say)
        except BaseException:
            out.restore_aside()  # a no-op once the new run has made its first step
            raise
        out.discard_aside()
        return result
    finally:
        out.release()


def _run(cfg: TrainConfig, accelerator: Accelerator, out: OutputDir, setup: RunSetup, resume_dir: Path | None,
         identity: dict[str, Any], say: Callable[[str], None]) -> TrainResult:
    """The training loop of :func:`train`, once every input is validated and the directory prepared."""
    main = accelerator.is_main_process
    state = _fresh_state()
    if resume_dir is not None:
        state = checkpoint.load_checkpoint(resume_dir, accelerator, setup.model, setup.optimizer, setup.scheduler)
        state["batch_in_epoch"] = run_identity.resume_batch_in_epoch(
            state, run_identity.read_identity(resume_dir), identity, len(setup.train_loader))
        say(f"resumed from {resume_dir} (step {state['step']} of {setup.total_steps})")
    metrics = MetricsLog(out.path / "metrics.jsonl", main=main)
    records = metrics.truncate(state["metrics_records"])
    out.write_json("config.json", {**profiles.config_dict(cfg),
                                   **run_info(accelerator, setup, resolve_mixed_precision(cfg))})
    board = TensorBoard(out.path, purge_step=state["step"] + 1, main=main)
    started, elapsed_before = time.monotonic(), state["elapsed_s"]
    if setup.reinit_check:
        say(f"re-init {'+'.join(cfg.reinit)}: changed {len(setup.reinit_check['reinit_changed'])} tensors; every "
            f"other tensor bit-identical ({setup.reinit_check['reinit_identical']})")
    say(f"training {setup.total_steps} steps ({setup.num_epochs} epochs) on {accelerator.device} "
        f"x{accelerator.num_processes}; evaluating at {len(setup.schedule)} steps; output in {out.path}")

    model, optimizer, scheduler = setup.model, setup.optimizer, setup.scheduler

    def evaluate_and_log(epoch: float, learning_rate: float) -> tuple[dict[str, float], Predictions]:
        """Evaluate now, append the record to metrics.jsonl and TensorBoard, and say so."""
        scores, answers = evaluate(model, setup.eval_set, accelerator, _post_cfg(cfg))
        record = _record(state, epoch, learning_rate, elapsed_before + time.monotonic() - started, scores)
        records.append(record)
        metrics.append(record)
        board.add(record)
        state.update(loss_sum=0.0, loss_steps=0, metrics_records=state["metrics_records"] + 1)
        loss = "-" if record["train_loss"] is None else f"{record['train_loss']:.4f}"
        say(f"step {state['step']}: f1 {record['f1']:.2f} exact {record['exact']:.2f} "
            f"best_f1 {record['best_f1']:.2f} train_loss {loss}")
        return scores, answers

    predictions: Predictions | None = None
    last_metrics: dict[str, float] = {}
    if state["step"] == 0 and 0 in setup.schedule:  # the initial model: the reference of every curve
        last_metrics, predictions = evaluate_and_log(0.0, scheduler.get_last_lr()[0])
    model.train()
    progress = tqdm(total=setup.total_steps, initial=state["step"], unit="step", **quiet_unless(main),
                    desc=f"train {out.path.parent.name}/{out.path.name}")  # one bar per run, with its ETA

    def save() -> None:
        state["elapsed_s"] = elapsed_before + time.monotonic() - started
        checkpoint.save_checkpoint(out.path, state["step"], accelerator, model, optimizer, scheduler, state,
                                   keep=cfg.save_total_limit, extra_json={run_identity.IDENTITY_FILE: identity})

    steps = optimizer_steps(accelerator, model, optimizer, scheduler, setup.train_loader, state,
                            total_steps=setup.total_steps, max_grad_norm=cfg.max_grad_norm,
                            save_steps=cfg.save_steps, save=save, num_epochs=setup.num_epochs)
    for learning_rate, step_loss, step_examples in steps:
        if state["consecutive_skips"] >= cfg.max_consecutive_skips:
            raise TrainingDivergedError(
                f"the training loss or gradient was not finite for {state['consecutive_skips']} consecutive steps "
                f"(the last: step {state['step']}, loss {step_loss}, learning rate {learning_rate:.3g}; "
                f"--max-consecutive-skips {cfg.max_consecutive_skips}); try a lower --learning-rate, "
                f"--mixed-precision bf16 or no, or check the training data")
        state["examples_seen"] += step_examples
        if math.isfinite(step_loss):
            state["loss_sum"] += step_loss
            state["loss_steps"] += 1
        out.discard_aside()  # the new run has made a step: what it replaced goes
        progress.update(1)
        progress.set_postfix(loss=f"{step_loss:.4f}", lr=f"{learning_rate:.2e}")
        if state["step"] in setup.schedule:
            epoch = state["epoch"] + state["batch_in_epoch"] / len(setup.train_loader)
            last_metrics, predictions = evaluate_and_log(epoch, learning_rate)
    progress.close()
    board.close()
    return _finish(cfg, accelerator, setup, out, records, resume_dir, last_metrics, predictions, say,
                   skipped_steps=state["skipped_steps"])


def _finished_result(out: OutputDir) -> TrainResult:
    """The result of a run that wrote done.json (read back from its files)."""
    done = json.loads((out.path / "done.json").read_text(encoding="utf-8"))
    records = MetricsLog(out.path / "metrics.jsonl", main=True).read()
    return TrainResult(out.path, done["steps"], done["final_metrics"], records, None)


def _post_cfg(cfg: TrainConfig) -> PostprocessConfig:
    return PostprocessConfig(n_best=cfg.n_best, max_answer_length=cfg.max_answer_length)


def _finish(cfg: TrainConfig, accelerator: Accelerator, setup: RunSetup, out: OutputDir, records: list[dict],
            resume_dir: Path | None, metrics: dict[str, float], predictions: Predictions | None,
            say: Callable[[str], None], skipped_steps: int) -> TrainResult:
    """Final full-dev evaluation (if asked), ``final/``, predictions, and ``done.json`` written last."""
    covers_file = setup.sizes["eval_examples"] == setup.sizes["eval_examples_in_file"]
    evaluated_on = "full" if covers_file else "subset"  # a max_eval_samples >= the file's size keeps it all
    if setup.final_eval_set is not None:
        metrics, predictions = evaluate(setup.model, setup.final_eval_set, accelerator, _post_cfg(cfg),
                                        desc="final eval")
        evaluated_on = "full"
        say(f"final evaluation on the full eval set: f1 {metrics['f1']:.2f} exact {metrics['exact']:.2f}")
    accelerator.wait_for_everyone()
    out.save_final(accelerator.unwrap_model(setup.model), setup.tokenizer)
    if predictions is not None and accelerator.is_main_process:
        predictions.write(out.path)
    out.write_json("done.json", {"steps": setup.total_steps, "final_eval": evaluated_on,
                                 "final_metrics": metrics, "records": len(records),
                                 "skipped_steps": skipped_steps})
    accelerator.wait_for_everyone()
    say(f"done: {out.path / 'done.json'}")
    resumed_from = checkpoint.step_of(resume_dir) if resume_dir is not None else None
    return TrainResult(out.path, setup.total_steps, metrics, records, resumed_from)
