"""Notebook-only views: plain-text tables, answers highlighted in their context, windows over a context.

Nothing here is used by training or evaluation; each function serves a chapter notebook and is independent
of the others. HTML views are :class:`RichText` objects, which Jupyter renders as HTML and terminals (and
nbval's text comparison) as plain text, so no IPython import is needed.
"""
from __future__ import annotations

import bisect
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np

from .features import FeatureConfig, build_eval_features, build_train_features, in_memory_features

_GOLD_STYLE = "background:#b7e4c7;border-radius:3px;padding:0 2px"
_PLAUSIBLE_STYLE = "background:#ffe8a3;border-bottom:2px dashed #c77d00;padding:0 2px"


# ------------------------------------------------------------------------------------------- tables
def _cell(value: Any, fmt: str | None, max_width: int | None) -> str:
    if value is None:
        text = "-"
    elif fmt is not None:
        text = format(value, fmt)
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value).replace("\n", " ")
    return text if max_width is None or len(text) <= max_width else text[:max_width - 1] + "…"


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                 formats: Mapping[str, str] | None = None, max_width: int | None = None) -> str:
    """A fixed-width text table of ``rows`` (numbers right-aligned; floats to 4 significant digits by default).

    ``formats`` maps a column to a format spec (``",d"``, ``".3f"``...); ``None`` values print as ``-``;
    cells longer than ``max_width`` characters are cut and end with ``…``.
    """
    columns = list(columns or (rows[0].keys() if rows else []))
    formats = formats or {}
    cells = [[_cell(row.get(col), formats.get(col), max_width) for col in columns] for row in rows]
    numeric = [all(isinstance(row.get(col), (int, float, np.number)) and not isinstance(row.get(col), bool)
                   for row in rows if row.get(col) is not None) for col in columns]
    widths = [max([len(col), *(len(line[i]) for line in cells)]) for i, col in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(c) for c in cells)])


