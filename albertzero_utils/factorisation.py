"""ALBERT's embedding factorisation measured on real weights: a V x H word-embedding matrix replaced by
V x E and E x H factors (V*E + E*H parameters instead of V*H), here by truncated SVD, the best rank-E
approximation in the Frobenius norm (Eckart-Young). Notebook 01 applies it to all-MiniLM-L6-v2's
30,522 x 384 word embeddings.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pathlib import Path

import numpy as np

from .errors import CheckpointError
from .paths import model_location


def word_embeddings(model_name: str = "minilm") -> np.ndarray:
    """The word-embedding matrix (V x H, float64) of a named or local model whose ``model.safetensors`` holds
    ``embeddings.word_embeddings.weight`` (BERT-style keys, optionally under a ``bert.`` prefix); ``minilm``
    (the default) is sha256-checked first. Reads that one tensor only."""
    from safetensors import safe_open

    path = Path(model_location(model_name)) / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    with safe_open(str(path), "np") as weights:
        keys = [key for key in weights.keys() if key.endswith("embeddings.word_embeddings.weight")]
        if not keys:
            raise CheckpointError(f"{path}: holds no embeddings.word_embeddings.weight")
        return weights.get_tensor(keys[0]).astype(np.float64)


def _right_singular(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (largest first) and right singular vectors (columns) of a tall V x H ``matrix``, from
    the H x H Gram matrix: a symmetric eigenproblem, exact in float64 for an embedding's spread of scales,
    and a fraction of a second for 30,522 x 384 where a full SVD takes seconds."""
    matrix = np.asarray(matrix, dtype=np.float64)
    eigenvalues, vectors = np.linalg.eigh(matrix.T @ matrix)
    order = np.argsort(eigenvalues)[::-1]
    return np.sqrt(np.clip(eigenvalues[order], 0.0, None)), vectors[:, order]


def singular_values(matrix: np.ndarray) -> np.ndarray:
    """The singular values of a tall ``matrix``, largest first."""
    return _right_singular(matrix)[0]


def factorise(matrix: np.ndarray, rank: int) -> dict[str, Any]:
    """Truncated SVD of a tall V x H ``matrix`` at E = ``rank``: ``left`` (V x E, U_E S_E = M V_E) and ``right``
    (E x H, V_E^T), the parameters ``full`` = V*H, ``factorised`` = V*E + E*H and ``saved``, and
    ``relative_error`` = ||M - left @ right||_F / ||M||_F measured on the reconstruction."""
    matrix = np.asarray(matrix, dtype=np.float64)
    vocab, hidden = matrix.shape
    if not 1 <= rank <= min(vocab, hidden):
        raise ValueError(f"rank must be in 1..{min(vocab, hidden)}, not {rank}")
    vectors = _right_singular(matrix)[1][:, :rank]
    left, right = matrix @ vectors, vectors.T
    error = np.linalg.norm(matrix - left @ right) / np.linalg.norm(matrix)
    full, factorised = vocab * hidden, vocab * rank + rank * hidden
    return {"vocab": vocab, "hidden": hidden, "rank": rank, "left": left, "right": right, "full": full,
            "factorised": factorised, "saved": full - factorised, "relative_error": float(error)}


def retained_energy(values: np.ndarray, ranks: Sequence[int] | None = None) -> list[dict[str, float]]:
    """Rows ``E, energy``: the share of ||M||_F^2 kept by the best rank-E approximation, sum(s_i^2, i<=E) /
    sum(s_i^2), for each E in ``ranks`` (default every E); 1 - energy is the squared relative error."""
    energy = np.cumsum(np.square(values)) / np.sum(np.square(values))
    ranks = range(1, len(values) + 1) if ranks is None else ranks
    return [{"E": int(rank), "energy": float(energy[rank - 1])} for rank in ranks]


def plot_retained_energy(rows: Sequence[dict[str, float]], mark: int | None = 128, ax: Any = None) -> Any:
    """Retained energy against E, with ``mark`` (ALBERT's E = 128) drawn as a dashed line."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([row["E"] for row in rows], [row["energy"] for row in rows])
    if mark is not None:
        kept = next(row["energy"] for row in rows if row["E"] == mark)
        ax.axvline(mark, linestyle="--", color="grey")
        ax.annotate(f"E = {mark}: {kept:.1%}", (mark, kept), textcoords="offset points", xytext=(6, -14))
    ax.set_xlabel("E (rank of the factorisation)")
    ax.set_ylabel("share of ||W||$_F^2$ retained")
    ax.set_ylim(0, 1.02)
    return ax
