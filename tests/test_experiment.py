"""Arms x seeds: parsing, summary of synthetic run directories, skip/resume and the config-mismatch error."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from albertzero_utils.errors import ConfigError, DataError
from albertzero_utils.experiment import Arm, parse_arms, parse_seeds, run_comparison
from albertzero_utils.profiles import window_end_step
from albertzero_utils.results import early_window, read_metrics, summarize

T_975_DF2 = 4.302652730


def write_run(run: Path, f1_by_step: dict[int, float], *, finished: bool = True, config: dict | None = None) -> None:
    """A synthetic run directory: metrics.jsonl (one record per step), config.json, done.json if finished."""
    run.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"step": s, "examples_seen": 16 * s, "f1": f1, "exact": f1 - 5, "HasAns_f1": f1 + 1,
                         "NoAns_f1": f1 - 1, "best_f1": f1 + 2, "train_loss": None if s == 0 else 5 - f1 / 25})
             for s, f1 in f1_by_step.items()]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (run / "config.json").write_text(json.dumps(config or {}))
    if finished:
        (run / "done.json").write_text("{}")


def make_comparison(root: Path, curves: dict[str, dict[int, dict[int, float]]]) -> Path:
    for arm, by_seed in curves.items():
        for seed, f1_by_step in by_seed.items():
            write_run(root / arm / f"seed-{seed}", f1_by_step)
    return root


# Seeds differ by 20 F1 points; reinit adds 1.0/1.5/2.0 on top of its seed's baseline at every step >= 10.
SEED_LEVEL = {0: 40.0, 1: 60.0, 2: 80.0}
GAIN = {0: 1.0, 1: 1.5, 2: 2.0}
STEPS = [0, 10, 20, 30, 40, 80, 120, 160]


def paired_curves() -> dict[str, dict[int, dict[int, float]]]:
    base = {seed: {s: level + s / 10 for s in STEPS} for seed, level in SEED_LEVEL.items()}
    arm = {seed: {s: v + (GAIN[seed] if s else 0.0) for s, v in curve.items()} for seed, curve in base.items()}
    return {"baseline": base, "reinit": arm}


def test_parse_arms_and_seeds() -> None:
    arms = parse_arms("baseline,reinit,attention_output,both=ffn_output+attention_output")
    assert arms == [Arm("baseline", ()), Arm("reinit", ("ffn_output",)), Arm("attention_output", ("attention_output",)),
                    Arm("both", ("ffn_output", "attention_output"))]
    assert parse_seeds("0, 1,2") == [0, 1, 2]
    for bad in ("reinit", "baseline", "baseline,reinit,reinit", "baseline=ffn_output,reinit", "baseline,a/b"):
        with pytest.raises(ConfigError):
            parse_arms(bad)
    for bad in ("", "0,0", "a,b", "-1"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_summary_aligns_by_step_and_pairs_by_seed(tmp_path: Path) -> None:
    curves = paired_curves()
    del curves["reinit"][1][30]  # a step missing from one run is dropped everywhere, not misaligned
    summary = summarize(make_comparison(tmp_path, curves))
    assert summary["arms"] == ["baseline", "reinit"] and summary["seeds"] == [0, 1, 2] and summary["n_seeds"] == 3
    assert [p["step"] for p in summary["points"]] == [0, 10, 20, 40, 80, 120, 160]
    assert summary["unaligned_steps"] == [30]
    assert summary["points"][2]["examples_seen"] == 320
    # Early window: 0 < step <= 0.25 x 160 = 40.
    assert summary["early_window"]["steps"] == [10, 20, 40]
    gain = summary["last_point_gain"]["reinit"]["f1"]
    half = T_975_DF2 * 0.5 / math.sqrt(3)  # gains 1.0, 1.5, 2.0: mean 1.5, std 0.5
    assert gain["mean"] == pytest.approx(1.5) and gain["ci_low"] == pytest.approx(1.5 - half)
    assert summary["early_gain"]["reinit"]["f1"]["per_seed"] == pytest.approx([1.0, 1.5, 2.0])
    # The paired test sees the gain; comparing the arms' own intervals (unpaired) could not.
    final = summary["points"][-1]["arms"]
    assert gain["ci_low"] > 0
    assert final["baseline"]["f1"]["ci_high"] > final["reinit"]["f1"]["ci_low"]
    assert final["baseline"]["f1"]["std"] == pytest.approx(20.0)
    assert summary["points"][0]["arms"]["baseline"]["train_loss"]["n"] == 0  # no loss before training
    json.dumps(summary, allow_nan=False)  # summary.json is strict JSON


def test_summary_uses_only_seeds_finished_in_every_arm(tmp_path: Path) -> None:
    make_comparison(tmp_path, paired_curves())
    (tmp_path / "reinit" / "seed-2" / "done.json").unlink()
    summary = summarize(tmp_path)
    assert summary["seeds"] == [0, 1]
    reasons = {Path(r["run"]).relative_to(tmp_path).as_posix(): r["reason"] for r in summary["excluded_runs"]}
    assert reasons == {"baseline/seed-2": "seed incomplete in another arm", "reinit/seed-2": "unfinished"}


def test_summary_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such comparison"):
        summarize(tmp_path / "missing")
    write_run(tmp_path / "reinit" / "seed-0", {0: 1.0, 10: 2.0})
    with pytest.raises(DataError, match="no 'baseline' runs"):
        summarize(tmp_path)
    write_run(tmp_path / "baseline" / "seed-0", {0: 1.0, 10: 2.0}, finished=False)
    with pytest.raises(DataError, match="no seed has a finished run"):
        summarize(tmp_path)
    (tmp_path / "baseline" / "seed-0" / "metrics.jsonl").write_text('{"step": 0}\n{"step": 1\n')
    with pytest.raises(DataError, match=r"metrics.jsonl, line 2"):
        read_metrics(tmp_path / "baseline" / "seed-0")


def test_read_metrics_keeps_the_last_record_of_a_repeated_step(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 0, "f1": 1}\n{"step": 5, "f1": 2}\n{"step": 5, "f1": 3}\n')
    assert {s: r["f1"] for s, r in read_metrics(tmp_path).items()} == {0: 1, 5: 3}


def test_early_window_definition_and_fallback() -> None:
    assert early_window([0, 10, 20, 100], 20) == ([10, 20], "evaluation points with 0 < step <= 20")
    steps, definition = early_window([0, 10, 20, 100], 25)  # an end that is no evaluation point is said so
    assert steps == [10, 20] and "not an evaluation point" in definition
    steps, definition = early_window([0, 50, 100], 25)
    assert steps == [50] and "stands in" in definition
    with pytest.raises(ConfigError):
        early_window([0, 10], 0)


@dataclasses.dataclass
class FakeConfig:
    """The fields of TrainConfig that the comparison touches, plus one shared hyper-parameter."""

    seed: int = 0
    reinit: tuple[str, ...] = ()
    output_dir: str = "runs"
    resume_from_checkpoint: str | None = None
    learning_rate: float = 3e-5
    seeds: tuple[int, ...] = (0, 1, 2)


class FakeTrainer:
    """Records calls and writes a finished run whose F1 depends on seed and arm."""

    def __init__(self) -> None:
        self.calls: list[FakeConfig] = []

    def __call__(self, cfg: FakeConfig) -> None:
        self.calls.append(cfg)
        f1 = {s: 50 + 10 * cfg.seed + s / 10 + (2.0 + cfg.seed / 4 if cfg.reinit and s else 0) for s in (0, 10, 40)}
        write_run(Path(cfg.output_dir), f1, config={**dataclasses.asdict(cfg), "device": f"cpu-{len(self.calls)}"})


def test_run_comparison_is_seed_major_and_paired(tmp_path: Path) -> None:
    trainer = FakeTrainer()
    summary = run_comparison(FakeConfig(), "baseline,reinit", "0,1", tmp_path, train_fn=trainer, log=lambda _: None)
    assert [(c.seed, c.reinit) for c in trainer.calls] == [(0, ()), (0, ("ffn_output",)), (1, ()), (1, ("ffn_output",))]
    assert {c.learning_rate for c in trainer.calls} == {3e-5}
    assert trainer.calls[1].output_dir == str(tmp_path / "reinit" / "seed-0")
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["last_point_gain"]["reinit"]["f1"]["per_seed"] == pytest.approx([2.0, 2.25])


def test_run_comparison_writes_and_logs_from_the_main_process_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")  # another process of `accelerate launch`: it trains, nothing more
    trainer, lines = FakeTrainer(), []
    assert run_comparison(FakeConfig(), "baseline,reinit", "0", tmp_path, train_fn=trainer, log=lines.append) == {}
    assert len(trainer.calls) == 2 and lines == []
    assert not (tmp_path / "comparison.json").exists() and not (tmp_path / "summary.json").exists()
    monkeypatch.setenv("RANK", "0")
    summary = run_comparison(FakeConfig(), "baseline,reinit", "0", tmp_path, train_fn=FakeTrainer(), log=lines.append)
    assert (tmp_path / "summary.json").is_file() and summary["n_seeds"] == 1 and len(lines) == 2


def test_run_comparison_skips_finished_and_resumes_unfinished(tmp_path: Path) -> None:
    first = FakeTrainer()
    run_comparison(FakeConfig(seeds=(0, 1)), "baseline,reinit", "0,1", tmp_path, train_fn=first, log=lambda _: None)
    (tmp_path / "reinit" / "seed-1" / "done.json").unlink()  # interrupted after writing its config
    second = FakeTrainer()
    run_comparison(FakeConfig(seeds=(0, 1)), "baseline,reinit", "0,1", tmp_path, train_fn=second, log=lambda _: None)
    assert [(c.seed, c.reinit, c.resume_from_checkpoint) for c in second.calls] == [(1, ("ffn_output",), "latest")]
    third = FakeTrainer()  # adding a seed later (the sweep's seed list changes) keeps the finished runs
    summary = run_comparison(FakeConfig(seeds=(0, 1, 2)), "baseline,reinit", "0,1,2", tmp_path, train_fn=third,
                             log=lambda _: None)
    assert [(c.seed, c.reinit) for c in third.calls] == [(2, ()), (2, ("ffn_output",))]
    assert summary["seeds"] == [0, 1, 2]


def test_run_comparison_refuses_a_changed_config_before_training(tmp_path: Path) -> None:
    run_comparison(FakeConfig(), "baseline,reinit", "0", tmp_path, train_fn=FakeTrainer(), log=lambda _: None)
    trainer = FakeTrainer()
    with pytest.raises(ConfigError, match=r"learning_rate=3e-05 but the comparison asks for 0\.0001") as caught:
        run_comparison(FakeConfig(learning_rate=1e-4), "baseline,reinit", "0,1", tmp_path, train_fn=trainer,
                       log=lambda _: None)
    assert trainer.calls == [] and "\n" not in str(caught.value)


def test_run_comparison_rejects_an_unknown_target_before_training(tmp_path: Path) -> None:
    from albertzero_utils.profiles import resolve

    trainer = FakeTrainer()
    with pytest.raises(ConfigError, match="arm 'bogus': .*unknown target 'bogus'"):
        run_comparison(resolve("smoke"), "baseline,bogus", "0", tmp_path, train_fn=trainer, log=lambda _: None)
    assert trainer.calls == [] and not (tmp_path / "comparison.json").exists()


TINY = ["--profile", "smoke", "--seeds", "0,1", "--max-steps", "2", "--batch-size", "4", "--max-train-samples", "16",
        "--max-eval-samples", "8", "--eval-batch-size", "8", "--max-seq-length", "64", "--doc-stride", "32",
        "--max-query-length", "16"]


@pytest.fixture()
def one_torch_thread():
    """Tiny models run far faster single-threaded on a shared CPU (no thread oversubscription)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_compare_command_end_to_end_on_smoke(tmp_path: Path, capsys, one_torch_thread) -> None:
    """Real engine: 2 seeds x 2 arms, then a rerun that resumes the one unfinished run and skips the rest."""
    from albertzero_utils.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", *TINY, "--output-dir", str(out)]) == 0
    first = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arms"] == ["baseline", "reinit"] and summary["seeds"] == [0, 1]
    assert [p["step"] for p in summary["points"]] == [0, 1, 2]
    run_config = json.loads((out / "baseline" / "seed-0" / "config.json").read_text())
    end = window_end_step(0.4, run_config["steps_per_epoch"], 2)  # the smoke plan: 0.4 epochs
    assert run_config["early_window_steps"] == summary["early_window"]["end_step"] == end
    assert summary["early_window"]["steps"] == list(range(1, end + 1))
    assert "With 2 seeds" in first and "final f1" in first and "pre-registered in comparison.json" in first
    assert summary["verdict"]["call"] in ("claim-supported", "larger-than-claim", "smaller-than-claim",
                                          "claim-ruled-out", "inconclusive")
    plan = json.loads((out / "comparison.json").read_text())["plan"]
    assert plan["seeds"] == [0, 1] and plan["primary_metrics"] == ["HasAns_span_f1"]
    records = [json.loads(line) for line in (out / "reinit" / "seed-0" / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= r["abstain_rate"] <= 100.0 for r in records)  # in every evaluation record
    assert summary["initial_reference"]["step"] == 0  # the models as initialised, in no gain
    for key in ("early_auc_gain", "final_gain"):
        assert {"mean", "low", "high"} <= set(summary[key]) and summary[key]["n"] == 2
    assert summary["final_gain"]["eval_set"] == "subset" and "seeds_needed" in summary["power"]
    for name in ("early_gain.png", "loss_curves.png", "hasans_noans.png"):
        assert str(out / name) in first and (out / name).stat().st_size > 0
    configs = {arm: json.loads((out / arm / "seed-1" / "config.json").read_text()) for arm in ("baseline", "reinit")}
    assert (configs["baseline"]["reinit"], configs["reinit"]["reinit"]) == ([], ["ffn_output"])
    assert {k for k in configs["baseline"] if configs["baseline"][k] != configs["reinit"].get(k)} <= {
        "reinit", "output_dir", "reinit_parameters", "git_commit"}  # paired: nothing else differs

    (out / "reinit" / "seed-1" / "done.json").unlink()  # as if interrupted
    assert main(["compare", *TINY, "--output-dir", str(out)]) == 0
    second = capsys.readouterr().out
    assert second.count("skipped") == 3 and "[reinit seed 1] resuming" in second
    assert (out / "reinit" / "seed-1" / "done.json").is_file()

    assert main(["compare", *TINY, "--learning-rate", "0.0005", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "learning_rate=0.001 but the comparison asks for 0.0005" in err[0]


def test_the_summary_is_judged_on_the_runs_headline_metric(tmp_path) -> None:
    from albertzero_utils.stats import conclusion

    for arm in ("baseline", "reinit"):
        for seed in (0, 1):
            run = tmp_path / arm / f"seed-{seed}"
            run.mkdir(parents=True)
            (run / "config.json").write_text(json.dumps({"headline_metric": "HasAns_span_f1"}))
            records = [{"step": s, "examples_seen": 16 * s, "train_loss": 1.0, "f1": 30.0, "exact": 30.0,
                        "HasAns_f1": 0.0, "NoAns_f1": 100.0, "best_f1": 30.0,
                        "HasAns_span_f1": 10.0 * s + (3.0 if arm == "reinit" else 0.0) + seed}
                       for s in (1, 2, 4)]
            (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            (run / "done.json").write_text("{}")
    summary = summarize(tmp_path)
    assert summary["headline_metric"] == "HasAns_span_f1"
    assert "HasAns_span_f1" in conclusion(summary) and "+3.00" in conclusion(summary)
    assert "in f1 is +0.00" in conclusion(summary, "f1")
