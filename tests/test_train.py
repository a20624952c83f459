"""The training engine: schedule, paired set-up, outputs, guards (tiny model, a few steps, CPU)."""
from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from albertzero_utils import run_setup
from albertzero_utils.cli import main
from albertzero_utils.errors import ConfigError
from albertzero_utils.evaluation import eval_schedule, fixed_subset
from albertzero_utils.profiles import TrainConfig
from albertzero_utils.run_setup import (
    EpochShuffleSampler,
    LengthGroupedEpochSampler,
    derive_seed,
    make_accelerator,
    plan_batches,
    precision_for_capability,
    prepare_run,
    resolve_mixed_precision,
)
from albertzero_utils.train import train

TINY = dict(max_steps=4, eval_steps=2, max_train_samples=40, max_eval_samples=8, global_batch_size=4,
            eval_batch_size=16, max_seq_length=64, doc_stride=32, max_query_length=16)
TINY_FLAGS = ["--profile", "smoke", "--max-steps", "4", "--eval-steps", "2", "--max-train-samples", "40",
              "--max-eval-samples", "8", "--batch-size", "4", "--max-seq-length", "64", "--doc-stride", "32",
              "--max-query-length", "16"]
RECORD_KEYS = {"step", "examples_seen", "epoch", "train_loss", "learning_rate", "elapsed_s", "skipped_steps",
               "exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1",
               "NoAns_total", "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh", "HasAns_span_exact",
               "HasAns_span_f1", "abstain_rate"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(tmp_path, **overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, "output_dir": str(tmp_path / "run"), **overrides})


# ------------------------------------------------------------------------------------------- schedule
@pytest.mark.parametrize("total", [1, 2, 3, 7, 12, 60, 99, 101, 4124, 8000])
def test_eval_schedule_starts_at_0_and_never_crowds(total) -> None:
    steps = eval_schedule(total, early_count=6, late_count=8)
    assert steps[0] == 0 and steps[-1] == total and steps == sorted(set(steps))
    assert min(np.diff(steps)) >= total / 100  # never two points within 1% of the run


def test_eval_schedule_is_even_in_the_early_window_then_after_it() -> None:
    steps = eval_schedule(4124, window_steps=1031, early_count=6, late_count=8)  # the old colab length
    early = [s for s in steps if 0 < s <= 1031]
    assert len(early) == 6 and early[-1] == 1031 and max(np.diff([0, *early])) - min(np.diff([0, *early])) <= 1
    late = [s for s in steps if s >= 1031]
    assert len(late) == 9 and max(np.diff(late)) - min(np.diff(late)) <= 1
    assert eval_schedule(60, window_steps=15, early_count=5, late_count=6) == [0, 3, 6, 9, 12, 15, 22, 30, 38, 45,
                                                                               52, 60]
    # the smoke profile: 0.4 epochs of the sample's 39 steps per epoch end at step 16
    assert eval_schedule(60, window_steps=16, early_count=5, late_count=6) == [0, 3, 6, 10, 13, 16, 23, 31, 38, 45,
                                                                               53, 60]


def test_eval_schedule_with_an_interval() -> None:
    assert eval_schedule(10, interval=4) == [0, 4, 8, 10]
    assert eval_schedule(8, interval=4) == [0, 4, 8]
    with pytest.raises(ValueError):
        eval_schedule(0)


def test_fixed_subset_is_the_same_for_every_run() -> None:
    from albertzero_utils.data import load_examples

    dev = load_examples("sample:dev")
    first, second = fixed_subset(dev, 10), fixed_subset(dev, 10)
    assert first["id"] == second["id"] and len(first) == 10
    assert first["id"] != dev["id"][:10]  # drawn across the file, not its first articles
    assert fixed_subset(dev, None) is dev


# ------------------------------------------------------------------------------------------- pairing
def test_derive_seed_is_stable_and_separates_purposes() -> None:
    assert derive_seed(0, "reinit") == derive_seed(0, "reinit")
    assert len({derive_seed(0, "reinit"), derive_seed(1, "reinit"), derive_seed(0, "data-order:0")}) == 3
    assert 0 <= derive_seed(5, "x") < 2**63


