"""A non-editable install carries data/: the wheel holds every committed data file as the package
albertzero_data, and, installed outside the checkout, paths resolves them there (importlib.resources)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from albertzero_utils import paths

pytestmark = pytest.mark.slow

DATA_FILES = ["squad2/dev-v2.0.json", "sample/train-v2.0.json", "sample/dev-v2.0.json", "tiny-albert/config.json",
              "tiny-albert/spiece.model", "albert-base-v2/spiece.model", "albert-base-v2/config.json",
              "pretrain/corpus.txt", "README.md"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")  # setuptools' build/ and egg-info stay out of the checkout
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(paths.REPO_ROOT)], check=True, capture_output=True, cwd=build,
                   env={**os.environ, "PIP_NO_INDEX": "1"})
    found = sorted(out.glob("albertzero-*.whl"))
    assert len(found) == 1
    return found[0]


def test_the_wheel_holds_the_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in DATA_FILES:
        assert f"albertzero_data/{name}" in names, name
    assert "albertzero_utils/paths.py" in names and "albertzero_utils/cli/__init__.py" in names


def test_an_installed_wheel_resolves_its_own_data(wheel: Path, tmp_path: Path) -> None:
    """Installed into a fresh directory and imported from elsewhere (not the checkout): the data paths point
    into the installed package, the files are there, and the loaders read them."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    probe = ("import json, albertzero_utils, albertzero_utils.paths as p\n"
             "from albertzero_utils import data, metrics\n"
             "examples = data.load_examples('sample:dev')\n"
             "dev = data.flatten_squad(data.load_squad_json(p.SQUAD2_DEV))\n"
             "print(json.dumps({'package': albertzero_utils.__file__, 'data': str(p.DATA_DIR),\n"
             "                  'sample': len(examples), 'dev': len(dev),\n"
             "                  'tiny': (p.TINY_MODEL_DIR / 'config.json').is_file(),\n"
             "                  'albert': (p.ALBERT_BASE_DIR / 'spiece.model').is_file()}))\n")
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["package"].startswith(str(target)) and found["data"] == str(target / "albertzero_data")
    assert found["sample"] > 0 and found["dev"] == 11873 and found["tiny"] and found["albert"]


def test_a_checkout_uses_its_own_data() -> None:
    assert paths.DATA_DIR == paths.REPO_ROOT / "data" and paths.SQUAD2_DEV.is_file()
