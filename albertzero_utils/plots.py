"""Figures of a comparison summary (as written by `results.summarize`): early gain, loss, HasAns/NoAns.

Figures are built with `matplotlib.figure.Figure` directly, not pyplot: no GUI backend is needed (PNG
goes through Agg), nothing global is left open, and a returned Figure still displays in a notebook.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .fileio import atomic_write
from .stats import headline

METRIC_LABELS = {
    "f1": "F1 (%)",
    "exact": "exact match (%)",
    "HasAns_f1": "HasAns F1 (%)",
    "NoAns_f1": "NoAns F1 (%)",
    "best_f1": "best-threshold F1 (%)",
    "HasAns_span_f1": "span F1 on answerable questions (%)",
    "abstain_rate": "abstention rate (%)",
    "train_loss": "train loss (mean CE of start, end, answerable)",
}
FIGURE_FILES = {"early_gain": "early_gain.png", "loss_curves": "loss_curves.png", "hasans_noans": "hasans_noans.png"}
X_LABEL = "examples seen"


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _x(summary: Mapping[str, Any]) -> list[float]:
    """Examples seen at each evaluation point (the step when a run did not record it)."""
    return [_nan(p["examples_seen"] if p["examples_seen"] is not None else p["step"]) for p in summary["points"]]


def _band_note(summary: Mapping[str, Any]) -> str:
    """What the figure can support, stated on it: the number of seeds and what the bands are."""
    n = summary["n_seeds"]
    if n < 2:
        return "n = 1 seed: no confidence interval is possible, a single run supports no claim"
    return f"n = {n} seeds; bands: {summary['confidence']:.0%} t-interval over seeds"


def _color(summary: Mapping[str, Any], arm: str) -> str:
    """One colour per arm in every panel (its place in the comparison's arm list)."""
    return f"C{list(summary['arms']).index(arm) % 10}"


def _draw(ax: Axes, x: list[float], stats: list[Mapping[str, Any]], label: str, color: str | None = None) -> None:
    """A mean line with its CI band (no band where the interval is undefined)."""
    line, = ax.plot(x, [_nan(s["mean"]) for s in stats], marker="o", markersize=3, label=label, color=color)
    low, high = [_nan(s["ci_low"]) for s in stats], [_nan(s["ci_high"]) for s in stats]
    if any(not math.isnan(v) for v in low):
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)


def _clip_percent(ax: Axes) -> None:
    """Keep a percentage axis within [0, 100]: a t-interval over few seeds knows nothing of that range, so
    its band can run past it; the band is cut at the edge of what a score can be."""
    low, high = ax.get_ylim()
    if low < 0.0 or high > 100.0:
        ax.set_ylim(max(low, 0.0), min(high, 100.0))


def _draw_arms(ax: Axes, summary: Mapping[str, Any], metric: str) -> None:
    x = _x(summary)
    for arm in summary["arms"]:
        _draw(ax, x, [p["arms"][arm][metric] for p in summary["points"]], arm, _color(summary, arm))
    label = METRIC_LABELS.get(metric, metric)
    if "(%)" in label:
        _clip_percent(ax)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")


def _shade_early(ax: Axes, summary: Mapping[str, Any], label: str | None) -> None:
    """Shade the early window: from the start of training to its last evaluation point; a post hoc window
    (one chosen after the plan) is drawn hatched over it, and labelled so."""
    early = [xi for xi, p in zip(_x(summary), summary["points"], strict=True) if p["early"]]
    if early:
        ax.axvspan(0.0, early[-1], color="0.85", zorder=0, label=label)
    post_hoc = (summary.get("post_hoc") or {}).get("early_window")
    if post_hoc and post_hoc["steps"]:
        end = next(xi for xi, p in zip(_x(summary), summary["points"], strict=True) if p["step"] == post_hoc["steps"][-1])
        ax.axvspan(0.0, end, fill=False, hatch="//", edgecolor="0.5", zorder=0,
                   label=None if label is None else f"post hoc window ({post_hoc['epochs']:g} epochs; decides nothing)")


def _window_label(summary: Mapping[str, Any]) -> str:
    window = summary["early_window"]
    if window.get("epochs") is None:
        return "early window (first quarter of the steps: not recorded by the runs)"
    registered = "pre-registered" if window.get("pre_registered") else "not pre-registered"
    return f"early window (first {window['epochs']:g} epochs, {registered})"


def _call_note(summary: Mapping[str, Any], metric: str) -> str:
    """What the verdict called, for the figure's title; a metric outside the plan is marked post hoc."""
    verdict = summary.get("verdict")
    if not isinstance(verdict, Mapping) or "call" not in verdict:
        return ""
    note = f"pre-registered call: {verdict['call']}" if verdict.get("pre_registered") else f"call: {verdict['call']}"
    if metric not in verdict.get("primary_metrics", [metric]):
        note += f"; {metric} is POST HOC here (not a planned metric: decides nothing)"
    if summary.get("post_hoc"):
        note += f"; POST HOC: {summary['post_hoc']['call']} (decides nothing)"
    return note


def _title(text: str, subject: str | None) -> str:
    """`text`, then the model and profile the figure is about (e.g. "tiny-random ALBERT, smoke profile")."""
    return f"{text}\n{subject}" if subject else text