def test_sampler_order_depends_on_seed_and_epoch_only() -> None:
    before = torch.get_rng_state()
    sampler = EpochShuffleSampler(50, seed=3)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == epoch0 != epoch1 and sorted(epoch1) == list(range(50))
    assert list(EpochShuffleSampler(50, seed=4)) != epoch0
    assert torch.equal(torch.get_rng_state(), before)


def _padded_tokens(order: list[int], lengths: list[int], batch_size: int) -> int:
    """Tokens of the batches of `order`, each padded to its longest window."""
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)


def test_length_grouped_sampler_is_a_seeded_permutation_of_similar_lengths() -> None:
    lengths = [int(n) for n in np.random.default_rng(0).integers(20, 385, size=1000)]
    before = torch.get_rng_state()
    sampler = LengthGroupedEpochSampler(lengths, batch_size=8, seed=3)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == epoch0 != epoch1 and sorted(epoch1) == list(range(1000)) == sorted(epoch0)
    assert list(LengthGroupedEpochSampler(lengths, batch_size=8, seed=4)) != epoch0
    assert torch.equal(torch.get_rng_state(), before)
    shuffled = list(EpochShuffleSampler(1000, seed=3))
    assert _padded_tokens(epoch0, lengths, 8) < 0.75 * _padded_tokens(shuffled, lengths, 8)
    assert max(lengths[i] for i in epoch0[:8]) == max(lengths)  # the longest batch first (memory errors early)


def test_batches_are_padded_to_their_longest_window_unless_asked(tmp_path) -> None:
    for pad in (False, True):
        setup = prepare_run(tiny(tmp_path, pad_to_max_length=pad), make_accelerator(tiny(tmp_path)))
        widths = set()
        for batch in setup.train_loader:
            mask = batch["attention_mask"]
            widths.add(mask.shape[1])
            assert set(batch) == set(run_setup.TRAIN_COLUMNS) and mask.shape == batch["input_ids"].shape
            assert pad or mask.sum(dim=1).max() == mask.shape[1]  # no column of padding only
        assert widths == {64} if pad else max(widths) <= 64 and len(widths) > 1


def _setup_state(cfg: TrainConfig) -> tuple:
    setup = prepare_run(cfg, make_accelerator(cfg))
    rng = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    weights = {k: v.clone() for k, v in setup.model.state_dict().items()}
    orders = []
    for epoch in (0, 1):
        setup.train_loader.set_epoch(epoch)
        orders.append(next(iter(setup.train_loader))["input_ids"])
    return setup, rng, weights, orders


def test_arms_are_paired_for_a_seed(tmp_path) -> None:
    base, base_rng, base_weights, base_batches = _setup_state(tiny(tmp_path, seed=7))
    arm, arm_rng, arm_weights, arm_batches = _setup_state(tiny(tmp_path, seed=7, reinit="ffn_output"))
    changed = sorted(k for k in base_weights if not torch.equal(base_weights[k], arm_weights[k]))
    # Only ffn_output differs (its bias is zero before and after, so only the weight changes value).
    assert base.reinit_parameters == [] and all(".ffn_output." in name for name in arm.reinit_parameters)
    assert [name for name in changed if name.endswith("ffn_output.weight")] == changed and len(changed) == 1
    assert set(changed) <= set(arm.reinit_parameters)
    assert torch.equal(base_rng[0], arm_rng[0]) and np.array_equal(base_rng[1], arm_rng[1])
    assert base_rng[2] == arm_rng[2]
    assert all(torch.equal(a, b) for a, b in zip(base_batches, arm_batches))
    assert not torch.equal(base_batches[0], base_batches[1])  # a new order every epoch
    _, other_rng, other_weights, _ = _setup_state(tiny(tmp_path, seed=8))
    assert not torch.equal(base_rng[0], other_rng[0])
    assert not torch.equal(base_weights["qa_outputs.weight"], other_weights["qa_outputs.weight"])


# ------------------------------------------------------------------------------------------- a run
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    assert main(["train", *TINY_FLAGS, "--eval-batch-size", "16", "--output-dir", str(out)]) == 0
    return out


