"""The training engine's guards: a non-finite step is skipped and counted (tiny model, CPU, a few steps)."""
from __future__ import annotations

import json

import pytest
import torch

from albertzero_utils import run_setup, train as train_module
from albertzero_utils.cli import main
from albertzero_utils.profiles import TrainConfig
from albertzero_utils.run_setup import make_accelerator, prepare_run

TINY = dict(max_steps=5, eval_steps=1, max_train_samples=40, max_eval_samples=8, global_batch_size=4,
            eval_batch_size=16, max_seq_length=64, doc_stride=32, max_query_length=16)
TINY_FLAGS = ["--profile", "smoke", "--max-steps", "6", "--eval-steps", "1", "--max-train-samples", "40",
              "--max-eval-samples", "8", "--batch-size", "4", "--max-seq-length", "64", "--doc-stride", "32",
              "--max-query-length", "16"]


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def poison_training_forwards(monkeypatch: pytest.MonkeyPatch, nan_at: set[int] | None = None,
                             nan_from: int | None = None) -> None:
    """Make the loss of the chosen training forwards (1-based; one per step at this batch size) NaN."""
    real_load = run_setup.load_qa_model

    def poisoned_load(*args, **kwargs):
        model = real_load(*args, **kwargs)
        forward, calls = model.forward, []

        def forward_with_nan(**batch):
            output = forward(**batch)
            if output.loss is not None:  # training forwards only (evaluation passes no labels)
                calls.append(1)
                n = len(calls)
                if n in (nan_at or set()) or (nan_from is not None and n >= nan_from):
                    output.loss = output.loss * float("nan")
            return output

        model.forward = forward_with_nan
        return model

    monkeypatch.setattr(run_setup, "load_qa_model", poisoned_load)


def parameters(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_a_nan_step_changes_no_parameter_nor_the_schedule_and_is_counted(tmp_path, monkeypatch) -> None:
    poison_training_forwards(monkeypatch, nan_at={3})
    cfg = TrainConfig(**{**TINY, "output_dir": str(tmp_path / "run")})
    accelerator = make_accelerator(cfg)
    setup = prepare_run(cfg, accelerator)
    state = train_module._fresh_state()
    seen = [(parameters(setup.model), setup.scheduler.last_epoch, 0, 0)]
    for _, loss, _ in train_module.optimizer_steps(accelerator, setup.model, setup.optimizer, setup.scheduler,
                                                   setup.train_loader, state, total_steps=5, max_grad_norm=1.0,
                                                   save_steps=None, save=lambda: None):
        seen.append((parameters(setup.model), setup.scheduler.last_epoch, state["skipped_steps"],
                     state["consecutive_skips"]))
        assert all(p.grad is None or not p.grad.any() for p in setup.model.parameters())  # zeroed
    assert state["step"] == 5 and len(seen) == 6
    assert same(seen[3][0], seen[2][0])  # step 3 (the NaN) left every parameter as it was
    assert seen[3][1] == seen[2][1]  # and the LR schedule did not advance
    assert not same(seen[2][0], seen[1][0]) and not same(seen[4][0], seen[3][0])  # steps around it trained
    assert [s[2] for s in seen] == [0, 0, 0, 1, 1, 1] and [s[3] for s in seen] == [0, 0, 0, 1, 0, 0]
    assert all(torch.isfinite(p).all() for p in seen[-1][0])


def test_a_non_finite_gradient_with_a_finite_loss_is_skipped(tmp_path) -> None:
    cfg = TrainConfig(**{**TINY, "output_dir": str(tmp_path / "run")})
    accelerator = make_accelerator(cfg)
    setup = prepare_run(cfg, accelerator)
    batch = next(iter(setup.train_loader))
    loss = train_module.micro_step(accelerator, setup.model, batch)
    assert torch.isfinite(loss)
    next(setup.model.parameters()).grad[0, 0] = float("inf")
    before = parameters(setup.model)
    assert train_module.apply_update(accelerator, setup.model, setup.optimizer, 1.0, loss_is_finite=True) is False
    assert same(parameters(setup.model), before)
    assert all(p.grad is None or not p.grad.any() for p in setup.model.parameters())
    train_module.micro_step(accelerator, setup.model, batch)  # the next, finite step trains
    assert train_module.apply_update(accelerator, setup.model, setup.optimizer, 1.0, loss_is_finite=True) is True
    assert not same(parameters(setup.model), before)


def test_a_run_goes_on_after_a_nan_step_and_records_it(tmp_path, monkeypatch) -> None:
    poison_training_forwards(monkeypatch, nan_at={3})
    out = tmp_path / "run"
    assert main(["train", *TINY_FLAGS, "--output-dir", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4, 5, 6]
    assert [r["skipped_steps"] for r in records] == [0, 0, 0, 1, 1, 1, 1]
    assert records[3]["train_loss"] is None  # the NaN is not averaged into the logged loss
    done = json.loads((out / "done.json").read_text())
    assert done["skipped_steps"] == 1 and done["steps"] == 6


def test_consecutive_nan_steps_stop_the_run_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    poison_training_forwards(monkeypatch, nan_from=3)
    out = tmp_path / "run"
    assert main(["train", *TINY_FLAGS, "--max-consecutive-skips", "3", "--output-dir", str(out)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("albertzero train: error: the training loss or gradient was not finite for 3 "
                             "consecutive steps (the last: step 5")
    assert "--learning-rate" in err[0] and "--mixed-precision bf16 or no" in err[0]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4]  # steps 3 and 4 were skipped, step 5 stopped it
    assert [r["skipped_steps"] for r in records] == [0, 0, 0, 1, 2]
    assert not (out / "done.json").exists()


def test_max_consecutive_skips_must_be_positive() -> None:
    from albertzero_utils.errors import ConfigError
    from albertzero_utils.profiles import resolve

    assert resolve("smoke").max_consecutive_skips == 10
    with pytest.raises(ConfigError, match="--max-consecutive-skips must be a positive integer"):
        resolve("smoke", overrides={"max_consecutive_skips": 0})
