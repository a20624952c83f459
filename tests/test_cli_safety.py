"""Nothing lost, nothing run that should not run (issue 21): each case as the user's command line where one fits.

Validate-then-write, run identity on resume, no remote code, one writer per directory, the output never the
model, compare's arms checked first, one-line refusals for odd text, full disks, broken caches and weights,
bad config values and records; evaluate's edge cases against the official script; the final/ swap.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from albertzero_utils import paths
from albertzero_utils.cli import main
from albertzero_utils.fileio import sha256_of

TRAIN = ["train", "--profile", "smoke", "--max-train-samples", "16", "--max-eval-samples", "4", "--batch-size", "4",
         "--eval-batch-size", "8", "--max-seq-length", "64", "--doc-stride", "32", "--max-query-length", "16",
         "--eval-steps", "1", "--save-steps", "1", "--max-steps", "2"]
RUN_FILES = ("done.json", "metrics.jsonl", "config.json", "final/model.safetensors")


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(paths.REPO_ROOT)}


def _one_line_error(code: int, capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished 2-step run with checkpoints at steps 1 (pruned? no: limit 2) and its final/."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main([*TRAIN, "--output-dir", str(out)]) == 0
    return out


def _copy(run: Path, tmp_path: Path, name: str = "run") -> Path:
    target = tmp_path / name
    shutil.copytree(run, target)
    return target


def _snapshot(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in RUN_FILES if (run / name).is_file()}


def _not_squad(tmp_path: Path) -> Path:
    bad = tmp_path / "typo.json"
    bad.write_text(json.dumps({"not": "squad"}))
    return bad


# ---------------------------------------------------------------------------- 1. validate before deleting
def test_overwrite_with_a_bad_train_file_keeps_the_finished_run(finished_run, tmp_path, capsys) -> None:
    run = _copy(finished_run, tmp_path)
    before = _snapshot(run)
    code = main([*TRAIN, "--output-dir", str(run), "--overwrite-output-dir", "--train-file", str(_not_squad(tmp_path))])
    assert "typo.json" in _one_line_error(code, capsys)
    assert _snapshot(run) == before and len(before) == len(RUN_FILES)
    assert not list(run.glob(".replaced-*"))


def test_resume_latest_without_a_complete_checkpoint_and_a_bad_file_keeps_the_run(finished_run, tmp_path,
                                                                                    capsys) -> None:
    run = _copy(finished_run, tmp_path)
    (run / "done.json").unlink()
    for manifest in (run / "checkpoints").glob("*/manifest.json"):
        manifest.unlink()  # every checkpoint incomplete: "latest" would start fresh
    before = _snapshot(run)
    code = main([*TRAIN, "--output-dir", str(run), "--resume-from-checkpoint", "latest",
                 "--eval-file", str(_not_squad(tmp_path))])
    assert "typo.json" in _one_line_error(code, capsys)
    assert _snapshot(run) == before and (run / "checkpoints").is_dir()


def test_a_start_that_fails_after_moving_the_old_run_aside_puts_it_back(finished_run, tmp_path, monkeypatch,
                                                                         capsys) -> None:
    from albertzero_utils import train as train_module

    def fails_at_start(*args, **kwargs):
        raise OSError(28, "No space left on device", "somewhere")

    monkeypatch.setattr(train_module, "_run", fails_at_start)
    run = _copy(finished_run, tmp_path)
    before = _snapshot(run)
    code = main([*TRAIN, "--output-dir", str(run), "--overwrite-output-dir"])
    assert "No space left" in _one_line_error(code, capsys)
    assert _snapshot(run) == before and (run / "checkpoints" / "step-1").is_dir()
    assert not list(run.glob(".replaced-*"))


def test_overwrite_replaces_the_run_once_the_new_one_has_started(finished_run, tmp_path, capsys) -> None:
    run = _copy(finished_run, tmp_path)
    (run / "predictions.json").write_text("{}")  # marks the old run
    assert main([*TRAIN, "--output-dir", str(run), "--overwrite-output-dir", "--max-steps", "1"]) == 0
    assert json.loads((run / "done.json").read_text())["steps"] == 1
    assert json.loads((run / "predictions.json").read_text()) != {}
    assert not list(run.glob(".replaced-*")) and not (run / "checkpoints" / "step-2").exists()


def test_a_refused_start_leaves_no_new_output_directory_behind(tmp_path, capsys) -> None:
    """Inputs refused after the directory was claimed (its data file is not SQuAD): the directory this command
    made, holding only its lock, goes again; one that existed stays."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "v2.0", "data": []}')
    new = tmp_path / "new-run"
    _one_line_error(main([*TRAIN, "--output-dir", str(new), "--train-file", str(bad)]), capsys)
    assert not new.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    _one_line_error(main([*TRAIN, "--output-dir", str(existing), "--train-file", str(bad)]), capsys)
    assert existing.is_dir()


