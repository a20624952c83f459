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


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


def test_each_run_has_a_progress_bar_except_under_ci(monkeypatch) -> None:
    from albertzero_utils.evaluation import quiet_unless

    monkeypatch.delenv("CI", raising=False)
    assert quiet_unless(True) == {} and quiet_unless(False) == {"disable": True}  # the main process shows it
    monkeypatch.setenv("CI", "true")
    assert quiet_unless(True) == {"disable": True}
    monkeypatch.setenv("CI", "false")
    assert quiet_unless(True) == {}


# ------------------------------------------------------------------------------ micro_batch_size: auto
GiB = 1 << 30


def albert_base_config():
    from transformers import AutoConfig

    from albertzero_utils import paths

    return AutoConfig.from_pretrained(paths.ALBERT_BASE_DIR)


@pytest.mark.parametrize("share, free_gib, precision, expected", [
    (32, 14.5, "fp16", 32),  # a 16 GB T4: the whole share of the colab profile
    (48, 75, "bf16", 48),  # an 80 GB A100/H100: the paper profile's 48 at once (the old cap of 16 underfed it)
    (32, 4, "fp16", 8),  # a small GPU: accumulate 4 x 8
    (32, 4, "no", 4),  # fp32 keeps twice the activations
    (48, 6, "bf16", 16),  # 6 GiB holds 19 windows: the largest divisor of 48 below that is 16
    (32, 0.3, "fp16", 1),  # not even one window: 1 (the run then tells by itself)
])
def test_auto_micro_batch_is_the_largest_divisor_that_fits(share, free_gib, precision, expected) -> None:
    from albertzero_utils.micro_batch import MEMORY_FRACTION, STATE_BYTES_PER_PARAMETER, parameter_count, \
        pick_micro_batch, window_bytes

    config = albert_base_config()
    picked = pick_micro_batch(share, int(free_gib * GiB), config, 384, precision)
    assert picked == expected and share % picked == 0
    budget = MEMORY_FRACTION * free_gib * GiB - STATE_BYTES_PER_PARAMETER * parameter_count(config)
    if picked > 1:
        assert picked * window_bytes(config, 384, precision) <= budget  # it fits...
    larger = [d for d in range(picked + 1, share + 1) if share % d == 0]
    assert not larger or larger[0] * window_bytes(config, 384, precision) > budget  # ...and the next does not


def test_parameter_count_of_albert_base_is_about_its_12m() -> None:
    from albertzero_utils.micro_batch import parameter_count

    assert 11_000_000 < parameter_count(albert_base_config()) < 12_500_000  # 11.7M with its heads


def test_auto_reads_the_free_gpu_memory(monkeypatch) -> None:
    from albertzero_utils import paths, run_setup
    from albertzero_utils.profiles import resolve

    cfg = resolve("colab", overrides={"model": str(paths.ALBERT_BASE_DIR)})
    assert cfg.micro_batch_size == "auto" and cfg.global_batch_size == 32
    cuda = run_setup.torch.cuda
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "get_device_capability", lambda *a: (7, 5))  # a T4: fp16
    monkeypatch.setattr(cuda, "memory_reserved", lambda *a: 0)
    monkeypatch.setattr(cuda, "memory_allocated", lambda *a: 0)
    for free_gib, expected in ((14.5, 32), (4, 8)):
        monkeypatch.setattr(cuda, "mem_get_info", lambda *a, f=free_gib: (int(f * GiB), 16 * GiB))
        assert run_setup.micro_batch_limit(cfg, num_processes=1) == expected
    assert run_setup.micro_batch_limit(cfg, num_processes=4) == 8  # a share of 8 per process: all at once
    assert run_setup.plan_batches(32, 1, 8).gradient_accumulation_steps == 4  # the global batch stays 32


