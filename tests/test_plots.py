"""Figures of a comparison summary: files written, titles/labels/units, n seeds stated, early window shaded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from albertzero_utils.cli import main
from albertzero_utils.results import summarize
from albertzero_utils.plots import (
    plot_early_gain,
    plot_hasans_noans,
    plot_loss_curves,
    subject_of,
    write_figures,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_comparison(root: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> Path:
    """Finished synthetic runs: after step 0, reinit is 2 + seed/2 points above its seed's baseline."""
    for arm, bonus in (("baseline", 0.0), ("reinit", 2.0)):
        for seed in seeds:
            run = root / arm / f"seed-{seed}"
            run.mkdir(parents=True)
            gain = bonus + seed / 2 if bonus else 0.0
            records = [{"step": s, "examples_seen": 32 * s, "f1": 40 + 5 * seed + s / 10 + (gain if s else 0.0),
                        "exact": 30.0, "HasAns_f1": 20 + s / 5, "NoAns_f1": 70 - s / 20, "best_f1": 50.0,
                        # the baseline flips from answering everything to abstaining on everything
                        "abstain_rate": (100.0 if s >= 100 else 0.0) if not bonus else 40.0,
                        "train_loss": None if s == 0 else 4 - s / 100} for s in (0, 25, 50, 100, 200)]
            (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            (run / "done.json").write_text("{}")
    return root


@pytest.fixture()
def summary(tmp_path: Path) -> dict:
    return summarize(make_comparison(tmp_path / "cmp"))


def test_early_gain_figure(summary: dict, tmp_path: Path) -> None:
    fig = plot_early_gain(summary, tmp_path / "early_gain.png")
    assert isinstance(fig, Figure)
    assert (tmp_path / "early_gain.png").read_bytes()[:8] == PNG_MAGIC
    top, bottom, abstain = fig.axes
    assert top.get_ylabel() == "F1 (%)" and abstain.get_xlabel() == "examples seen"
    # the abstention rate per arm: the baseline's flip from 0% to 100% is drawn, not hidden in F1
    assert [line.get_label() for line in abstain.get_lines()] == ["baseline", "reinit"]
    assert list(abstain.get_lines()[0].get_ydata()) == [0, 0, 0, 100, 100]
    assert "abstention rate" in abstain.get_ylabel()
    assert "points" in bottom.get_ylabel()
    assert "n = 3 seeds" in top.get_title() and "95% t-interval" in top.get_title()
    assert "Re-init vs baseline" in fig.get_suptitle()
    assert [line.get_label() for line in top.get_lines()] == ["baseline", "reinit"]
    gain_line, zero_line, claim_line = bottom.get_lines()
    assert list(claim_line.get_ydata()) == [2, 2] and claim_line.get_label() == "claimed +2"
    assert gain_line.get_label() == "reinit - baseline"
    assert list(gain_line.get_xdata()) == [0, 800, 1600, 3200, 6400]
    assert list(gain_line.get_ydata())[1:] == pytest.approx([2.5] * 4)  # 2 + mean(seed / 2)
    assert list(zero_line.get_ydata()) == [0, 0]  # the y = 0 reference
    shaded = [p for p in top.patches if p.get_label().startswith("early window")]
    assert len(shaded) == 1 and shaded[0].get_x() == 0  # from the start of training ...
    assert shaded[0].get_x() + shaded[0].get_width() == pytest.approx(1600)  # ... to step 50 = 0.25 x 200 steps
    assert "not recorded by the runs" in shaded[0].get_label()  # these runs predate windows in epochs
    assert len(top.collections) == 2  # one CI band per arm


def test_loss_and_hasans_noans_figures(summary: dict, tmp_path: Path) -> None:
    loss = plot_loss_curves(summary, tmp_path / "loss.png")
    assert loss.axes[0].get_xlabel() == "examples seen" and "train loss" in loss.axes[0].get_ylabel()
    assert (tmp_path / "loss.png").stat().st_size > 1000
    split = plot_hasans_noans(summary, tmp_path / "split.png")
    assert [ax.get_ylabel() for ax in split.axes] == ["HasAns F1 (%)", "NoAns F1 (%)"]
    assert "n = 3 seeds" in split.get_suptitle()
    assert (tmp_path / "split.png").read_bytes()[:8] == PNG_MAGIC


def test_one_seed_figures_draw_no_band_and_say_why(tmp_path: Path) -> None:
    fig = plot_early_gain(summarize(make_comparison(tmp_path / "one", seeds=(0,))))
    top = fig.axes[0]
    assert len(top.collections) == 0 and "n = 1 seed" in top.get_title() and "no confidence interval" in top.get_title()


def test_write_figures_and_plot_command(tmp_path: Path, capsys) -> None:
    compare_dir = make_comparison(tmp_path / "cmp")
    assert [p.name for p in write_figures(summarize(compare_dir), tmp_path / "figs")] == [
        "early_gain.png", "loss_curves.png", "hasans_noans.png"]
    assert main(["plot", str(compare_dir)]) == 0
    printed = capsys.readouterr().out.split()
    for name in ("summary.json", "early_gain.png", "loss_curves.png", "hasans_noans.png"):
        assert str(compare_dir / name) in printed and (compare_dir / name).stat().st_size > 0
    assert json.loads((compare_dir / "summary.json").read_text())["n_seeds"] == 3


def test_plot_command_without_runs_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["plot", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("albertzero plot: error:")


def test_titles_name_the_subject_and_percent_axes_stay_within_0_and_100(summary: dict) -> None:
    subject = "tiny-random ALBERT, smoke profile"
    assert subject in plot_early_gain(summary, subject=subject).get_suptitle()
    assert subject in plot_loss_curves(summary, subject=subject).get_suptitle()
    wide = json.loads(json.dumps(summary))  # a band far outside [0, 100], as a t-interval over 3 seeds can give
    for point in wide["points"]:
        point["arms"]["baseline"]["NoAns_f1"].update(mean=50.0, ci_low=-81.0, ci_high=131.0)
    split = plot_hasans_noans(wide, subject=subject)
    assert subject in split.get_suptitle() and "cut at 0 and 100" in split.get_suptitle()
    assert split.axes[1].get_ylim() == (0.0, 100.0)


@pytest.mark.parametrize(("model", "profile", "expected"), [
    ("data/tiny-albert", "smoke", "tiny-random ALBERT, smoke profile"),
    ("tiny-random", "smoke", "tiny-random ALBERT, smoke profile"),
    ("albert/albert-base-v2", "colab", "albert/albert-base-v2, colab profile"),
])
def test_figures_name_the_model_and_profile_of_the_comparison(tmp_path: Path, model: str, profile: str,
                                                              expected: str) -> None:
    from albertzero_utils import paths

    compare_dir = make_comparison(tmp_path / "cmp")
    summary = summarize(compare_dir)
    assert subject_of(summary, compare_dir) is None  # no config.json: no subject
    location = str(paths.REPO_ROOT / model) if model.startswith("data/") else model
    (compare_dir / "baseline" / "seed-0" / "config.json").write_text(json.dumps({"model": location, "profile": profile}))
    assert subject_of(summary, compare_dir) == expected


def test_a_post_hoc_window_and_metric_are_labelled_on_the_figure_and_decide_nothing(tmp_path: Path, capsys) -> None:
    compare_dir = make_comparison(tmp_path / "cmp")
    for run in compare_dir.glob("*/seed-*"):  # runs that planned 0.25 epochs of 100 steps: steps 1-25
        (run / "config.json").write_text(json.dumps({"early_window_epochs": 0.25, "steps_per_epoch": 100,
                                                     "headline_metric": "f1", "model": "tiny-random",
                                                     "profile": "smoke"}))
    planned = summarize(compare_dir)
    assert planned["early_window"]["steps"] == [25] and planned["post_hoc"] is None
    later = summarize(compare_dir, early_window_epochs=1.0, metrics=["best_f1"])
    assert later["verdict"]["call"] == planned["verdict"]["call"]  # the call stays the planned one
    assert later["early_window"] == planned["early_window"]
    post_hoc = later["post_hoc"]
    assert post_hoc["label"] == "post hoc" and post_hoc["early_window"]["steps"] == [25, 50, 100]
    assert post_hoc["metrics"] == ["best_f1"] and "POST HOC" in later["verdict"]["text"]
    fig = plot_early_gain(later, metric="best_f1")
    labels = [p.get_label() for p in fig.axes[0].patches]
    assert any(label.startswith("post hoc window (1 epochs") for label in labels)
    assert "best_f1 is POST HOC here" in fig.axes[0].get_title() and "POST HOC:" in fig.axes[0].get_title()
    assert main(["plot", str(compare_dir), "--early-window-epochs", "1"]) == 0
    assert "POST HOC" in capsys.readouterr().out
    assert json.loads((compare_dir / "summary.json").read_text())["post_hoc"]["early_window"]["epochs"] == 1.0