# ---------------------------------------------------------------------------- 2. a resume belongs to its run
def test_another_seeds_checkpoint_is_refused_naming_the_seed(finished_run, tmp_path, capsys) -> None:
    code = main([*TRAIN, "--seed", "1", "--output-dir", str(tmp_path / "seed1"), "--resume-from-checkpoint",
                 str(finished_run / "checkpoints" / "step-1")])
    message = _one_line_error(code, capsys)
    assert "seed 0, this run has 1" in message and "metrics.jsonl" not in message
    assert not (tmp_path / "seed1" / "config.json").exists()


def test_a_changed_learning_rate_is_refused_and_config_json_kept(finished_run, tmp_path, capsys) -> None:
    run = _copy(finished_run, tmp_path)
    (run / "done.json").unlink()
    config = (run / "config.json").read_bytes()
    code = main([*TRAIN, "--output-dir", str(run), "--resume-from-checkpoint", "latest", "--learning-rate", "0.002"])
    message = _one_line_error(code, capsys)
    assert "learning_rate" in message and "0.001" in message and "0.002" in message
    assert (run / "config.json").read_bytes() == config and (run / "checkpoints" / "step-1").is_dir()


def test_changed_train_data_is_refused_naming_its_hash(finished_run, tmp_path, capsys) -> None:
    run = _copy(finished_run, tmp_path)
    (run / "done.json").unlink()
    edited = tmp_path / "train.json"
    data = json.loads(paths.SAMPLE_TRAIN.read_text())
    data["data"] = data["data"][::-1]
    edited.write_text(json.dumps(data))
    code = main([*TRAIN, "--output-dir", str(run), "--resume-from-checkpoint", "latest", "--train-file", str(edited)])
    message = _one_line_error(code, capsys)
    assert "train data" in message and f"sha256 {sha256_of(edited)[:12]}" in message


def test_a_precision_change_is_refused_unless_allowed(finished_run, tmp_path, capsys) -> None:
    from albertzero_utils import run_identity
    from albertzero_utils.errors import CheckpointError

    run = _copy(finished_run, tmp_path)
    (run / "done.json").unlink()
    code = main([*TRAIN, "--output-dir", str(run), "--resume-from-checkpoint", "latest", "--mixed-precision", "bf16"])
    message = _one_line_error(code, capsys)
    assert "precision no" in message and "bf16" in message and "--allow-resume-change precision" in message
    saved = run_identity.read_identity(run / "checkpoints" / "step-1")
    assert saved["precision"] == "no" and saved["num_processes"] == 1 and saved["global_batch_size"] == 4
    changed = {**saved, "precision": "bf16", "num_processes": 2, "per_process_batch_size": 2}
    with pytest.raises(CheckpointError, match="num processes 1"):
        run_identity.check_resume(run / "checkpoints" / "step-1", changed, ("precision",))
    run_identity.check_resume(run / "checkpoints" / "step-1", changed, ("precision", "processes"))
    assert main([*TRAIN, "--output-dir", str(run), "--allow-resume-change", "nonsense"]) == 2
    assert "unknown change 'nonsense'" in _one_line_error(2, capsys)


