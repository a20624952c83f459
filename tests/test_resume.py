"""Exact resume (a run SIGKILLed anywhere logs what an uninterrupted one logs) and distributed logging."""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from albertzero_utils import paths
from albertzero_utils.profiles import TrainConfig
from albertzero_utils.train import train

TINY = dict(max_train_samples=40, max_eval_samples=8, global_batch_size=4, eval_batch_size=16, max_seq_length=64,
            doc_stride=32, max_query_length=16, eval_steps=1)
#: The same run as command-line flags (TrainConfig's defaults are the smoke profile).
FLAGS = ["--profile", "smoke", "--max-train-samples", "40", "--max-eval-samples", "8", "--batch-size", "4",
         "--eval-batch-size", "16", "--max-seq-length", "64", "--doc-stride", "32", "--max-query-length", "16",
         "--eval-steps", "1"]


def _without_clock(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "elapsed_s"} for record in records]


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@contextlib.contextmanager
def single_thread():
    """One intra-op thread, as in the subprocesses (OMP_NUM_THREADS=1): identical float reductions."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(paths.REPO_ROOT)}


def test_resume_from_an_earlier_checkpoint_replays_the_same_records(tmp_path) -> None:
    with single_thread():
        first = train(TrainConfig(**TINY, max_steps=5, save_steps=2, output_dir=str(tmp_path / "a")),
                      log=lambda _: None)
        shutil.copytree(tmp_path / "a", tmp_path / "b")
        (tmp_path / "b" / "done.json").unlink()
        again = train(TrainConfig(**TINY, max_steps=5, save_steps=2, output_dir=str(tmp_path / "b"),
                                  resume_from_checkpoint=str(tmp_path / "b" / "checkpoints" / "step-2")),
                      log=lambda _: None)
    assert again.resumed_from == 2 and [r["step"] for r in again.records] == [0, 1, 2, 3, 4, 5]
    assert _without_clock(again.records) == _without_clock(first.records)
    assert _without_clock(_records(tmp_path / "b")) == _without_clock(_records(tmp_path / "a"))


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_logs_identical_records(tmp_path) -> None:
    steps = 10
    with single_thread():
        reference = _without_clock(train(TrainConfig(**TINY, max_steps=steps, output_dir=str(tmp_path / "ref")),
                                         log=lambda _: None).records)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "albertzero_utils", "train", *FLAGS, "--max-steps", str(steps),
               "--save-steps", "2", "--output-dir", str(out), "--resume-from-checkpoint", "latest"]
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    # Kill once soon after start-up (before or around the first checkpoint), once later in training.
    kill_after = [rng.randint(0, 3), rng.randint(4, steps - 3)]  # the run cannot finish before the kill
    log = []
    for records_before_kill in kill_after:
        process = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            logged = len(_records(out)) if (out / "metrics.jsonl").is_file() else 0
            if logged >= records_before_kill:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL and not (out / "done.json").exists(), "not killed mid-run"
        saved = sorted(p.name for p in (out / "checkpoints").glob("*")) if (out / "checkpoints").is_dir() else []
        log.append((records_before_kill, process.returncode, saved))
    assert any(name.startswith("step-") for name in log[1][2]), f"no checkpoint before the later kill: {log}"
    finished = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert (out / "done.json").is_file()
    assert _without_clock(_records(out)) == reference, f"random seed {seed}, kills {log}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_log_each_record_once_and_keep_the_experiment(tmp_path) -> None:
    out = tmp_path / "ddp"
    # `--multi_gpu` makes accelerate start torchrun (`--cpu` alone starts one process unless MPI is set up);
    # the smoke profile's cpu=True then runs both processes on the CPU with the gloo backend.
    # One epoch of 24 questions: the number of optimizer steps follows from the data and the global batch.
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "-m", "albertzero_utils", "train", *FLAGS,
               "--max-train-samples", "24", "--num-epochs", "1", "--eval-steps", "2", "--save-steps", "2",
               "--output-dir", str(out)]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["num_processes"] == 2 and config["device"].startswith("cpu")
    assert (config["global_batch_size"], config["per_process_batch_size"], config["gradient_accumulation_steps"]) \
        == (4, 2, 1)
    with single_thread():  # the same config on one process
        single = train(TrainConfig(**{**TINY, "max_train_samples": 24, "max_steps": None, "num_epochs": 1,
                                      "eval_steps": 2, "output_dir": str(tmp_path / "one")}), log=lambda _: None)
    one = json.loads((tmp_path / "one" / "config.json").read_text())
    assert (one["global_batch_size"], one["per_process_batch_size"], one["num_processes"]) == (4, 4, 1)
    assert config["total_steps"] == one["total_steps"] == single.steps > 2  # the same number of optimizer steps
    records = _records(out)
    assert [r["step"] for r in records] == one["eval_schedule"] == config["eval_schedule"]
    assert [r["examples_seen"] for r in records][:3] == [0, 8, 16]  # evaluated every 2 steps of 4 windows (2 x 2)
    # evaluation is sharded over the processes and gathered: every question counted once, none dropped
    assert all(r["total"] == 8 and r["HasAns_total"] + r["NoAns_total"] == 8 for r in records)
    both = [json.loads((path / "predictions.json").read_text()) for path in (out, tmp_path / "one")]
    assert len(both[0]) == 8 and set(both[0]) == set(both[1])
    assert done.stdout.count("step 2: f1") == 1 and done.stdout.count("resolved settings") == 1
    kept = sorted((out / "checkpoints").iterdir())  # the last --save-total-limit (2) of steps 2, 4, ...
    assert kept and {p.name for p in kept[-1].iterdir()} >= {"rng-0.safetensors", "rng-1.safetensors"}
    assert (out / "done.json").is_file() and (out / "final" / "model.safetensors").is_file()
