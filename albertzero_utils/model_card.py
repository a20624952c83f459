"""Export a pretraining run as an embedded model: its weights, tokenizer and records, and a model card written
from those records (``make pretrain-tiny`` exports ``runs/pretrain-tiny`` to ``data/tiny-albert-pretrained``).

Every figure in the card is read from the run's own files (config.json, metrics.jsonl), so the card cannot
drift from the weights beside it.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from .errors import DataError
from .fileio import atomic_write, write_text_atomic
from .pretrain import resolve as resolve_pretraining

#: What the exported model directory holds (from the run's final/), besides README.md and the records.
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
METRICS_FILE = "pretraining-metrics.jsonl"
CONFIG_FILE = "pretraining-config.json"
REPRODUCE = "make pretrain-tiny"


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A finished pretraining run's config.json and metrics records (one-line errors otherwise)."""
    run = Path(run_dir)
    for name in ("config.json", "metrics.jsonl", "done.json", *(f"final/{f}" for f in MODEL_FILES)):
        if not (run / name).is_file():
            raise DataError(f"{run}: no {name}: not a finished `albertzero pretrain` run")
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    if "corpus" not in config:
        raise DataError(f"{run}: its config.json names no corpus: not an `albertzero pretrain` run")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return config, records


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"


#: Options that say where a run writes or how it was started, not what it computes.
_NOT_RECIPE = ("profile", "output_dir", "overwrite_output_dir", "resume_from_checkpoint")


def reproduce_command(config: dict[str, Any]) -> str:
    """``make pretrain-tiny`` when the run used the tiny profile as it is; else the flags that differ from it."""
    profile = resolve_pretraining(config.get("profile", "tiny"))
    flags = []
    for field in dataclasses.fields(profile):
        ours, default = config.get(field.name, getattr(profile, field.name)), getattr(profile, field.name)
        if field.name in _NOT_RECIPE or ours == default:
            continue
        if field.name in ("corpus", "model_config") and Path(ours).resolve() == Path(default).resolve():
            continue
        flag = "--" + field.name.replace("_", "-")
        flags.append(flag if ours is True else f"--no-{flag[2:]}" if ours is False else f"{flag} {ours}")
    if not flags and profile.profile == "tiny":
        return f"`{REPRODUCE}`"
    return f"`albertzero pretrain --profile {profile.profile} {' '.join(flags)}`".replace("  ", " ")


def _result_row(label: str, record: dict[str, Any], *, bold: bool = False) -> str:
    """One row of the held-out results table: MLM loss and accuracy, SOP loss and accuracy."""
    cells = [f"{record[key]:.3f}" for key in ("mlm_loss", "mlm_accuracy", "sop_loss", "sop_accuracy")]
    return "| " + " | ".join([label, *(f"**{cell}**" if bold else cell for cell in cells)]) + " |"