def _save(fig: Figure, path: str | os.PathLike | None) -> None:
    """Write the PNG atomically (temp file, then os.replace)."""
    if path is not None:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def plot_early_gain(summary: Mapping[str, Any], path: str | os.PathLike | None = None,
                    metric: str | None = None, subject: str | None = None) -> Figure:
    """Top: `metric` (default: the headline) per arm with CI bands; middle: paired gain with CI, y = 0 and the
    claimed gain; bottom: the abstention rate per arm (a flip between answering all and abstaining on all
    shows there). `subject` names the model and profile in the title."""
    metric = metric or headline(summary)
    fig = Figure(figsize=(8, 9.5), layout="constrained")
    top, middle, bottom = fig.subplots(3, 1, sharex=True, height_ratios=[3, 2, 1.5])
    label = METRIC_LABELS.get(metric, metric)
    _shade_early(top, summary, _window_label(summary))
    _draw_arms(top, summary, metric)
    note = _call_note(summary, metric)
    top.set_title(_band_note(summary) + (f"\n{note}" if note else ""), fontsize="medium")
    x = _x(summary)
    _shade_early(middle, summary, None)
    for arm in (a for a in summary["arms"] if a != summary["baseline"]):
        _draw(middle, x, [p["gains"][arm][metric] for p in summary["points"]], f"{arm} - {summary['baseline']}",
              _color(summary, arm))
    middle.axhline(0.0, color="black", linewidth=0.8)
    unit = "points" if "(%)" in label else "difference"
    claim = (summary.get("verdict") or {}).get("claim_gain") if isinstance(summary.get("verdict"), Mapping) else None
    if claim is not None and unit == "points":
        middle.axhline(claim, color="black", linewidth=0.8, linestyle="--", label=f"claimed +{claim:g}")
    middle.set_ylabel(f"paired gain ({unit})")
    middle.grid(alpha=0.3)
    middle.legend(loc="best", fontsize="small")
    _shade_early(bottom, summary, None)
    if all("abstain_rate" in p["arms"][summary["baseline"]] for p in summary["points"]):
        _draw_arms(bottom, summary, "abstain_rate")
    bottom.set_ylabel(METRIC_LABELS["abstain_rate"], fontsize="small")
    bottom.set_xlabel(X_LABEL)
    fig.suptitle(_title(f"Re-init vs baseline during fine-tuning\n{label[:1].upper()}{label[1:]} on the "
                        "evaluation set", subject))
    _save(fig, path)
    return fig


def plot_loss_curves(summary: Mapping[str, Any], path: str | os.PathLike | None = None,
                     subject: str | None = None) -> Figure:
    """Training loss per arm vs examples seen, with CI bands."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    _draw_arms(ax, summary, "train_loss")
    ax.set_xlabel(X_LABEL)
    ax.set_title(_band_note(summary), fontsize="medium")
    fig.suptitle(_title("Training loss by arm", subject))
    _save(fig, path)
    return fig


def plot_hasans_noans(summary: Mapping[str, Any], path: str | os.PathLike | None = None,
                      subject: str | None = None) -> Figure:
    """Two panels: F1 on answerable (HasAns) and on unanswerable (NoAns) questions, per arm; bands that run
    past [0, 100] are cut at the axis."""
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    panels = (("HasAns_f1", "answerable questions (HasAns)"), ("NoAns_f1", "unanswerable questions (NoAns)"))
    for ax, (metric, title) in zip(fig.subplots(1, 2, sharex=True), panels, strict=True):
        _draw_arms(ax, summary, metric)
        ax.set_xlabel(X_LABEL)
        ax.set_title(title, fontsize="medium")
    fig.suptitle(_title(f"F1 by question type and arm ({_band_note(summary)}; axes cut at 0 and 100)", subject))
    _save(fig, path)
    return fig


def subject_of(summary: Mapping[str, Any], compare_dir: str | os.PathLike) -> str | None:
    """What a comparison's figures are of, from its first run's config.json (None without one): the model
    (a named embedded model as ``NAME ALBERT``, plus `` (pretrained)`` when it has weights; ``... (random
    weights)`` for any other config-only model) and the profile."""
    from .results import run_dir
    from .modeling import has_weights
    from .paths import MODEL_LABELS, NAMED_MODELS, model_location

    path = run_dir(compare_dir, summary["arms"][0], summary["seeds"][0]) / "config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    model = config["model"]
    named = {str(where.resolve()): name for name, where in NAMED_MODELS.items() if isinstance(where, Path)}
    name = model if model in MODEL_LABELS else named.get(str(Path(model_location(model)).resolve()))
    if name is not None:
        name = MODEL_LABELS[name] + (" (pretrained)" if has_weights(model) else "")
    elif not has_weights(model):
        name = f"{os.path.relpath(model_location(model))} (random weights)"
    else:
        name = os.path.relpath(model) if os.path.isdir(model) else model
    return f"{name}, {config['profile']} profile"


def write_figures(summary: Mapping[str, Any], out_dir: str | os.PathLike, subject: str | None = None) -> list[Path]:
    """Draw the three standard figures into `out_dir` (titles naming `subject`); return the paths written."""
    out = Path(out_dir)
    drawers = {"early_gain": plot_early_gain, "loss_curves": plot_loss_curves, "hasans_noans": plot_hasans_noans}
    written = []
    for key, draw in drawers.items():
        draw(summary, out / FIGURE_FILES[key], subject=subject)
        written.append(out / FIGURE_FILES[key])
    return written
