"""The `albertzero` entry points: same CLI from the console script and `python -m`, one-line usage errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

from albertzero_utils.cli import COMMANDS, build_parser, main


def test_python_dash_m_is_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "albertzero_utils", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "albertzero" in done.stdout


def test_unknown_subcommand_is_one_line_error(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0] and "Traceback" not in err[0]


def test_every_registered_command_is_buildable() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)  # a subcommand whose module fails to import is dropped silently


def _bad_inputs(tmp_path):
    """Files a user gets wrong: an empty SQuAD file, a config-only model folder, a binary config, a
    comparison whose metrics hold a word where a number belongs."""
    import json
    import shutil

    from albertzero_utils import paths

    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": "v2.0", "data": []}))
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    shutil.copy(paths.TINY_MODEL_DIR / "config.json", config_only / "config.json")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(128, 256)))
    run = tmp_path / "cmp" / "baseline" / "seed-0"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(json.dumps({"step": 0, "f1": "high"}) + "\n")
    (run / "done.json").write_text("{}")
    abstain = tmp_path / "abstain.json"  # a valid predictions file: no answer anywhere
    dev = json.loads((paths.REPO_ROOT / "data" / "sample" / "dev-v2.0.json").read_text())
    abstain.write_text(json.dumps({qa["id"]: "" for article in dev["data"] for paragraph in article["paragraphs"]
                                   for qa in paragraph["qas"]}))
    return empty, config_only, binary, tmp_path / "cmp", abstain


@pytest.mark.parametrize("case", ["empty-evaluate", "empty-inspect", "config-only-tokenizer", "binary-config",
                                  "word-in-metrics", "unwritable-output", "nan-threshold", "early-window-epochs",
                                  "missing-model-dir", "empty-question", "foreign-tokenizer", "too-long-windows"])
def test_bad_input_is_one_line_and_non_zero(case, tmp_path, capsys) -> None:
    empty, config_only, binary, comparison, abstain = _bad_inputs(tmp_path)
    from albertzero_utils import paths

    data = paths.REPO_ROOT / "data"
    dev, tiny = str(data / "sample" / "dev-v2.0.json"), str(data / "tiny-albert")
    predict = ["predict", "--model", tiny, "--allow-untrained-heads"]
    argv, expected = {
        "empty-evaluate": (["evaluate", str(empty), str(empty)], "no questions to score"),
        "empty-inspect": (["inspect", str(empty), "--tokenizer", tiny], "no questions found"),
        "config-only-tokenizer": (["inspect", dev, "--tokenizer", str(config_only)], "no tokenizer vocabulary"),
        "binary-config": (["train", "--config", str(binary)], "not UTF-8 text"),
        "word-in-metrics": (["plot", str(comparison)], "line 1: f1 is 'high', not a number"),
        "unwritable-output": (["evaluate", dev, str(abstain), "-o", str(empty / "out.json")], str(empty)),
        "nan-threshold": (["evaluate", dev, dev, "-t", "nan"], "expected a finite number"),
        "early-window-epochs": (["compare", "--early-window-epochs", "0", "--output-dir", str(tmp_path / "c")],
                                "--early-window-epochs must be a positive number"),
        "missing-model-dir": (["train", "--model", str(tmp_path / "nope")], "no such model directory"),
        "empty-question": ([*predict, "-q", " ", "-c", "Bob is here."], "--question is empty"),
        "foreign-tokenizer": ([*predict, "--tokenizer", str(data / "albert-base-v2"), "-q", "Who?", "-c", "Bob."],
                              "belong to different models"),
        "too-long-windows": ([*predict, "-q", "Who?", "-c", "Bob.", "--max-seq-length", "2000"], "512 positions"),
    }[case]
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's own errors (types checked when the line is read)
        code = exited.code
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code != 0 and len(errors) == 1 and expected in errors[0] and "Traceback" not in errors[0]
