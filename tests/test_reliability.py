"""Reliability: malformed inputs through the real CLI, crashes mid-checkpoint, unsafe pickles, NaN, full or
read-only disks, and no network.

Already covered elsewhere (not repeated here):
- kill -9 at random points during training, then resume, logs what an uninterrupted run logs:
  ``test_resume.py::test_sigkill_at_random_points_then_resume_logs_identical_records``;
- an exception while writing the manifest, and damaged/truncated checkpoints, are never ``latest``:
  ``test_checkpoint.py::test_crash_mid_write_is_never_latest``, ``test_damaged_checkpoint_is_skipped_and_refused``;
- a malicious pickle in ``load_albertzero_weights`` (``test_weights.py``) and in a checkpoint's
  ``optimizer.pt`` loaded by ``load_checkpoint`` (``test_checkpoint.py::test_pickled_code_is_never_loaded``);
- a NaN training loss stops the run with a one-line message (``test_train.py::test_nan_loss_stops_the_run``);
- an output directory under a file fails before training (``test_train.py::test_unwritable_output_dir...``).

Added here: a corpus of malformed inputs run through ``python -m albertzero_utils`` (many cases per
interpreter, see ``malformed/run_cli_cases.py``, cross-checked against genuine one-case subprocesses); a real
SIGKILL at each stage of a checkpoint write; unsafe pickles on the model-directory, ``predict --model`` and
``train --resume-from-checkpoint`` paths; NaN weights in training and inference; read-only and full output
directories; proof that the network is blocked and that Hub paths fail fast offline.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from albertzero_utils import checkpoint, paths
from albertzero_utils.errors import AlbertZeroError, CheckpointError, ConfigError
from albertzero_utils.profiles import TrainConfig
from albertzero_utils.run_setup import make_accelerator

MALFORMED_DIR = Path(__file__).resolve().parent / "malformed"
DRIVER = MALFORMED_DIR / "run_cli_cases.py"


@dataclass(frozen=True)
class Case:
    """One malformed input: the CLI arguments, the exit code and the fragments the error line must name."""

    id: str
    kind: str
    argv: tuple[str, ...]
    code: int
    fragments: tuple[str, ...]


def _load_corpus() -> tuple[list[str], list[str], list[Case]]:
    """``malformed/cases.json``: ``@TRAIN`` in an argv expands to small training flags and a per-case run dir."""
    corpus = json.loads((MALFORMED_DIR / "cases.json").read_text(encoding="utf-8"))
    flags = corpus["train_flags"]
    cases = []
    for raw in corpus["cases"]:
        argv: list[str] = []
        for arg in raw["argv"]:
            argv += [*flags, "--output-dir", f"{{T}}/runs/{raw['id']}"] if arg == "@TRAIN" else [arg]
        cases.append(Case(raw["id"], raw["kind"], tuple(argv), raw["code"], tuple(raw["fragments"])))
    return flags, corpus["cross_checked"], cases


TRAIN_FLAGS, CROSS_CHECKED, CASES = _load_corpus()


class _Exploit:
    """Unpickling this runs ``touch MARKER``: the marker file appearing is proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TQDM_DISABLE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(paths.REPO_ROOT)}


def _tiny_model(seed: int = 0):
    from albertzero_utils.modeling import load_qa_model

    return load_qa_model(paths.TINY_MODEL_DIR, seed=seed)


def _model_dir(root: Path, *, nan: bool) -> Path:
    """A saved tiny model with its tokenizer; ``nan`` poisons the embedding LayerNorm (every output NaN)."""
    from albertzero_utils.data import load_tokenizer

    model = _tiny_model()
    if nan:
        with torch.no_grad():
            model.albert.embeddings.LayerNorm.weight.fill_(float("nan"))
    model.save_pretrained(root)
    load_tokenizer(paths.TINY_MODEL_DIR).save_pretrained(root)
    return root


def _evil_model_dir(root: Path, marker: Path) -> Path:
    """The tiny config and tokenizer beside a ``pytorch_model.bin`` whose unpickling would run code."""
    root.mkdir(parents=True)
    for name in ("config.json", "spiece.model", "tokenizer_config.json"):
        shutil.copy(paths.TINY_MODEL_DIR / name, root / name)
    torch.save({"albert.embeddings.word_embeddings.weight": torch.zeros(1), "x": _Exploit(marker)},
               root / "pytorch_model.bin")
    return root