def render_card(config: dict[str, Any], records: list[dict[str, Any]], model_config: dict[str, Any]) -> str:
    """The model card (Markdown) of a pretraining run."""
    first, last = records[0], records[-1]
    machine = config.get("machine")
    where = (f"{machine['cpu']} ({machine['logical_cpus']} logical CPUs), {machine['torch_threads']} torch "
             f"thread(s), {config['device']}" if machine else f"{config['device']} (machine not recorded)")
    rows = "\n".join(f"| {r['step']:,} | {r['mlm_loss']:.3f} | {r['mlm_accuracy']:.3f} | {r['sop_loss']:.3f} | "
                     f"{r['sop_accuracy']:.3f} | {r['elapsed_s'] / 60:.1f} |" for r in records)
    m, c = model_config, config
    table = c.get("heldout_neighbour_table_accuracy")
    yardstick = ("" if table is None else  # pretrain_data.neighbour_table_accuracy: no model, a yardstick
                 f"\n| yardstick: the commonest training token between the same neighbours | | {table:.3f} | | |")
    return f"""# tiny-albert-pretrained

A tiny ALBERT pretrained with ALBERT's own two objectives on a small synthetic corpus, so that the offline \
experiment of this repository re-initialises a layer that holds **pretrained** weights. \
`albertzero train --model data/tiny-albert-pretrained` fine-tunes it. It is for teaching and testing only: it \
knows nothing but the corpus's fictional towns, inventors, ships, companies, festivals and rivers.

## Model

An `AlbertForPreTraining` of `data/tiny-albert/config.json`: vocabulary {m['vocab_size']:,} (a SentencePiece \
model trained on the QA sample), embedding size {m['embedding_size']}, hidden size {m['hidden_size']}, \
{m['num_attention_heads']} heads, feed-forward size {m['intermediate_size']}, and **one** transformer block \
applied {m['num_hidden_layers']} times (ALBERT's cross-layer sharing). The weights are the encoder, the \
embeddings and both pretraining heads; fine-tuning adds freshly initialised QA heads (AVPool) on top.

## Pretraining

- **Corpus:** `{Path(c['corpus']).name}` from `data/make_corpus.py` (see `data/README.md`): \
{c['train_documents']} training documents ({c['train_pairs']} segment pairs of at most {c['max_seq_length']} \
tokens) and {c['heldout_documents']} held-out documents ({c['heldout_pairs']} pairs). No paragraph, sentence \
or entity of the QA sample is in it.
- **Objectives (Lan et al. 2020, arXiv:1909.11942):** masked LM with n-gram masks (spans of 1-3 tokens, p(n) \
proportional to 1/n; {c['mask_probability']:.0%} of the tokens masked in training, 80/10/10) and \
sentence-order prediction (two consecutive segments of one document, swapped half of the time).
- **Recipe:** {c['max_steps']:,} steps of {c['global_batch_size']} pairs, AdamW, peak learning rate \
{c['learning_rate']:g}, linear warm-up over {c['warmup_ratio']:.0%} of the steps then linear decay, weight \
decay {c['weight_decay']:g}, gradient clipping at {c['max_grad_norm']:g}, seed {c['seed']}.
- **Wall time and machine:** {_minutes(last['elapsed_s'])} on {where}; torch {c['versions'].get('torch')}, \
transformers {c['versions'].get('transformers')}.
- **Reproduce:** {reproduce_command(c)}. Results are deterministic for one machine and thread count, not \
bit-identical across them.

## Held-out results

Measured on the held-out documents, always masked at 15% with the same masks. Accuracy is over masked tokens \
(MLM) and over pairs (SOP: chance is 0.5, and with {c['heldout_pairs']} pairs one standard error is about \
{50 / c['heldout_pairs'] ** 0.5:.0f} points). Many masked tokens are pieces of invented names, which only the \
rest of the same document can give away.

| | MLM loss | MLM accuracy | SOP loss | SOP accuracy |
|---|---|---|---|---|
{_result_row("random initialisation (step 0)", first)}
{_result_row(f"**after {last['step']:,} steps**", last, bold=True)}{yardstick}

Every evaluation (`{METRICS_FILE}`; the settings are in `{CONFIG_FILE}`):

| step | MLM loss | MLM accuracy | SOP loss | SOP accuracy | minutes |
|---|---|---|---|---|---|
{rows}

## License

Apache-2.0, like the repository: the corpus, the tokenizer and these weights are generated here.
"""


def export_pretrained(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Copy a finished run's final model and records into `out_dir` and write its model card; return the card."""
    run, out = Path(run_dir), Path(out_dir)
    config, records = read_run(run)
    out.mkdir(parents=True, exist_ok=True)
    copies = {**{run / "final" / name: out / name for name in MODEL_FILES},
              run / "metrics.jsonl": out / METRICS_FILE, run / "config.json": out / CONFIG_FILE}
    for source, target in copies.items():
        atomic_write(target, lambda tmp, source=source: shutil.copyfile(source, tmp))
    model_config = json.loads((run / "final" / "config.json").read_text(encoding="utf-8"))
    write_text_atomic(out / "README.md", render_card(config, records, model_config))
    return out / "README.md"


def main(argv: list[str] | None = None) -> int:
    """``python -m albertzero_utils.model_card RUN_DIR OUT_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m albertzero_utils.model_card RUN_DIR OUT_DIR", file=sys.stderr)
        return 2
    try:
        card = export_pretrained(*args)
    except DataError as exc:
        print(f"model_card: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {card.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