def test_run_writes_config_metrics_final_and_done(finished_run) -> None:
    out = finished_run
    config = json.loads((out / "config.json").read_text())
    assert config["num_processes"] == 1 and config["device"] == "cpu" and config["eval_schedule"] == [0, 2, 4]
    assert config["max_steps"] == 4 and config["total_steps"] == 4 and "torch" in config["versions"]
    assert "git_commit" in config and config["mixed_precision_resolved"] == "no"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 2, 4]
    initial, records = records[0], records[1:]  # step 0: the model as initialised, before any training
    assert initial["examples_seen"] == 0 and initial["train_loss"] is None and set(initial) == RECORD_KEYS
    for record in records:
        assert set(record) == RECORD_KEYS
        assert record["total"] == 8 and math.isfinite(record["train_loss"]) and record["skipped_steps"] == 0
    assert [r["examples_seen"] for r in records] == [8, 16]
    assert records[0]["learning_rate"] > records[1]["learning_rate"] > 0  # linear decay after warm-up
    assert {p.name for p in (out / "final").iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    predictions = json.loads((out / "predictions.json").read_text())
    assert len(predictions) == 8 and set(json.loads((out / "null_odds.json").read_text())) == set(predictions)
    done = json.loads((out / "done.json").read_text())
    assert done["steps"] == 4 and done["final_metrics"]["f1"] == records[-1]["f1"]


def test_final_holds_the_trained_model_not_the_initial_one(finished_run, tmp_path) -> None:
    from albertzero_utils.modeling import load_qa_model

    cfg = tiny(tmp_path)  # the fixture's settings: its initial model is this config's
    initial = prepare_run(cfg, make_accelerator(cfg)).model.state_dict()
    final = load_qa_model(finished_run / "final").state_dict()
    assert final.keys() == initial.keys()
    changed = {name for name in initial if not torch.equal(initial[name], final[name])}
    assert {"qa_outputs.weight", "has_ans.1.weight"} <= changed
    assert any(name.endswith("ffn_output.weight") for name in changed)  # the shared block was trained too


def test_score_gives_the_official_keys_span_f1_and_the_sweep_over_spans() -> None:
    from albertzero_utils.evaluation import score
    from albertzero_utils.postprocess import Predictions

    golds = {"a": ["Paris"], "b": ["1712"], "c": []}
    predictions = Predictions(answers={"a": "Paris", "b": "", "c": ""}, null_odds={"a": -2.0, "b": 1.0, "c": 3.0},
                              span_answers={"a": "Paris", "b": "in 1712", "c": "Rome"})
    scores = score(golds, predictions)
    # thresholded answers: a right, b abstained on an answerable question, c rightly abstained
    assert scores["exact"] == pytest.approx(200 / 3) and scores["f1"] == pytest.approx(200 / 3)
    # best spans on answerable questions, never abstaining: "in 1712" has precision 1/2, recall 1 (F1 2/3)
    assert scores["HasAns_span_exact"] == pytest.approx(50.0)
    assert scores["HasAns_span_f1"] == pytest.approx((100 + 200 / 3) / 2)
    # the sweep over the spans, in order of null odds: abstain on all (1 of 3), + a (1), + b (2/3), + c ("Rome": -1)
    assert scores["best_f1"] == pytest.approx(100 * (1 + 1 + 2 / 3) / 3) and scores["best_f1_thresh"] == 1.0
    assert scores["best_exact"] == pytest.approx(200 / 3) and scores["best_exact_thresh"] == -2.0
    # abstention at the threshold: b and c answered "" (2 of 3 questions), in percent
    assert scores["abstain_rate"] == pytest.approx(200 / 3)
    everything = Predictions(answers={"a": "Paris", "b": "1712", "c": "Rome"}, null_odds=predictions.null_odds,
                             span_answers=predictions.span_answers)
    assert score(golds, everything)["abstain_rate"] == 0.0


@pytest.mark.parametrize("max_eval, final_full, expected, total", [
    (8, False, "subset", 8),  # the periodic subset, and done.json says so
    (8, True, "full", 155),  # a final evaluation on the whole file
    (1000, False, "full", 155),  # a "subset" at least as large as the file is the whole file
])
def test_done_json_names_the_set_of_its_final_metrics(tmp_path, max_eval, final_full, expected, total) -> None:
    result = train(tiny(tmp_path, max_steps=1, eval_steps=1, max_eval_samples=max_eval, final_eval_full=final_full),
                   log=lambda _: None)
    done = json.loads((result.output_dir / "done.json").read_text())
    assert done["final_eval"] == expected and done["final_metrics"]["total"] == total == result.final_metrics["total"]


def test_finished_run_is_not_trained_again(finished_run) -> None:
    messages: list[str] = []
    result = train(tiny(finished_run.parent, resume_from_checkpoint="latest", output_dir=str(finished_run)),
                   log=messages.append)
    assert "finished already" in messages[0] and [r["step"] for r in result.records] == [0, 2, 4]


def test_existing_run_is_not_overwritten_by_accident(finished_run) -> None:
    with pytest.raises(ConfigError, match="already holds a run.*--resume-from-checkpoint latest"):
        train(tiny(finished_run.parent, output_dir=str(finished_run)))


def test_overwrite_output_dir_starts_the_run_afresh(tmp_path) -> None:
    first = train(tiny(tmp_path, max_steps=4, eval_steps=2, save_steps=2), log=lambda _: None)
    assert (first.output_dir / "checkpoints").is_dir()
    again = train(tiny(tmp_path, max_steps=1, eval_steps=1, overwrite_output_dir=True), log=lambda _: None)
    records = [json.loads(line) for line in (again.output_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1]  # the old run's records are gone, not appended to
    assert not any((again.output_dir / "checkpoints").glob("step-*"))  # and so are its checkpoints
    assert json.loads((again.output_dir / "done.json").read_text())["steps"] == 1


def test_gradient_accumulation_counts_optimizer_steps(tmp_path) -> None:
    result = train(tiny(tmp_path, max_steps=2, eval_steps=1, micro_batch_size=2), log=lambda _: None)
    assert [r["examples_seen"] for r in result.records if r["step"]] == [4, 8]  # 2 micro-batches of 2 per step
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["steps_per_epoch"] == math.ceil(math.ceil(config["train_features"] / 2) / 2)
    assert {key: config[key] for key in ("global_batch_size", "per_process_batch_size", "gradient_accumulation_steps",
                                         "num_processes")} == {"global_batch_size": 4, "per_process_batch_size": 2,
                                                               "gradient_accumulation_steps": 2, "num_processes": 1}


@pytest.mark.parametrize("global_batch, processes, micro, expected", [
    (32, 1, 16, (16, 2)), (32, 2, 16, (16, 1)), (32, 4, 16, (8, 1)), (48, 1, 16, (16, 3)), (48, 2, 16, (12, 2)),
    (16, 1, None, (16, 1)), (16, 2, None, (8, 1)), (12, 1, 5, (4, 3))])
def test_the_global_batch_is_split_over_processes_then_accumulated(global_batch, processes, micro, expected) -> None:
    plan = plan_batches(global_batch, processes, micro)
    assert (plan.per_process_batch_size, plan.gradient_accumulation_steps) == expected
    assert plan.per_process_batch_size * plan.gradient_accumulation_steps * processes == global_batch
    assert plan.per_process_batch_size <= (micro or global_batch)


def test_a_global_batch_that_does_not_split_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="--global-batch-size 10 cannot be split evenly over 4 processes"):
        plan_batches(10, 4)


def test_another_precision_in_the_same_process(tmp_path, finished_run) -> None:
    train(tiny(tmp_path, max_steps=1, mixed_precision="bf16"), log=lambda _: None)  # after a run without
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["mixed_precision_resolved"] == "bf16"


def test_latest_without_a_checkpoint_starts_fresh(tmp_path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, "tor')  # a killed attempt
    messages: list[str] = []
    result = train(tiny(tmp_path, max_steps=2, resume_from_checkpoint="latest"), log=messages.append)
    assert any("no complete checkpoint" in m and "starting fresh" in m for m in messages)
    assert [r["step"] for r in result.records] == [0, 2] and result.resumed_from is None


def test_unwritable_output_dir_fails_before_training(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="not writable") as info:
        train(tiny(tmp_path, output_dir=str(blocker / "run")))
    assert "\n" not in str(info.value)


# A NaN loss: skipped, counted, and only a run of them stops training (tests/test_engine.py).


@pytest.mark.parametrize("capability, precision", [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"),
                                                   ((8, 9), "bf16"), ((9, 0), "bf16"), (None, "no")])
def test_precision_follows_the_compute_capability(capability, precision) -> None:
    assert precision_for_capability(capability) == precision  # V100, T4: fp16; A100, L4, H100: bf16


def test_mixed_precision_auto(monkeypatch) -> None:
    assert resolve_mixed_precision(TrainConfig(mixed_precision="auto", cpu=True)) == "no"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # a T4 says True (emulated)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 5))
    assert resolve_mixed_precision(TrainConfig(mixed_precision="auto", cpu=False)) == "fp16"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (8, 0))
    assert resolve_mixed_precision(TrainConfig(mixed_precision="auto", cpu=False)) == "bf16"
    assert resolve_mixed_precision(TrainConfig(mixed_precision="no", cpu=False)) == "no"


def test_gradient_checkpointing_gives_the_same_run(tmp_path, monkeypatch) -> None:
    calls = []
    recompute = torch.utils.checkpoint.checkpoint

    def counted(*args, **kwargs):  # the real checkpoint, counted: proves the flag reached the model
        calls.append(1)
        return recompute(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", counted)
    plain = train(tiny(tmp_path / "plain", max_steps=2, eval_steps=1), log=lambda _: None)
    assert not calls
    checkpointed = train(tiny(tmp_path / "ckpt", max_steps=2, eval_steps=1, gradient_checkpointing=True),
                         log=lambda _: None)
    assert len(calls) >= 2 * 12  # each training step recomputes the 12 passes of the shared block
    for a, b in zip(plain.records[1:], checkpointed.records[1:], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["f1"] == pytest.approx(b["f1"])


def test_num_epochs_on_the_command_line_trains_a_whole_epoch(tmp_path) -> None:
    """The smoke profile's max_steps (60) does not cut short an epoch asked for on the command line."""
    out = tmp_path / "epoch"
    flags = [flag for flag in TINY_FLAGS]
    at = flags.index("--max-steps")
    del flags[at:at + 2]  # the profile's duration stays in force, only the command line gives --num-epochs
    assert main(["train", *flags, "--max-train-samples", "60", "--num-epochs", "1", "--output-dir", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["max_steps"] is None and config["duration_source"] == "command line (num_epochs=1)"
    assert config["total_steps"] == config["steps_per_epoch"] == math.ceil(config["train_features"] / 4) > 4
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["examples_seen"] == config["train_features"]  # every training window once


def test_the_tokenizer_segmentation_is_a_recorded_setting(tmp_path, monkeypatch) -> None:
    from albertzero_utils.profiles import resolve

    asked = []
    real = run_setup.load_tokenizer
    monkeypatch.setattr(run_setup, "load_tokenizer", lambda name, **kw: asked.append(kw) or real(name, **kw))
    cfg = resolve("smoke", None, {**TINY, "max_steps": 1, "match_original_albert_tokenizer": True,
                                  "output_dir": str(tmp_path / "run")})
    train(cfg, log=lambda _: None)
    assert asked == [{"match_original_albert": True}]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["match_original_albert_tokenizer"] is True
    assert resolve("smoke").match_original_albert_tokenizer is False  # a real run uses the Hub tokenizer as shipped


def test_linear_schedule_trains_from_the_first_step_and_peaks_at_the_end_of_warmup() -> None:
    from albertzero_utils.run_setup import linear_schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = linear_schedule(optimizer, warmup=4, total=10)
    rates = []
    for _ in range(10):
        rates.append(scheduler.get_last_lr()[0])  # the rate the next optimizer step uses
        optimizer.step()
        scheduler.step()
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # no step at learning rate 0
    assert rates[4:] == pytest.approx([1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