def _evil_checkpoint_run(root: Path, marker: Path) -> Path:
    """A run directory whose step-1 checkpoint is complete and consistent, but its optimizer.pt runs code."""
    model = _tiny_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    accelerator = make_accelerator(TrainConfig())
    saved = checkpoint.save_checkpoint(root, 1, accelerator, model, optimizer, scheduler, {"step": 1})
    torch.save({"state": {}, "param_groups": [], "payload": _Exploit(marker)}, saved / "optimizer.pt")
    checkpoint.write_manifest(saved, 1)  # consistent manifest: only the loader can refuse it
    return root


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory) -> dict:
    """Every corpus case run once through ``python -m albertzero_utils`` (one interpreter for all of them)."""
    tmp = tmp_path_factory.mktemp("cli")
    marker = tmp / "pwned"
    places = {"M": str(MALFORMED_DIR), "T": str(tmp), "TINY": str(paths.TINY_MODEL_DIR),
              "EVIL": str(_evil_model_dir(tmp / "evil-model", marker)),
              "EVILRUN": str(_evil_checkpoint_run(tmp / "evil-run", marker)),
              "NAN": str(_model_dir(tmp / "nan-model", nan=True)),
              "MODEL": str(_model_dir(tmp / "model", nan=False))}
    cases = {case.id: [arg.format(**places) for arg in case.argv] for case in CASES}
    (tmp / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run([sys.executable, str(DRIVER), str(tmp / "cases.json"), str(tmp / "results.json")],
                          cwd=tmp, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"results": json.loads((tmp / "results.json").read_text()), "marker": marker, "places": places,
            "cases": cases, "cwd": tmp}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_input_is_a_one_line_error(case, cli_results) -> None:
    result = cli_results["results"][case.id]
    lines = result["stderr"].strip().splitlines()
    assert "Traceback" not in result["stderr"], f"{case.id}: traceback\n{result['stderr'][-1500:]}"
    assert result["code"] == case.code, f"{case.id}: exit {result['code']}, stderr {result['stderr'][-500:]!r}"
    assert len(lines) == 1, f"{case.id}: stderr is {len(lines)} lines: {result['stderr'][-800:]!r}"
    assert "error" in lines[0]
    for fragment in case.fragments:
        fragment = fragment.format(**cli_results["places"])
        assert fragment.lower() in lines[0].lower(), f"{case.id}: {fragment!r} not in {lines[0]!r}"
    assert not cli_results["marker"].exists(), "a pickle executed code"


def test_corpus_covers_every_kind_of_input() -> None:
    kinds = {case.kind for case in CASES}
    assert len(CASES) >= 20 and kinds >= {"data", "predictions", "na-probs", "config", "options", "weights"}


@pytest.mark.parametrize("case_id", CROSS_CHECKED)
def test_grouped_runs_match_one_process_per_case(case_id, cli_results) -> None:
    """The one-interpreter driver prints what a genuine ``python -m albertzero_utils`` process prints."""
    done = subprocess.run([sys.executable, "-m", "albertzero_utils", *cli_results["cases"][case_id]],
                          cwd=cli_results["cwd"], env=_env(), capture_output=True, text=True, timeout=120)
    grouped = cli_results["results"][case_id]
    assert (done.returncode, done.stderr) == (grouped["code"], grouped["stderr"])


# ------------------------------------------------------------------------------------------ checkpoints
def _kill_self(*_args, **_kwargs) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _half_written_then_killed(write):
    """A writer that writes the real file, cuts it in half, then SIGKILLs the process."""
    def writer(obj, target, *args, **kwargs):
        write(obj, target, *args, **kwargs)
        path = Path(target)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        _kill_self()
    return writer


KILL_POINTS = {
    "model.safetensors half written": ("safetensors.torch", "save_model", "step-1"),
    "optimizer.pt half written": ("torch", "save", "step-1"),
    "manifest not yet written": ("albertzero_utils.checkpoint", "write_manifest", "step-1"),
    "just before the rename": ("os", "replace", "step-1"),
    "pruning the older checkpoint": ("shutil", "rmtree", "step-2"),
}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_while_writing_a_checkpoint_never_leaves_a_latest_partial(tmp_path, point: str) -> None:
    """A forked process writes step-2 (keeping 1) and is SIGKILLed at `point`; `latest` stays usable."""
    import importlib

    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    accelerator = make_accelerator(TrainConfig())
    save = lambda step: checkpoint.save_checkpoint(tmp_path, step, accelerator, model, optimizer,  # noqa: E731
                                                   scheduler, {"step": step}, keep=1)
    save(1)
    module_name, attribute, expected = KILL_POINTS[point]
    pid = os.fork()
    if pid == 0:  # the child: arm the kill, write step-2, and never come back
        try:
            module = importlib.import_module(module_name)
            original = getattr(module, attribute)
            if attribute in ("save_model", "save"):
                setattr(module, attribute, _half_written_then_killed(original))
            elif attribute == "rmtree":
                setattr(module, attribute, lambda path, *a, **k: _kill_self() if "step-1" in str(path) else original(path, *a, **k))
            else:
                setattr(module, attribute, _kill_self)
            save(2)
        finally:
            os._exit(99)  # not reached when the kill fires
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"child exited with {status}"
    latest = checkpoint.find_latest(tmp_path)
    assert latest is not None and latest.name == expected
    assert checkpoint.problem_with(latest) is None
    checkpoint.load_checkpoint(latest, accelerator, model, optimizer, scheduler)
    checkpoint.remove_partial_writes(tmp_path)
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


# -------------------------------------------------------------------------------------- unsafe pickles
def test_model_directory_with_malicious_pickle_is_refused_cleanly(tmp_path) -> None:
    """``load_qa_model`` of a directory holding a code-running ``pytorch_model.bin``: nothing runs, one line."""
    from albertzero_utils.modeling import load_qa_model

    marker = tmp_path / "pwned"
    evil = _evil_model_dir(tmp_path / "evil", marker)
    with pytest.raises(CheckpointError) as caught:
        load_qa_model(evil)
    assert str(evil) in str(caught.value) and "\n" not in str(caught.value)
    assert not marker.exists()


# ----------------------------------------------------------------------------------- output directories
def _can_write(directory: Path) -> bool:
    try:
        (directory / ".probe").write_text("x")
        (directory / ".probe").unlink()
        return True
    except OSError:
        return False


def _train_fails_before_training(output_dir: Path, capsys) -> str:
    """Run `albertzero train` into `output_dir`; return its one-line error (training must not have started)."""
    from albertzero_utils.cli import main

    code = main(["train", *TRAIN_FLAGS, "--output-dir", str(output_dir)])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1, captured.err
    assert "training" not in captured.out  # the "training N steps" line comes after the checks
    return lines[0]


def test_read_only_output_dir_is_refused_before_training(tmp_path, capsys, tmpfs) -> None:
    """chmod 555 where it works; as root (chmod does not stop root) a read-only tmpfs, else /sys."""
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        if _can_write(read_only):  # running as root
            read_only.chmod(0o755)
            if not tmpfs(read_only, "ro,size=64k"):
                read_only = Path("/sys/albertzero-read-only-test")
        assert not _can_write(read_only)
        message = _train_fails_before_training(read_only / "run", capsys)
        assert str(read_only) in message and "not writable" in message
    finally:
        if read_only.is_relative_to(tmp_path) and not os.path.ismount(read_only):
            read_only.chmod(0o755)


def test_full_disk_is_refused_before_training_simulated(tmp_path, monkeypatch, capsys) -> None:
    """ENOSPC simulated: the output directory's write probe fails as on a full disk."""
    real_write_text = Path.write_text

    def full_disk(self: Path, *args, **kwargs):
        if self.name.startswith(".write-test"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    message = _train_fails_before_training(tmp_path / "run", capsys)
    assert "not writable" in message and "No space left on device" in message


def test_full_disk_is_refused_before_training_real_tmpfs(tmp_path, capsys, tmpfs) -> None:
    """A real full filesystem: a 64 KiB tmpfs filled to the last byte (skipped where mounting is refused)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not tmpfs(disk, "size=64k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    (disk / "run").mkdir()
    with open(disk / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    message = _train_fails_before_training(disk / "run", capsys)
    assert "No space left on device" in message


# -------------------------------------------------------------------------------------------- network
def test_the_network_is_blocked_in_tests() -> None:
    with pytest.raises(OSError, match="network access blocked"):
        socket.create_connection(("93.184.216.34", 443), timeout=5)
    with socket.socket() as server:  # local sockets still work
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        socket.create_connection(server.getsockname(), timeout=5).close()


@pytest.mark.parametrize("load", ["dataset", "model", "tokenizer"])
def test_hub_paths_fail_fast_offline(load: str) -> None:
    from albertzero_utils.data import load_examples, load_tokenizer
    from albertzero_utils.modeling import load_qa_model

    call = {"dataset": lambda: load_examples("rajpurkar/squad_v2"),
            "model": lambda: load_qa_model("albert/albert-base-v2"),
            "tokenizer": lambda: load_tokenizer("albert/albert-base-v2")}[load]
    with pytest.raises(AlbertZeroError) as caught:  # the conftest socket guard fails any network attempt
        call()
    assert "\n" not in str(caught.value) and "/" in str(caught.value)


def test_gpu_profile_offline_fails_fast_with_alternatives(tmp_path) -> None:
    # Without a GPU the GPU message comes first; with one, the Hub's. Both name the offline smoke profile.
    with pytest.raises(ConfigError, match="--profile smoke"):
        from albertzero_utils.profiles import check_environment, resolve

        check_environment(resolve("colab", None, {"output_dir": str(tmp_path)}))


# ------------------------------------------------------------------------------ bench/gpu_throughput.py
def _gpu_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_throughput", paths.REPO_ROOT / "bench" / "gpu_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_bench_flops_match_a_counted_forward_and_backward() -> None:
    """The analytic FLOPs per token equal torch's FlopCounterMode count on a small ALBERT (CPU, eager)."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AlbertConfig

    from albertzero_utils.modeling import AlbertForQuestionAnsweringAVPool

    bench = _gpu_bench()
    config = AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                          intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config._attn_implementation = "eager"
    model = AlbertForQuestionAnsweringAVPool(config)
    batch, seq = 2, 24
    inputs = {"input_ids": torch.randint(5, 100, (batch, seq)), "start_positions": torch.tensor([1, 2]),
              "end_positions": torch.tensor([3, 4]), "is_impossible": torch.tensor([0, 1])}
    with FlopCounterMode(display=False) as counter:
        model(**inputs).loss.backward()
    counted = counter.get_total_flops()
    analytic = bench.flops_per_token(config, seq, training=True) * batch * seq
    has_ans = 3 * 2 * batch * config.hidden_size * 2  # the answerability head reads one token per window
    assert analytic + has_ans == counted
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=inputs["input_ids"])
    assert bench.flops_per_token(config, seq, training=False) * batch * seq + has_ans / 3 == counter.get_total_flops()


def test_gpu_bench_albert_base_flops_and_peaks() -> None:
    bench = _gpu_bench()
    from transformers import AlbertConfig

    base = AlbertConfig(**bench.ALBERT_BASE_V2)
    h, e, i, layers, s = 768, 128, 3072, 12, 384
    weights = e * h + layers * (4 * h * h + 2 * h * i) + 2 * h  # 85,034,496 multiply-adds per token
    assert bench.flops_per_token(base, s, training=True) == 6 * weights + 12 * layers * s * h == 552_674_304
    assert bench.peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == 989.4
    assert bench.peak_tflops("NVIDIA H100 PCIe", "fp16") == 756.0
    assert bench.peak_tflops("NVIDIA H200", "bf16") == 989.0
    assert bench.peak_tflops("NVIDIA A100-SXM4-80GB", "bf16") == 312.0
    assert bench.peak_tflops("NVIDIA L4", "bf16") == 121.0 and bench.peak_tflops("NVIDIA L40S", "bf16") is None
    assert bench.peak_tflops("Tesla T4", "fp16") == 65.0 and bench.peak_tflops("Tesla T4", "bf16") is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_gpu_bench_without_cuda_is_a_one_line_message(tmp_path) -> None:
    done = subprocess.run([sys.executable, str(paths.REPO_ROOT / "bench" / "gpu_throughput.py"), "--steps", "1",
                           "--output", str(tmp_path / "gpu.json")], env=_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and not (tmp_path / "gpu.json").exists()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU found" in lines[0]
