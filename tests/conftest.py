"""Shared fixtures: the suite never touches the network; real material comes from the committed data/."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def _is_local(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host in _LOCAL_HOSTS or host.startswith("127.")
    return True  # unix sockets and the like


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any outbound connection: the whole suite must pass with the network blocked."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        if not _is_local(address):
            raise OSError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a test module: the tiny models gain nothing from more, and CI's machine is small
    and shared. Modules ask for it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch  # only for the modules that train

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tmpfs():
    """``mount(target, options) -> bool``: mount a tmpfs at `target` (root only; False where mounting is not
    permitted). Everything mounted is unmounted when the test ends."""
    mounted: list[Path] = []

    def mount(target: Path, options: str) -> bool:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
        if done.returncode == 0:
            mounted.append(target)
        return done.returncode == 0

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], capture_output=True)