def test_the_data_position_is_kept_in_examples_over_a_process_count_change() -> None:
    """1 process ran 3 steps of a global batch of 8; 2 processes (4 each) go on with exactly the rest."""
    import random

    import torch
    from accelerate.data_loader import prepare_data_loader, skip_first_batches

    from albertzero_utils.run_identity import resume_batch_in_epoch
    from albertzero_utils.run_setup import LengthGroupedEpochSampler

    lengths = [random.Random(i).randint(5, 60) for i in range(50)]
    order = list(LengthGroupedEpochSampler(lengths, 8, seed=1))

    def shard(batch: int, processes: int, index: int):
        loader = torch.utils.data.DataLoader(list(range(50)), batch_size=batch,
                                             sampler=LengthGroupedEpochSampler(lengths, 8, seed=1))
        return prepare_data_loader(loader, num_processes=processes, process_index=index, put_on_device=False)

    saved = {"num_processes": 1, "per_process_batch_size": 8}
    now = {"num_processes": 2, "per_process_batch_size": 4}
    skip = resume_batch_in_epoch({"batch_in_epoch": 3}, saved, now, loader_length=len(shard(4, 2, 0)))
    assert skip == 3
    parts = [[b.tolist() for b in skip_first_batches(shard(4, 2, i), skip)] for i in range(2)]
    resumed = [x for j in range(len(parts[0])) for part in parts for x in part[j]]
    assert order[:24] + resumed[:26] == order  # none skipped, none repeated (the rest pads the last batch)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_resume_from_one_to_two_processes_needs_the_flag_and_keeps_the_experiment(tmp_path) -> None:
    out = tmp_path / "run"
    flags = [*TRAIN[1:], "--max-steps", "4", "--save-steps", "2", "--output-dir", str(out)]
    first = subprocess.run([sys.executable, "-m", "albertzero_utils", "train", *flags], env=_env(),
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    reference = [json.loads(line)["examples_seen"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    (out / "done.json").unlink()  # go on from step 2 again, on two processes
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    resume = ["-m", "albertzero_utils", "train", *flags, "--resume-from-checkpoint",
              str(out / "checkpoints" / "step-2")]
    refused = subprocess.run([*launch, "--main_process_port", str(_free_port()), *resume], env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "--allow-resume-change processes" in refused.stderr
    assert "Traceback" not in refused.stderr.split("albertzero train: error")[0][-300:]
    done = subprocess.run([*launch, "--main_process_port", str(_free_port()), *resume,
                           "--allow-resume-change", "processes"], env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4]
    assert [r["examples_seen"] for r in records] == reference == [0, 4, 8, 12, 16]  # one global batch a step
    assert json.loads((out / "config.json").read_text())["num_processes"] == 2


# ---------------------------------------------------------------------------- 3. no remote code
def _remote_code_model(tmp_path: Path) -> Path:
    model = tmp_path / "remote"
    shutil.copytree(paths.TINY_MODEL_DIR, model)
    config = json.loads((model / "config.json").read_text())
    config.pop("model_type", None)  # transformers would then ask whether to trust the code
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "evil.py").write_text(f"open({str(tmp_path / 'PWNED')!r}, 'w').write('ran')\n")
    return model


@pytest.mark.parametrize("command", ["predict", "train", "inspect", "compare"])
def test_a_directory_asking_for_remote_code_is_refused_without_a_prompt(tmp_path, command) -> None:
    model = _remote_code_model(tmp_path)
    argv = {"predict": ["predict", "--model", str(model), "--question", "who?", "--context", "Bob.",
                        "--allow-untrained-heads"],
            "train": [*TRAIN, "--model", str(model), "--output-dir", str(tmp_path / "out")],
            "inspect": ["inspect", "sample:dev", "--tokenizer", str(model)],
            "compare": ["compare", "--model", str(model), "--seeds", "0", "--output-dir", str(tmp_path / "out")]}
    done = subprocess.run([sys.executable, "-m", "albertzero_utils", *argv[command]], input="y\ny\n", env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and not (tmp_path / "PWNED").exists()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "auto_map" in lines[0] and "never runs remote code" in lines[0], done.stderr
    assert "trust" not in done.stdout.lower()  # no prompt


# ---------------------------------------------------------------------------- 4. one writer per directory
def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys) -> None:
    from albertzero_utils.locks import OutputLock

    out = tmp_path / "run"
    out.mkdir()
    with OutputLock(out):
        code = main([*TRAIN, "--output-dir", str(out)])
    message = _one_line_error(code, capsys)
    assert f"pid {os.getpid()}" in message and "in use" in message
    assert not (out / "metrics.jsonl").exists()


def test_a_stale_lock_of_a_killed_run_is_taken_over(tmp_path) -> None:
    from albertzero_utils.locks import LOCK_FILE, OutputLock

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_FILE).write_text(f"{dead.pid}\n")
    lock = OutputLock(tmp_path).acquire()
    try:
        assert lock.stale_pid == dead.pid
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
    finally:
        lock.release()


# ---------------------------------------------------------------------------- 5. the output is never the model
@pytest.mark.parametrize("where", ["equal", "inside", "above"])
def test_an_output_dir_at_inside_or_above_the_model_is_refused(tmp_path, where, capsys) -> None:
    model = tmp_path / "models" / "tiny"
    shutil.copytree(paths.TINY_MODEL_DIR, model)
    before = sorted(p.name for p in model.iterdir())
    out = {"equal": model, "inside": model / "run", "above": tmp_path / "models"}[where]
    code = main([*TRAIN, "--model", str(model), "--output-dir", str(out), "--overwrite-output-dir"])
    assert "would overwrite the model" in _one_line_error(code, capsys)
    assert sorted(p.name for p in model.iterdir()) == before


# ---------------------------------------------------------------------------- 6, 7. compare's arms
def test_compare_checks_every_arm_before_the_first_trains(tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    code = main(["compare", "--arms", "baseline,reinit,pooler", "--seeds", "0", "--output-dir", str(out),
                 "--max-steps", "1"])
    message = _one_line_error(code, capsys)
    assert "'pooler'" in message and "ffn_output" in message
    assert not (out / "comparison.json").exists() and not (out / "baseline").exists()


def test_the_arms_help_suggests_no_target_albert_lacks(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert "pooler" not in capsys.readouterr().out


@pytest.mark.parametrize("arm", [".=ffn_output", "..=ffn_output", "a/b=ffn_output", "=ffn_output",
                                 ".hidden=ffn_output"])
def test_arm_names_stay_inside_the_comparison(tmp_path, arm, capsys) -> None:
    code = main(["compare", "--arms", f"baseline,{arm}", "--seeds", "0", "--output-dir", str(tmp_path / "c")])
    assert "arm name" in _one_line_error(code, capsys)
    assert not (tmp_path / "c").exists()


def test_arm_names_with_equals_plus_and_dots_inside_are_accepted() -> None:
    from albertzero_utils.experiment import parse_arms

    assert [a.name for a in parse_arms("baseline,v1.2+x-y_z=ffn_output")] == ["baseline", "v1.2+x-y_z"]


# ---------------------------------------------------------------------------- 8. odd text in arguments
@pytest.mark.parametrize("argument", [b"\xff.json", "\udcff".encode("utf-8", "surrogatepass")])
def test_arguments_that_are_not_utf8_are_one_line(argument) -> None:
    for argv in ([b"evaluate", str(paths.SAMPLE_DEV).encode(), argument],
                 [b"predict", b"--model", b"tiny-random", b"--question", argument, b"--context", b"x"]):
        done = subprocess.run([sys.executable.encode(), b"-m", b"albertzero_utils", *argv], env=_env(),
                              capture_output=True, timeout=120)
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and "not valid UTF-8" in lines[0], done.stderr


# ---------------------------------------------------------------------------- 9. disk full mid-checkpoint
def test_a_full_disk_while_writing_a_checkpoint_keeps_latest_complete(tmp_path, capsys, tmpfs) -> None:
    """A real full filesystem (tmpfs, root only): room for one checkpoint but not two."""
    from albertzero_utils import checkpoint

    disk = tmp_path / "disk"
    disk.mkdir()
    if not tmpfs(disk, "size=6m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    out = disk / "run"
    flags = [*TRAIN, "--max-steps", "3", "--save-total-limit", "2", "--output-dir", str(out)]
    code = main(flags)
    message = _one_line_error(code, capsys)
    assert "could not write checkpoint" in message and "latest complete checkpoint is step-1" in message
    assert not list((out / "checkpoints").glob(".tmp-*"))
    assert checkpoint.find_latest(out).name == "step-1"
    assert main([*flags, "--resume-from-checkpoint", "latest", "--save-steps", "100"]) == 0
    assert json.loads((out / "done.json").read_text())["steps"] == 3
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2, 3]


# ---------------------------------------------------------------------------- 10. feature cache
def test_a_truncated_feature_cache_is_rebuilt(tmp_path, monkeypatch) -> None:
    from albertzero_utils.data import build_eval_features, load_examples, load_tokenizer

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    examples, tokenizer = load_examples("sample:dev"), load_tokenizer(paths.TINY_MODEL_DIR)
    first = build_eval_features(examples, tokenizer)
    (cache,) = (tmp_path / "albertzero" / "features").glob("*.arrow")
    assert cache.with_name(cache.name + ".check.json").is_file()
    with open(cache, "r+b") as handle:
        handle.truncate(cache.stat().st_size // 2)
    again = build_eval_features(examples, tokenizer)
    assert again["input_ids"] == first["input_ids"] and cache.stat().st_size > 0


# ---------------------------------------------------------------------------- 11. broken weights
@pytest.mark.parametrize("damage", ["truncated", "other-architecture"])
def test_broken_weights_are_one_line(tmp_path, damage, capsys) -> None:
    from albertzero_utils.modeling import load_qa_model

    model = tmp_path / "model"
    load_qa_model(paths.TINY_MODEL_DIR, seed=0).save_pretrained(model)
    if damage == "truncated":
        weights = model / "model.safetensors"
        with open(weights, "r+b") as handle:
            handle.truncate(weights.stat().st_size // 2)
    else:
        config = json.loads((model / "config.json").read_text())
        config.update(hidden_size=config["hidden_size"] * 2, intermediate_size=config["intermediate_size"] * 2)
        (model / "config.json").write_text(json.dumps(config))
    code = main(["predict", "--model", str(model), "--question", "who?", "--context", "Bob.",
                 "--allow-untrained-heads"])
    assert "cannot load weights" in _one_line_error(code, capsys)


# ---------------------------------------------------------------------------- 12. bad config values
def _deep(kind: str) -> str:
    return "[" * 100_000 + "]" * 100_000 if kind == "json" else "- " * 100_000 + "x"


@pytest.mark.parametrize("case", ["nan-yaml", "inf-json", "nan-cli", "inf-cli-weight-decay", "seed-2**32",
                                  "seed-negative", "seeds-2**32", "deep-json", "deep-yaml"])
def test_bad_config_values_are_one_line(tmp_path, case, capsys) -> None:
    config = tmp_path / "config.yaml"
    argv = [*TRAIN, "--output-dir", str(tmp_path / "out")]
    if case == "nan-yaml":
        config.write_text("learning_rate: .nan\n")
    elif case == "inf-json":
        config.write_text('{"weight_decay": Infinity}')
    elif case.startswith("deep"):
        config.write_text(_deep(case.split("-")[1]))
    else:
        config = None
        argv += {"nan-cli": ["--learning-rate", "nan"], "inf-cli-weight-decay": ["--weight-decay", "inf"],
                 "seed-2**32": ["--seed", str(2**32)], "seed-negative": ["--seed", "-1"],
                 "seeds-2**32": ["--seeds", f"0,{2**32}"]}[case]
        if case == "seeds-2**32":
            argv = ["compare", *argv[1:]]
    code = main(argv + (["--config", str(config)] if config else []))
    message = _one_line_error(code, capsys)
    expected = "nested too deeply" if case.startswith("deep") else "2**32" if "2**32" in case or "negative" in case \
        else "finite"
    assert expected in message, message
    assert not (tmp_path / "out").exists()


def test_a_tab_indented_json_config_is_accepted(tmp_path) -> None:
    from albertzero_utils.profiles import resolve

    config = tmp_path / "config.json"
    config.write_text('{\n\t"learning_rate": 0.002,\n\t"seeds": [3, 4]\n}\n')
    cfg = resolve("smoke", config, {})
    assert cfg.learning_rate == 0.002 and cfg.seeds == (3, 4)


def test_deeply_nested_evaluate_inputs_are_one_line(tmp_path, capsys) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(_deep("json"))
    assert "nested too deeply" in _one_line_error(main(["evaluate", str(deep), str(deep)]), capsys)
    code = main(["evaluate", str(paths.SAMPLE_DEV), str(deep)])
    message = _one_line_error(code, capsys)
    assert "deep.json" in message and "nested too deeply" in message


# ---------------------------------------------------------------------------- 13. broken comparison records
def _comparison(tmp_path: Path, metrics_line: str, done: str = '{"steps": 1, "final_metrics": {}}') -> Path:
    compare = tmp_path / "cmp"
    for arm in ("baseline", "reinit"):
        run = compare / arm / "seed-0"
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text(json.dumps({"step": 0, "f1": 1.0}) + "\n" + metrics_line + "\n")
        (run / "done.json").write_text(done)
    return compare


@pytest.mark.parametrize("case", ["garbage-line", "nan-metric", "garbage-done"])
def test_broken_records_are_one_line_naming_file_and_line(tmp_path, case, capsys) -> None:
    line = {"garbage-line": "{not json", "nan-metric": '{"step": 1, "f1": NaN}'}.get(case, '{"step": 1, "f1": 2.0}')
    compare = _comparison(tmp_path, line, done="garbage{" if case == "garbage-done" else '{"steps": 1}')
    message = _one_line_error(main(["plot", str(compare)]), capsys)
    name, line_number = ("done.json", "line 1") if case == "garbage-done" else ("metrics.jsonl", "line 2")
    assert name in message and line_number in message, message
    if case == "nan-metric":
        assert "f1 is nan" in message and "finite" in message


# ---------------------------------------------------------------------------- 14. evaluate vs the official script
def _dev_ids() -> list[str]:
    data = json.loads(paths.SAMPLE_DEV.read_text())
    return [qa["id"] for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]


def _official(preds: dict, na_probs: dict | None, thresh: float) -> dict:
    sys.path.insert(0, str(paths.REPO_ROOT))
    from bench.official_eval import reference_metrics
    from albertzero_utils.data import flatten_squad, gold_answers, load_squad_json

    golds = gold_answers(flatten_squad(load_squad_json(paths.SAMPLE_DEV)))
    return dict(reference_metrics(golds, {q: preds[q] for q in golds}, na_probs, thresh, pr_curves=False))


@pytest.mark.parametrize("case", ["non-string-for-unknown-id", "threshold-inf", "threshold-huge-integer",
                                  "huge-integer-na-probs"])
def test_evaluate_edge_cases_match_the_official_script(tmp_path, case, capsys) -> None:
    ids = _dev_ids()
    preds = {qid: ("Paris" if i % 2 else "") for i, qid in enumerate(ids)}
    na_probs = {qid: (10**400 if i % 3 else 0.25) for i, qid in enumerate(ids)}
    argv = ["evaluate", str(paths.SAMPLE_DEV), str(tmp_path / "preds.json")]
    written = dict(preds)
    thresh = 1.0
    if case == "non-string-for-unknown-id":
        written["not-in-the-data"] = ["a", "list"]
    elif case.startswith("threshold"):  # read as inf; the na-probs (some above 1) make the threshold matter
        argv += ["-t", "inf" if case == "threshold-inf" else "1" + "0" * 400]
        thresh = float("inf")
        na_probs = {qid: (2.5 if i % 3 else 0.25) for i, qid in enumerate(ids)}
    (tmp_path / "preds.json").write_text(json.dumps(written))
    if case == "huge-integer-na-probs" or case.startswith("threshold"):
        (tmp_path / "na.json").write_text(json.dumps(na_probs))
        argv += ["-n", str(tmp_path / "na.json")]
    assert main(argv) == 0
    ours = json.loads(capsys.readouterr().out)
    official_na_probs = {q: 0.0 for q in ids}  # the official default without -n (then no best_* keys)
    if case == "huge-integer-na-probs":
        official_na_probs = {q: float("inf") if v == 10**400 else v for q, v in na_probs.items()}
    elif case.startswith("threshold"):
        official_na_probs = na_probs
        assert ours["f1"] != pytest.approx(_official(preds, na_probs, 1.0)["f1"])  # the threshold changes the score
    reference = _official(preds, official_na_probs, thresh)
    assert set(ours) <= set(reference) and "f1" in ours
    assert ours == pytest.approx({key: reference[key] for key in ours})


def test_duplicate_ids_are_refused_saying_why(capsys) -> None:
    duplicate = paths.REPO_ROOT / "tests" / "malformed" / "duplicate_id.json"
    message = _one_line_error(main(["evaluate", str(duplicate), str(duplicate)]), capsys)
    assert "duplicate id" in message and "official script" in message


def test_no_answerable_question_gives_a_null_span_f1() -> None:
    from albertzero_utils.evaluation import score
    from albertzero_utils.postprocess import Predictions

    golds = {"q1": [], "q2": []}
    predictions = Predictions({"q1": "", "q2": "x"}, {"q1": 1.0, "q2": -1.0}, span_answers={"q1": "a", "q2": "x"})
    scores = score(golds, predictions)
    assert scores["HasAns_span_f1"] is None and scores["HasAns_span_exact"] is None and scores["f1"] == 50.0


# ---------------------------------------------------------------------------- 15. the final/ swap
def test_final_is_never_missing_while_it_is_replaced(tmp_path, monkeypatch) -> None:
    from albertzero_utils import fileio, run_files

    out = tmp_path / "run"
    (out / "final").mkdir(parents=True)
    (out / "final" / "config.json").write_text("old")
    seen = []

    def watch(function):
        def watched(*args, **kwargs):
            seen.append((out / "final" / "config.json").is_file())
            result = function(*args, **kwargs)
            seen.append((out / "final" / "config.json").is_file())
            return result
        return watched

    monkeypatch.setattr(fileio.os, "replace", watch(os.replace))
    monkeypatch.setattr(fileio, "_exchange", watch(fileio._exchange))
    monkeypatch.setattr(shutil, "rmtree", watch(shutil.rmtree))

    class Saves:
        def save_pretrained(self, directory):
            Path(directory).mkdir(parents=True, exist_ok=True)
            (Path(directory) / "config.json").write_text("new")

    run_files.OutputDir(out, main=True).save_final(Saves(), Saves())
    assert (out / "final" / "config.json").read_text() == "new"
    assert seen and all(seen) and not list(out.glob(".final*"))


# ---------------------------------------------------------------------------- 16. small commands start fast
@pytest.mark.parametrize("argv", [["--help"], ["evaluate", "DEV", "PREDS"]])
def test_help_and_evaluate_import_neither_torch_nor_transformers(tmp_path, argv) -> None:
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({qid: "" for qid in _dev_ids()}))
    argv = [{"DEV": str(paths.SAMPLE_DEV), "PREDS": str(preds)}.get(a, a) for a in argv]
    code = ("import sys\nfrom albertzero_utils.cli import main\ntry:\n    status = main(%r)\nexcept SystemExit as exc:\n"
            "    status = exc.code\nprint(status or 0)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))" % argv)
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status, imported = done.stdout.strip().splitlines()[-2:]
    assert status == "0" and imported == "[]"