# ----------------------------------------------------------------------------------- example views
@dataclass(frozen=True)
class RichText:
    """HTML for Jupyter (``_repr_html_``) with a plain-text twin for terminals and text diffs."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def _marked(context: str, start: int, end: int, html_style: str, text_marks: tuple[str, str]) -> tuple[str, str]:
    """``context`` with ``[start, end)`` wrapped in a styled <mark> (HTML, escaped) and in text markers."""
    before, span, after = context[:start], context[start:end], context[end:]
    as_html = f'{html.escape(before)}<mark style="{html_style}">{html.escape(span)}</mark>{html.escape(after)}'
    return as_html, f"{before}{text_marks[0]}{span}{text_marks[1]}{after}"


def _excerpt(context: str, start: int, end: int, max_chars: int | None) -> tuple[str, int, int]:
    """At most ``max_chars`` of ``context`` around ``[start, end)`` (cut ends marked ``…``), and the span in it."""
    if max_chars is None or len(context) <= max_chars:
        return context, start, end
    lo = max(0, min((start + end - max_chars) // 2, len(context) - max_chars))
    hi = lo + max_chars
    prefix, suffix = ("…" if lo > 0 else ""), ("…" if hi < len(context) else "")
    return prefix + context[lo:hi] + suffix, start - lo + len(prefix), min(end, hi) - lo + len(prefix)


def render_example(example: Mapping[str, Any], max_chars: int | None = None) -> RichText:
    """A SQuAD 2.0 question with its context; the first gold answer (green, ``[[...]]``) or, for an
    unanswerable question, its first plausible answer (amber, dashed, ``<<...>>``) highlighted.

    ``max_chars`` shortens a long context to an excerpt centred on the highlighted span.
    """
    gold, plausible = example["answers"], example.get("plausible_answers") or {"text": [], "answer_start": []}
    if gold["text"]:
        kind, spans, style, marks = "answerable", gold, _GOLD_STYLE, ("[[", "]]")
    else:
        kind, spans, style, marks = "unanswerable", plausible, _PLAUSIBLE_STYLE, ("<<", ">>")
    start = spans["answer_start"][0] if spans["text"] else -1
    if start >= 0:
        context, a, b = _excerpt(example["context"], start, start + len(spans["text"][0]), max_chars)
        body_html, body_text = _marked(context, a, b, style, marks)
    else:
        context = _excerpt(example["context"], 0, 0, max_chars)[0]
        body_html, body_text = html.escape(context), context
    label = "answer" if gold["text"] else "plausible (wrong) answer"
    shown = spans["text"][0] if spans["text"] else "(none given)"
    head = f"{example['title']} | {example['id']} | {kind}"
    text = f"{head}\nQ: {example['question']}\n{label}: {shown}\n{body_text}"
    as_html = (f'<div style="border:1px solid #ccc;border-radius:6px;padding:8px;margin:4px 0;line-height:1.5">'
               f'<div style="color:#666;font-size:90%">{html.escape(head)}</div>'
               f'<div><b>Q:</b> {html.escape(example["question"])}</div>'
               f'<div><b>{label}:</b> {html.escape(shown)}</div><div>{body_html}</div></div>')
    return RichText(as_html, text)


# ------------------------------------------------------------------------------------- data counts
def squad_counts(examples: datasets.Dataset) -> dict[str, int]:
    """Articles, paragraphs and questions, split into answerable / unanswerable (and with a plausible answer)."""
    answerable = [bool(spans["text"]) for spans in examples["answers"]]
    plausible = [bool(spans["text"]) for spans in examples["plausible_answers"]]
    return {
        "articles": len(set(examples["title"])),
        "paragraphs": len(set(zip(examples["title"], examples["context"]))),
        "questions": len(answerable),
        "answerable": sum(answerable),
        "unanswerable": len(answerable) - sum(answerable),
        "unanswerable_with_plausible_answer": sum(p and not a for a, p in zip(answerable, plausible)),
    }


def paired_questions(examples: datasets.Dataset) -> tuple[int, int]:
    """Row indices of an answerable and an unanswerable question on the same context, the longest such one.

    On that context: the answerable question whose first answer starts latest, and the first unanswerable
    question (file order; among contexts of equal length, the first).
    """
    by_context: dict[str, dict[bool, list[int]]] = {}
    for index, (context, spans) in enumerate(zip(examples["context"], examples["answers"])):
        by_context.setdefault(context, {}).setdefault(bool(spans["text"]), []).append(index)
    paired = [(context, kinds) for context, kinds in by_context.items() if len(kinds) == 2]
    if not paired:
        raise ValueError("no context has both an answerable and an unanswerable question")
    _, kinds = max(paired, key=lambda item: len(item[0]))  # max keeps the first of equal lengths
    answer_start = examples.select(kinds[True])["answers"]
    latest = max(range(len(kinds[True])), key=lambda i: answer_start[i]["answer_start"][0])
    return kinds[True][latest], kinds[False][0]


# --------------------------------------------------------------------------------- windows (stride)
@dataclass(frozen=True)
class WindowLayout:
    """How one question's context is cut into windows, in context-token coordinates (0 = first token).

    ``windows`` rows: ``window, first_token, last_token`` (inclusive), ``contains_answer``, and the training
    labels ``start_position, end_position, is_impossible`` (positions index the window's input sequence).
    """

    windows: list[dict[str, Any]]
    num_context_tokens: int
    answer_tokens: tuple[int, int] | None  # first and last context token of the first gold answer


def context_windows(example: Mapping[str, Any], tokenizer: Any, cfg: FeatureConfig = FeatureConfig()) -> WindowLayout:
    """The windows :func:`~albertzero_utils.features.build_train_features` makes for one question, placed
    on its context's tokens (from the evaluation features' offsets of the very same tokenisation)."""
    one = datasets.Dataset.from_list([dict(example)])
    with in_memory_features():  # one throw-away question: out of the feature cache
        train, evaluation = build_train_features(one, tokenizer, cfg), build_eval_features(one, tokenizer, cfg)
    encoded = tokenizer(example["context"], add_special_tokens=False, return_offsets_mapping=True)
    starts = [start for start, _ in encoded["offset_mapping"]]
    windows = []
    for number, (labels, offsets) in enumerate(zip(train, evaluation["offset_mapping"])):
        context_positions = [i for i, span in enumerate(offsets) if span is not None]
        first, last = (bisect.bisect_right(starts, offsets[i][0]) - 1 for i in (context_positions[0],
                                                                                  context_positions[-1]))
        windows.append({"window": number, "first_token": first, "last_token": last,
                        "contains_answer": not labels["is_impossible"], "start_position": labels["start_positions"],
                        "end_position": labels["end_positions"], "is_impossible": labels["is_impossible"]})
    answer = None
    if example["answers"]["text"]:
        begin = example["answers"]["answer_start"][0]
        end = begin + len(example["answers"]["text"][0])
        inside = [i for i, (a, b) in enumerate(encoded["offset_mapping"]) if a < end and b > begin]
        answer = (inside[0], inside[-1])
    return WindowLayout(windows, len(starts), answer)


def plot_windows(layout: WindowLayout, title: str = "Windows over one context", ax: Any = None) -> Any:
    """Each window as a horizontal bar over context token positions; the gold answer as a shaded band."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.5 * len(layout.windows) + 1.6))
    labelled = set()
    for row in layout.windows:
        kind = "window with the whole answer" if row["contains_answer"] else "window without it"
        ax.barh(row["window"], row["last_token"] - row["first_token"] + 1, left=row["first_token"], height=0.6,
                color="#2d6a4f" if row["contains_answer"] else "#adb5bd", edgecolor="black",
                label=None if kind in labelled else kind)
        labelled.add(kind)
    if layout.answer_tokens is not None:
        first, last = layout.answer_tokens
        ax.axvspan(first, last + 1, color="#e63946", alpha=0.35, label="gold answer")
    ax.legend(loc="upper right", fontsize="small")
    ax.set_xlim(0, layout.num_context_tokens)
    ax.set_yticks([row["window"] for row in layout.windows])
    ax.invert_yaxis()
    ax.set_xlabel("context token position (tokens)")
    ax.set_ylabel("window")
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


