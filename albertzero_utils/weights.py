"""Safe loading of published albertZero checkpoints (``.bin``/``.pt``/``.safetensors``) into our models.

The albertZero model card loads ``albertZero-squad2-base-v2.bin`` with a bare ``torch.load``, which executes
any code pickled into the file. :func:`load_albertzero_weights` reads pickles with ``weights_only=True`` after
inspecting their opcodes (nothing is executed), maps the key layouts of known re-implementations onto ours,
and reports what was loaded, missing and left over.
"""
from __future__ import annotations

import pickletools
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
#: Globals a plain tensor checkpoint references; anything else in a refused pickle means code would run.
_TENSOR_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode")


@dataclass
class LoadReport:
    """What :func:`load_albertzero_weights` did: model keys loaded/missing and checkpoint keys left over."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _pickle_globals(payload: bytes) -> list[str] | None:
    """The ``module.name`` globals a pickle would import, read without executing it (None: not a pickle)."""
    found, strings = [], []
    try:
        for opcode, arg, _ in pickletools.genops(payload):
            if opcode.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001 - any parse failure means "not a readable pickle"
        return None
    return found


def _pickle_payload(path: Path) -> bytes:
    """The pickle stream of a legacy ``torch.save`` file or of the ``data.pkl`` inside a zip checkpoint."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.endswith("data.pkl")]
            return archive.read(members[0]) if members else b""
    return path.read_bytes()


def _read_pickled_state_dict(path: Path) -> object:
    """``torch.load(weights_only=True)``; explain a refusal as unsafe (names the globals) or as corrupt."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - classified below, nothing was executed
        reason = " ".join(str(exc).split())[:160]
        try:
            imported = _pickle_globals(_pickle_payload(path)) or []
        except (OSError, zipfile.BadZipFile, IndexError):
            imported = []
        unsafe = sorted({name for name in imported if not name.startswith(_TENSOR_GLOBALS)})
        if unsafe:
            raise UnsafeCheckpointError(
                f"{path}: refusing to load, it would run code on unpickling ({', '.join(unsafe)}); nothing was "
                "executed. Convert a trusted copy to .safetensors"
            ) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, truncated or corrupt ({reason})") from None


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