def test_auto_keeps_the_global_batch_and_splits_it_into_micro_batches(tmp_path, monkeypatch) -> None:
    from albertzero_utils.micro_batch import MEMORY_FRACTION, STATE_BYTES_PER_PARAMETER, parameter_count, \
        window_bytes
    from transformers import AutoConfig

    from albertzero_utils import paths

    config = AutoConfig.from_pretrained(paths.TINY_MODEL_DIR)
    room_for_two = (STATE_BYTES_PER_PARAMETER * parameter_count(config) + 2.5 * window_bytes(config, 64, "no"))
    monkeypatch.setattr(run_setup, "free_memory", lambda cuda: int(room_for_two / MEMORY_FRACTION))
    out = tmp_path / "run"
    assert main(["train", *TINY_FLAGS, "--max-steps", "2", "--micro-batch-size", "auto", "--output-dir",
                 str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["micro_batch_size"] == "auto" and saved["global_batch_size"] == 4
    assert saved["per_process_batch_size"] == 2 and saved["gradient_accumulation_steps"] == 2
    assert [json.loads(line)["examples_seen"] for line in (out / "metrics.jsonl").read_text().splitlines()] == \
        [0, 4, 8]
    monkeypatch.undo()  # the CPU's real free RAM: the whole share of 4
    assert run_setup.micro_batch_limit(TrainConfig(**{**TINY, "micro_batch_size": "auto"}), 1) == 4


@pytest.mark.parametrize("value, parsed", [("auto", "auto"), ("8", 8), ("0", None), ("big", None)])
def test_micro_batch_size_flag_and_config_file_accept_auto(tmp_path, value, parsed, capsys) -> None:
    from albertzero_utils.cli import build_parser
    from albertzero_utils.errors import ConfigError
    from albertzero_utils.profiles import resolve

    if parsed is None:
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args(["train", "--micro-batch-size", value])
        assert exit_.value.code == 2 and "expected a positive integer or auto" in capsys.readouterr().err
    else:
        assert build_parser().parse_args(["train", "--micro-batch-size", value]).micro_batch_size == parsed
    config_file = tmp_path / "c.yaml"
    config_file.write_text(f"micro_batch_size: {value}\n")
    if parsed is None:
        with pytest.raises(ConfigError, match="micro_batch_size.* a positive integer, auto or null|"
                                              "--micro-batch-size must be a positive integer"):
            resolve("smoke", config_file)
    else:
        assert resolve("smoke", config_file).micro_batch_size == parsed


# ------------------------------------------------------------------------------ no GPU: what works
def test_the_no_gpu_error_names_flags_that_work(monkeypatch) -> None:
    from albertzero_utils import profiles
    from albertzero_utils.dry_run import dry_config
    from albertzero_utils.errors import ConfigError

    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    with pytest.raises(ConfigError) as info:
        profiles.check_environment(profiles.resolve("colab"))
    message = str(info.value)
    assert "\n" not in message and all(flag in message for flag in profiles.NO_GPU_ALTERNATIVES)
    # each suggestion passes the checks that refused the run (offline, as in these tests)
    profiles.check_environment(profiles.resolve("smoke"))
    monkeypatch.setattr(profiles, "hub_offline", lambda: False)  # --cpu: the profile itself, on the CPU
    profiles.check_environment(profiles.resolve("colab", overrides={"cpu": True}))
    monkeypatch.undo()
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    dry, note = dry_config(profiles.resolve("colab"))  # --dry-run: offline, local stand-ins for the Hub
    profiles.validate(dry)
    profiles.check_environment(dry)
    assert "no Hub" in note and dry.cpu and dry.max_seq_length == 384 and dry.global_batch_size == 32


def _dry_run_lines(capsys, argv: list[str]) -> list[str]:
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    return lines[lines.index(next(l for l in lines if l.startswith("dry run of profile"))):]


def test_dry_run_of_the_smoke_profile_reports_what_a_run_costs(tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    lines = _dry_run_lines(capsys, ["compare", "--profile", "smoke", "--dry-run", "--output-dir", str(out),
                                    "--max-seq-length", "64", "--doc-stride", "32", "--max-query-length", "16"])
    text = "\n".join(lines)
    assert lines[0].startswith("dry run of profile 'smoke': 3 optimizer steps on cpu")
    assert "device: cpu" in text and "precision: no" in text
    assert "micro-batch: 16 windows x 1 accumulated x 1 process(es) = global batch 16" in text
    assert "seconds per optimizer step: " in text and "peak memory: " in text
    assert "ESTIMATE for the comparison (2 arms x 3 seeds): 6 run(s) x 60 steps x" in text
    assert "checkpoints: persistent (local disk" in text
    assert not out.exists()  # a dry run writes nothing


@pytest.mark.slow
def test_dry_run_of_the_colab_shapes_on_cpu_needs_no_hub(tmp_path, capsys) -> None:
    lines = _dry_run_lines(capsys, ["train", "--profile", "colab", "--dry-run", "--global-batch-size", "2",
                                    "--output-dir", str(tmp_path / "run")])
    text = "\n".join(lines)
    assert "config-only albert-base-v2" in lines[0] and "no Hub" in lines[0]
    assert "= global batch 2 (micro_batch_size 'auto'), max_seq_length 384" in text
    steps = -(-round(130_319 * 12_155 / 11_873) // 2)  # SQuAD 2.0's training windows / batch 2: one epoch
    assert f"ESTIMATE for this run: 1 run(s) x {steps} steps" in text