# ------------------------------------------------------------------------- chapters 03-05 (re-init, CLI)
def parameter_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per tensor of two state dicts of one model: ``name, shape, changed`` (any value differs,
    bitwise) and ``std_before, std_after`` (None for single values). Names and shapes must match."""
    import torch

    if list(before) != list(after):
        raise ValueError("the two state dicts do not hold the same tensor names")

    def spread(tensor: torch.Tensor) -> float | None:
        return float(tensor.double().std()) if tensor.numel() > 1 else None

    rows = []
    for name, old in before.items():
        new = after[name]
        if old.shape != new.shape:
            raise ValueError(f"{name}: shape {tuple(old.shape)} before but {tuple(new.shape)} after")
        rows.append({"name": name, "shape": "x".join(map(str, old.shape)), "changed": not torch.equal(old, new),
                     "std_before": spread(old), "std_after": spread(new)})
    return rows


def run_cli(command: Sequence[str], cwd: str | None = None) -> str:
    """Run an ``albertzero ...`` command line as ``python -m albertzero_utils ...`` (the same CLI, found without
    PATH) and return its standard output; a failure raises RuntimeError with the command's error line."""
    import subprocess
    import sys

    if not command or command[0] != "albertzero":
        raise ValueError(f"expected a command line starting with 'albertzero', got {list(command)[:2]}")
    done = subprocess.run([sys.executable, "-m", "albertzero_utils", *command[1:]], cwd=cwd, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no error output)"])[-1]
        raise RuntimeError(f"{' '.join(command[:2])} exited with {done.returncode}: {last}")
    return done.stdout


def run_cost(cfg: Any, train_windows: int, eval_questions: int, windows_per_question: float,
             flops_per_token: float, tokens_per_window: float | None = None) -> dict[str, Any]:
    """What one run of ``cfg`` (a TrainConfig) costs on one GPU, from data sizes: optimizer steps, evaluations,
    windows processed and forward+backward FLOPs (training counts 3 forward passes). `tokens_per_window` is
    the mean number of tokens a window really costs: with dynamic padding, its real tokens (not
    ``max_seq_length``, the default, which counts every window padded to full length)."""
    import math

    from .evaluation import eval_schedule

    from .profiles import window_end_step

    steps_per_epoch = math.ceil(train_windows / cfg.global_batch_size)
    steps = cfg.max_steps or cfg.num_epochs * steps_per_epoch
    window = window_end_step(cfg.early_window_epochs, steps_per_epoch, steps)
    evaluations = len(eval_schedule(steps, window_steps=window, interval=cfg.eval_steps,
                                    late_count=cfg.eval_late_count, early_count=cfg.eval_early_count))
    per_eval = min(cfg.max_eval_samples or eval_questions, eval_questions)
    final = eval_questions if cfg.final_eval_full and per_eval < eval_questions else 0
    eval_windows = round((evaluations * per_eval + final) * windows_per_question)
    trained = steps * cfg.global_batch_size
    tokens = cfg.max_seq_length if tokens_per_window is None else tokens_per_window
    return {"profile": cfg.profile, "steps": steps, "evaluations": evaluations, "eval_questions_each": per_eval,
            "final_full_eval": bool(final), "train_windows": trained, "eval_windows": eval_windows,
            "tokens_per_window": tokens, "flops": (3 * trained + eval_windows) * tokens * flops_per_token}
