"""The real experiment on Google Colab: GPU runtime check, Drive for outputs, one comparison directory, time.

Chapters 3, 4 and 5 all call :func:`comparison_dir`, so the comparison chapter 3 writes is the one chapters
4 and 5 read, whatever the profile. With ``use_drive="auto"`` (the default) the outputs go to Google Drive
inside Colab, where they outlive a disconnected runtime (rerunning the comparison cell then skips finished
runs and resumes the rest), and to ``runs/`` anywhere else; ``False`` keeps them on the runtime's disk.
:func:`time_warning` turns the FLOP count of a run into hours for an *assumed* GPU throughput: an estimate,
labelled as one, to compare with Colab's session limits before starting; once steps have run,
:func:`estimate_banner` gives the measured extrapolation of :mod:`albertzero_utils.eta` instead.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import ConfigError
from .plan import SQUAD_DEV_QUESTIONS, SQUAD_DEV_WINDOWS, SQUAD_TRAIN_QUESTIONS  # SQuAD 2.0 sizes (documented there)
from .eta import duration, remaining

DRIVE_MOUNT_POINT = Path("/content/drive")
DRIVE_FOLDER = "albertZero"
#: A free Colab runtime is recycled after at most 12 hours (often sooner, and after ~90 idle minutes): Colab's
#: FAQ, research.google.com/colaboratory/faq.html ("notebooks can run for at most 12 hours").
COLAB_SESSION_HOURS = 12.0
#: Mean real tokens per 384-token window of the SQuAD 2.0 dev set (bench/results.json, ``mean_tokens``):
#: with dynamic padding a batch costs its longest window, not 384, so this is what a window costs (about).
SQUAD_MEAN_TOKENS_PER_WINDOW = 181
#: ASSUMED sustained throughput (TFLOP/s) of fine-tuning albert-base-v2: not measured on this project.
ASSUMED_TFLOPS = {"T4 fp16": 8.0, "A100 bf16": 80.0}


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def drive_wanted(use_drive: bool | str = "auto") -> bool:
    """Whether outputs go to Google Drive: ``"auto"`` means inside Colab; True and False as given."""
    if use_drive == "auto":
        return in_colab()
    if not isinstance(use_drive, bool):
        raise ConfigError(f"USE_DRIVE must be 'auto', True or False, not {use_drive!r}")
    return use_drive


def output_root(use_drive: bool | str = "auto", *, mount: Callable[[str], Any] | None = None) -> Path:
    """Where the notebooks write runs: ``runs`` in the repository, or ``MyDrive/albertZero/runs`` on Google
    Drive (`use_drive` "auto": inside Colab; Drive is mounted on first use, which asks for permission)."""
    if not drive_wanted(use_drive):
        return Path("runs")
    if not in_colab():
        raise ConfigError("USE_DRIVE = True needs Google Colab (it mounts Google Drive); set USE_DRIVE = False")
    if mount is None:
        from google.colab import drive  # only importable inside Colab

        mount = drive.mount
    mount_point = DRIVE_MOUNT_POINT
    if not (mount_point / "MyDrive").is_dir():
        mount(str(mount_point))
    root = mount_point / "MyDrive" / DRIVE_FOLDER / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def comparison_dir(profile: str, use_drive: bool | str = "auto", **drive_options: Any) -> Path:
    """THE comparison directory of the notebooks for `profile` (chapters 3, 4 and 5 read and write it)."""
    return output_root(use_drive, **drive_options) / "notebooks" / f"compare-{profile}"


def storage_note(output_dir: str | os.PathLike) -> str:
    """Whether checkpoints written under `output_dir` persist: Google Drive, a Colab runtime's disk (lost with
    the runtime), or a local disk."""
    path = Path(output_dir).expanduser().absolute()
    if path.is_relative_to(DRIVE_MOUNT_POINT.absolute()):
        return (f"persistent (Google Drive, {path}): the runs resume across Colab sessions; after a disconnect, "
                f"rerun the cells (finished runs are skipped, the unfinished one resumes from its checkpoint)")
    if in_colab():
        return (f"NOT persistent ({path} is on the Colab runtime's disk, lost when it is recycled); keep "
                f"USE_DRIVE = 'auto' (Google Drive) so that the runs resume across sessions")
    return (f"persistent (local disk, {path}): an interrupted run resumes from its latest checkpoint when the "
            f"same command or cell runs again")


def check_gpu_runtime(profile: str, *, cuda_available: bool | None = None, device_name: str | None = None,
                      capability: tuple[int, int] | None = None) -> str:
    """A line naming the GPU and the precision `auto` will pick; ConfigError (saying how to get a GPU) when a
    profile other than smoke finds none. The keyword arguments replace what torch reports (for tests)."""
    if profile == "smoke":
        return "smoke profile: trains on the CPU, no GPU needed"
    import torch

    from .run_setup import precision_for_capability

    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        how = ("in Colab choose Runtime > Change runtime type > T4 GPU (or better), then run the notebook again "
               "from the top" if in_colab() else "run it on a machine with an NVIDIA GPU, or set PROFILE = 'smoke'")
        raise ConfigError(f"profile {profile!r} needs a CUDA GPU and this runtime has none; {how}")
    name = device_name or torch.cuda.get_device_name(0)
    capability = capability or torch.cuda.get_device_capability(0)
    precision = precision_for_capability(capability)
    return (f"GPU: {name} (compute capability {capability[0]}.{capability[1]}; mixed precision auto -> "
            f"{precision})")


def squad_run_cost(cfg: Any) -> dict[str, Any]:
    """`display.run_cost` of one run of `cfg` on SQuAD 2.0 with albert-base-v2 (FLOPs, steps, evaluations),
    with dynamic padding: each window costs its ~181 real tokens (:data:`SQUAD_MEAN_TOKENS_PER_WINDOW`, at most
    ``max_seq_length``), not a full 384-token window. Batches padded to their longest window cost a little more."""
    from .anatomy import encoder_flops_per_token, standard_configs
    from .display import run_cost

    tokens = min(SQUAD_MEAN_TOKENS_PER_WINDOW, cfg.max_seq_length)
    per_token = encoder_flops_per_token(standard_configs()["albert-base"], seq_len=tokens)["total"]
    windows_per_question = SQUAD_DEV_WINDOWS / SQUAD_DEV_QUESTIONS
    return run_cost(cfg, round(SQUAD_TRAIN_QUESTIONS * windows_per_question), SQUAD_DEV_QUESTIONS,
                    windows_per_question, per_token, tokens_per_window=tokens)


def time_warning(flops_per_run: float, runs: int, sustained_tflops: float, gpu: str,
                 session_hours: float = COLAB_SESSION_HOURS) -> str:
    """Expected hours per run and per comparison of `runs` runs, LABELLED AS AN ESTIMATE, with what to do
    when they exceed a Colab session."""
    per_run = flops_per_run / (sustained_tflops * 1e12 * 3600)
    total = per_run * runs
    text = (f"ESTIMATE, not a measurement (FLOPs / an assumed {sustained_tflops:g} TFLOP/s on {gpu}): about "
            f"{duration(per_run)} per run, {duration(total)} for the comparison's {runs} runs")
    if total <= session_hours:
        return text + f"; within one Colab session (at most {session_hours:g} h)."
    text += (f"; longer than one Colab session (at most {session_hours:g} h): keep USE_DRIVE = 'auto' (Google "
             f"Drive in Colab) so the runs outlive the runtime, and after a disconnect rerun the comparison cell "
             f"(finished runs are skipped, the unfinished one resumes from its latest checkpoint)")
    if per_run > session_hours:
        text += "; even one run is longer than a session, so it will resume from checkpoints at least once"
    return text + "."


def estimate_banner(cfg: Any, runs: int, gpu: str | None = None, output_dir: str | os.PathLike | None = None,
                    arms: Sequence[str] = ("baseline", "reinit"), seeds: Sequence[int] | None = None) -> str:
    """The expected duration of one comparison of `cfg` with `runs` runs. With `output_dir` (the comparison
    directory) whose runs have measured steps: the MEASURED extrapolation for its arms x seeds (eta.remaining)
    and where the checkpoints go; before any measurement, :func:`time_warning` for each GPU in
    :data:`ASSUMED_TFLOPS` (or one), labelled ESTIMATE."""
    lines = []
    if output_dir is not None:
        from .results import run_dir

        dirs = [run_dir(output_dir, arm, seed) for seed in (seeds or cfg.seeds) for arm in arms]
        measured = remaining(dirs)
        if measured is not None:
            lines.append(measured.text())
    if not lines:
        flops = squad_run_cost(cfg)["flops"]
        gpus = {gpu: ASSUMED_TFLOPS[gpu]} if gpu else ASSUMED_TFLOPS
        lines += [time_warning(flops, runs, tflops, name) for name, tflops in gpus.items()]
        if output_dir is not None:
            lines.append("(no step measured yet: once the first run has evaluated, rerun this cell for the "
                         "measured time, and the comparison's log gives it before each run)")
    if output_dir is not None:
        lines.append("checkpoints: " + storage_note(output_dir))
    return "\n".join(lines)
