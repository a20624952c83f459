"""Re-draw parts of a pretrained encoder before fine-tuning: albertZero's trick and its relatives.

albertZero re-initialises ``ffn_output``, the last linear layer of ALBERT's single shared transformer block,
which all 12 passes use. Target names resolve per architecture:

- a block part (``ffn_output``, ``ffn``, ``attention_output``, ``attention_qkv``, ``layer_norms``) is that part
  *wherever it acts*: in ALBERT the one shared block (so all 12 passes change); in an unshared encoder
  (BERT, MiniLM) every layer's copy (``ffn_output`` = every ``encoder.layer.*.output.dense``), the analogue of
  the shared block's one ``ffn_output`` acting in all passes;
- ``top:N/PART`` (unshared encoders): that part of the top N layers only; ``top:1/ffn_output`` is the top
  layer's FFN output linear, a BERT-style top-layer re-init (Zhang et al. 2020, "Revisiting Few-sample BERT
  Fine-tuning", arXiv 2006.05987, who re-draw whole top layers);
- ``top:N`` (unshared encoders): the top N layers whole, as Zhang et al. do; ``pooler``: the pooler (they
  re-draw it too).

Pairing contract: with a ``seed``, draws come from a local ``torch.Generator`` so the global RNG stream
(dropout masks, data order) is exactly what it would have been without the re-initialisation.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from .errors import ConfigError

#: Parts of one transformer block, each found by shape or name so that any HF encoder is covered.
BLOCK_PARTS = ("attention_output", "attention_qkv", "ffn", "ffn_output", "layer_norms")
#: ``top:N`` (the whole top N layers: ``top:1``, ``top:2``, ...) and ``top:N/PART`` (one block part of the top N
#: layers, e.g. ``top:1/ffn_output``); with BLOCK_PARTS and ``pooler``, every target name of some architecture.
_TOP = re.compile(r"top:[1-9]\d*(/(" + "|".join(BLOCK_PARTS) + "))?")
_QKV_NAMES = {"query", "key", "value", "q_lin", "k_lin", "v_lin", "q_proj", "k_proj", "v_proj", "q", "k", "v"}


def encoder_blocks(model: nn.Module) -> list[nn.Module]:
    """The distinct transformer blocks in the order they run (ALBERT: one shared block; BERT: 12 layers)."""
    backbone = getattr(model, "base_model", model)
    encoder = getattr(backbone, "encoder", None)
    groups = getattr(encoder, "albert_layer_groups", None)
    if groups is not None:
        return [layer for group in groups for layer in group.albert_layers]
    num_layers = getattr(model.config, "num_hidden_layers", None)
    for _, module in backbone.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == num_layers:
            return list(module)
    raise ConfigError(f"{type(model).__name__}: cannot find its transformer layers to re-initialise")


def is_shared(model: nn.Module) -> bool:
    """True when fewer distinct blocks exist than layers are run (ALBERT's cross-layer sharing)."""
    return len(encoder_blocks(model)) < model.config.num_hidden_layers


def _is_norm(module: nn.Module) -> bool:
    name = type(module).__name__
    return isinstance(module, nn.LayerNorm) or "LayerNorm" in name or "RMSNorm" in name


def block_part(block: nn.Module, part: str, hidden: int) -> list[nn.Module]:
    """The modules of one block that make up ``part`` (empty when the architecture has no such part)."""
    linears = [(name, m) for name, m in block.named_modules() if isinstance(m, nn.Linear)]
    square = [(name, m) for name, m in linears if m.in_features == m.out_features == hidden]
    if part == "ffn":
        return [m for _, m in linears if m.in_features == hidden and m.out_features != hidden]
    if part == "ffn_output":
        return [m for _, m in linears if m.out_features == hidden and m.in_features != hidden]
    if part == "attention_qkv":
        return [m for name, m in square if name.rsplit(".", 1)[-1] in _QKV_NAMES]
    if part == "attention_output":
        return [m for name, m in square if name.rsplit(".", 1)[-1] not in _QKV_NAMES]
    if part == "layer_norms":
        return [m for _, m in block.named_modules() if _is_norm(m)]
    raise ValueError(part)


def _target_modules(model: nn.Module) -> dict[str, list[nn.Module]]:
    """Every target this model offers, mapped to the modules it re-draws (see the module docstring)."""
    blocks = encoder_blocks(model)
    hidden = model.config.hidden_size
    parts = {part: [[m for m in block_part(block, part, hidden)] for block in blocks] for part in BLOCK_PARTS}
    targets = {part: [m for per_block in found for m in per_block] for part, found in parts.items()}
    targets = {name: modules for name, modules in targets.items() if modules}
    pooler = getattr(getattr(model, "base_model", model), "pooler", None)
    if isinstance(pooler, nn.Module):
        targets["pooler"] = [pooler]
    if not is_shared(model):
        for n in range(1, len(blocks) + 1):
            targets[f"top:{n}"] = blocks[-n:]
        for n in range(1, len(blocks) + 1):
            for part in BLOCK_PARTS:
                if part in targets:
                    targets[f"top:{n}/{part}"] = [m for per_block in parts[part][-n:] for m in per_block]
    return targets


def available_targets(model: nn.Module) -> list[str]:
    """Targets :func:`reinit_layers` accepts for this model: block parts, ``pooler`` if it has one, then
    ``top:1`` ... ``top:L`` and ``top:N/PART`` for unshared encoders."""
    return list(_target_modules(model))


def _describe(names: list[str]) -> str:
    tops = [name for name in names if name.startswith("top:") and "/" not in name]
    scoped = sorted({name.split("/")[1] for name in names if "/" in name}, key=BLOCK_PARTS.index)
    plain = [name for name in names if not name.startswith("top:")]
    return ", ".join(plain + ([f"top:1..top:{len(tops)}"] if tops else [])
                     + ([f"top:N/PART (PART: {'|'.join(scoped)})"] if scoped else []))


def is_known_target(name: str) -> bool:
    """True when some architecture offers ``name`` (use :func:`available_targets` for a given model)."""
    return name in (*BLOCK_PARTS, "pooler") or bool(_TOP.fullmatch(name))


def parse_targets(targets: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"ffn_output,attention_output"`` (or ``+``-joined, a sequence, ``"none"``, None) -> targets, once each."""
    items = re.split(r"[,+]", targets) if isinstance(targets, str) else list(targets or ())
    names = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    return () if names == ("none",) else names


def check_target_names(targets: Sequence[str]) -> None:
    """A one-line ConfigError for a name no architecture offers (which a model offers: reinit_layers checks)."""
    for target in targets:
        if not is_known_target(target):
            raise ConfigError(f"--reinit: unknown target {target!r}; choose from {', '.join(BLOCK_PARTS)}, "
                              "pooler, top:N, top:N/PART (e.g. top:1/ffn_output), or none")


def _how_to_redraw(module: nn.Module, attr: str) -> str:
    """``normal`` for Linear/Embedding weights, ``ones`` for norm weights, ``zeros`` for biases."""
    if attr == "bias":
        return "zeros"
    if attr == "weight" and isinstance(module, (nn.Linear, nn.Embedding)):
        return "normal"
    if attr == "weight" and _is_norm(module):
        return "ones"
    raise ConfigError(f"cannot re-initialise {type(module).__name__}.{attr}: only Linear, Embedding and LayerNorm")


def _redraw_plan(model: nn.Module, modules: list[nn.Module]) -> dict[str, tuple[nn.Parameter, str]]:
    """Parameter name -> (parameter, how to re-draw it), for every parameter inside ``modules``."""
    names = {id(param): name for name, param in model.named_parameters()}
    plan = {}
    for module in modules:
        for sub in module.modules():
            for attr, param in sub.named_parameters(recurse=False):
                plan[names[id(param)]] = (param, _how_to_redraw(sub, attr))
    return plan


def reinit_layers(
    model: nn.Module, targets: str | Sequence[str] = "ffn_output", seed: int | None = None, std: float | None = None
) -> list[str]:
    """Re-draw the named parts in place and return the names of the parameters re-initialised (sorted).

    ``targets``: ``"ffn_output"`` (default), ``"ffn"``, ``"attention_output"``, ``"attention_qkv"``,
    ``"layer_norms"`` (in every block that runs), ``"pooler"``, ``"top:N"`` and ``"top:N/PART"`` (unshared
    encoders; see the module docstring), joined by ``,`` or ``+`` or as a list
    (empty: nothing is re-drawn); see :func:`available_targets`. Linear weights ~ N(0, ``std``), ``std``
    defaulting to ``config.initializer_range``; biases 0; LayerNorm weight 1, bias 0. With ``seed`` the draws
    come from a local generator: deterministic, and the global RNG is untouched. Every other parameter is
    left bit-identical. A shared ALBERT block is re-drawn once, in place, and so changes all 12 passes.
    """
    wanted = parse_targets(targets)
    if not wanted:
        return []
    offered = _target_modules(model)
    unknown = [name for name in wanted if name not in offered]
    if unknown:
        raise ConfigError(
            f"{type(model).__name__} has no reinit target {', '.join(map(repr, unknown))}; "
            f"valid targets: {_describe(available_targets(model))}"
        )
    std = float(model.config.initializer_range if std is None else std)
    if not std > 0:
        raise ConfigError(f"reinit std must be positive, got {std}")
    plan = _redraw_plan(model, [module for name in wanted for module in offered[name]])
    generators: dict[torch.device, torch.Generator] = {}
    with torch.no_grad():
        for name in sorted(plan):  # a fixed order, so that a seed gives the same draws every time
            param, how = plan[name]
            if how == "normal":
                if seed is not None and param.device not in generators:
                    generators[param.device] = torch.Generator(device=param.device).manual_seed(seed)
                param.normal_(0.0, std, generator=generators.get(param.device))
            else:
                param.fill_(1.0 if how == "ones" else 0.0)
    return sorted(plan)


def changed_parameters(before: dict[str, torch.Tensor], model: nn.Module) -> tuple[list[str], int]:
    """(names of the tensors of ``model.state_dict()`` that differ bitwise from ``before``, count of the others
    that are bit-identical): the check that a re-init touched exactly what it names."""
    after = model.state_dict()
    changed = sorted(name for name, tensor in after.items() if not torch.equal(before[name], tensor))
    return changed, len(after) - len(changed)
