"""Safe loading of published albertZero weights: key layouts, shape checks, and pickles that are never run."""
from __future__ import annotations

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from albertzero_utils.errors import CheckpointError, UnsafeCheckpointError
from albertzero_utils import paths
from albertzero_utils.modeling import AlbertForQuestionAnsweringAVPool, load_qa_model
from albertzero_utils.weights import load_albertzero_weights
from tests.test_modeling import seeded_albert


def published_layout(model: AlbertForQuestionAnsweringAVPool) -> dict[str, torch.Tensor]:
    """Our weights under another re-implementation's names: DataParallel, 'electra.' backbone, has_ans.W."""
    renamed = {}
    for key, value in model.state_dict().items():
        key = key.replace("albert.", "electra.", 1).replace("has_ans.1.", "has_ans.")
        renamed[f"module.{key}"] = value.clone()
    return renamed


@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_published_layouts_are_mapped_onto_the_model(tmp_path: os.PathLike, suffix: str) -> None:
    source = seeded_albert()
    path = tmp_path / f"albertZero-squad2-base-v2{suffix}"
    state = published_layout(source) | {"module.extra.weight": torch.zeros(2)}
    if suffix == ".bin":
        torch.save({"state_dict": state}, path)
    else:
        save_file(state, path)
    target = load_qa_model(paths.TINY_MODEL_DIR, seed=99)
    report = load_albertzero_weights(target, path)
    assert report.unexpected == ["module.extra.weight"] and report.missing == []
    assert set(report.loaded) == set(source.state_dict())
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key]), key


def test_shape_mismatch_is_refused_and_leaves_the_model_alone(tmp_path: os.PathLike) -> None:
    state = seeded_albert().state_dict()
    state["qa_outputs.weight"] = torch.zeros(2, 64)
    torch.save(state, tmp_path / "w.bin")
    target = load_qa_model(paths.TINY_MODEL_DIR, seed=1)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"qa_outputs.weight has shape \(2, 64\)"):
        load_albertzero_weights(target, tmp_path / "w.bin")
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


class _Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_malicious_pickle_is_refused_without_running_it(tmp_path: os.PathLike, writer: str) -> None:
    marker = tmp_path / "pwned"
    payload = {"albert.embeddings.word_embeddings.weight": torch.zeros(1), "x": _Exploit(str(marker))}
    path = tmp_path / "albertZero-squad2-base-v2.bin"
    if writer == "pickle":
        with open(path, "wb") as handle:
            pickle.dump(payload, handle)
    else:
        torch.save(payload, path)
    with pytest.raises(UnsafeCheckpointError) as caught:
        load_albertzero_weights(seeded_albert(), path)
    # torch names what a torch.save file would import; a bare pickle is refused with torch's own reason
    assert ("system" if writer == "torch.save" else "refused this pickle") in str(caught.value)
    assert "nothing was executed" in str(caught.value) and "\n" not in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_truncated_or_garbage_files_are_checkpoint_errors(tmp_path: os.PathLike, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    state = seeded_albert().state_dict()
    torch.save(state, whole) if suffix == ".bin" else save_file(state, whole)
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"this is not a checkpoint")
    for path in (truncated, garbage, tmp_path / f"absent{suffix}"):
        with pytest.raises(CheckpointError) as caught:
            load_albertzero_weights(seeded_albert(), path)
        assert not isinstance(caught.value, UnsafeCheckpointError) and str(path) in str(caught.value)


def test_a_checkpoint_of_another_model_matches_nothing(tmp_path: os.PathLike) -> None:
    torch.save({"classifier.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="none of its 1 tensors"):
        load_albertzero_weights(seeded_albert(), tmp_path / "other.pt")


