"""Safe loading of published albertZero checkpoints (``.bin``/``.pt``/``.safetensors``) into our models.

The albertZero model card loads ``albertZero-squad2-base-v2.bin`` with a bare ``torch.load``, which executes
any code pickled into the file. :func:`load_albertzero_weights` reads pickles with ``torch.load(weights_only=True)``
(which refuses, without running it, anything but tensors and plain containers) or safetensors, maps the key
layouts of known re-implementations onto ours, and reports what was loaded, missing and left over.
"""
from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors
from transformers import PreTrainedModel

from .errors import CheckpointError, UnsafeCheckpointError

#: Backbone prefixes used by re-implementations; each is mapped onto the model's own ``base_model_prefix``.
BACKBONE_ALIASES = ("albert.", "electra.")


@dataclass
class LoadReport:
    """What :func:`load_albertzero_weights` did: model keys loaded/missing and checkpoint keys left over."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _read_pickled_state_dict(path: Path) -> object:
    """``torch.load(weights_only=True)``; a refusal is explained as unsafe (naming what would run) or corrupt."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - classified below, nothing was executed
        reason = " ".join(str(exc).split())[:160]
        unsafe, refused = _unsafe_globals(path), isinstance(exc, pickle.UnpicklingError)
    if unsafe or (refused and not zipfile.is_zipfile(path)):
        what = f"it would run code on unpickling ({', '.join(unsafe)})" if unsafe else \
            f"torch.load(weights_only=True) refused this pickle ({reason})"
        raise UnsafeCheckpointError(f"{path}: refusing to load, {what}; nothing was executed. Convert a trusted "
                                    "copy to .safetensors")
    raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, truncated or corrupt ({reason})")


def _unsafe_globals(path: Path) -> list[str]:
    """What a ``torch.save`` file would import beyond tensors (read by torch, nothing run); [] if unreadable."""
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - not a readable torch.save zip file
        return []


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors by name from ``.safetensors`` or a pickled ``.bin``/``.pt`` (wrapped ``state_dict`` accepted)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        try:
            return load_safetensors(path, device="cpu")
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    obj = _read_pickled_state_dict(path)
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, found {type(obj).__name__}")
    return obj


def _our_key(key: str, prefix: str, ours: dict[str, torch.Tensor]) -> str | None:
    """Map a checkpoint key onto the model's names (DataParallel, backbone aliases, ``has_ans`` index)."""
    key = re.sub(r"^(module\.)+", "", key)
    key = re.sub(r"^has_ans\.(weight|bias)$", r"has_ans.1.\1", key)
    for alias in (*BACKBONE_ALIASES, f"{prefix}."):
        if key.startswith(alias):
            key = f"{prefix}.{key[len(alias):]}"
            break
    else:
        if f"{prefix}.{key}" in ours:
            key = f"{prefix}.{key}"
    return key if key in ours else None


def load_albertzero_weights(model: PreTrainedModel, path: str | Path) -> LoadReport:
    """Load a published checkpoint (e.g. ``albertZero-squad2-base-v2.bin``) into ``model``, safely.

    Pickles are read with ``weights_only=True``; one needing code execution raises
    :class:`~albertzero_utils.errors.UnsafeCheckpointError` and nothing is run. Shape mismatches are refused.
    """
    path = Path(path)
    checkpoint = _read_state_dict(path)
    ours = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, tensor in checkpoint.items():
        target = _our_key(key, model.base_model_prefix, ours)
        if target is None:
            unexpected.append(key)
            continue
        if tuple(tensor.shape) != tuple(ours[target].shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(tensor.shape)} but the model's {target} has "
                f"{tuple(ours[target].shape)}; was it trained with another config?"
            )
        mapped[target] = tensor
    if not mapped:
        raise CheckpointError(f"{path}: none of its {len(checkpoint)} tensors match this {type(model).__name__}")
    model.load_state_dict(mapped, strict=False)
    missing = sorted(set(ours) - set(mapped))
    return LoadReport(source=str(path), loaded=sorted(mapped), missing=missing, unexpected=sorted(unexpected))
