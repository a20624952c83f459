"""Where ALBERT's parameters live, and evidence that its 12 layers are one block (notebook 01).

Numbers and configurations follow Lan et al. 2020, "ALBERT: A Lite BERT for Self-supervised Learning of
Language Representations" (arXiv 1909.11942): Table 1 (model sizes), Section 3.1 (factorised embedding
parameterisation, cross-layer sharing) and Figure 1 (L2 distance and cosine similarity between the input
and output embeddings of each layer). The chapter's figures (``plot_*``) draw these tables.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from transformers import AlbertConfig, BertConfig, PretrainedConfig
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from .reinit import block_part, encoder_blocks

#: Parameter groups of :func:`parameter_breakdown`, matched on parameter names in this order.
_NAME_PATTERNS = (
    ("word_embeddings", "word_embeddings."),
    ("position_embeddings", "position_embeddings."),
    ("token_type_embeddings", "token_type_embeddings."),
    ("embedding_layer_norm", "embeddings.LayerNorm."),
    ("embedding_projection", "embedding_hidden_mapping_in."),  # ALBERT's E -> H
    ("embedding_projection", "embeddings_project."),  # ELECTRA's E -> H
    ("blocks", "encoder."),
    ("pooler", "pooler."),
)
#: The parts inside the embeddings module (ALBERT-base: 3,906,048 parameters).
EMBEDDING_PARTS = ("word_embeddings", "position_embeddings", "token_type_embeddings", "embedding_layer_norm")
#: Model sizes in Table 1 of the ALBERT paper (millions of parameters, as printed there).
PAPER_PARAMS_MILLIONS = {
    "bert-base": 108, "albert-base": 12, "albert-large": 18, "albert-xlarge": 60, "albert-xxlarge": 235
}


def _meta_encoder(config: PretrainedConfig) -> nn.Module:
    """The family's base model (with pooler) on the meta device: exact shapes, no memory, no init cost."""
    with torch.device("meta"):
        return MODEL_MAPPING[type(config)](config)


def parameter_breakdown(config_or_model: PretrainedConfig | nn.Module) -> dict[str, int]:
    """Parameter counts by part: embeddings (word, position, token type, LayerNorm), the E->H projection,
    the transformer blocks (ALBERT: the one shared block; BERT: all layers), pooler, heads, other, and total.

    A config is counted on its base model with a pooler; a model is counted as built. The parts sum to total.
    """
    model = _meta_encoder(config_or_model) if isinstance(config_or_model, PretrainedConfig) else config_or_model
    prefix = getattr(model, "base_model_prefix", "")
    counts = dict.fromkeys([part for part, _ in _NAME_PATTERNS] + ["heads", "other"], 0)
    for name, param in model.named_parameters():  # shared parameters are listed once
        in_backbone = getattr(model, "base_model", model) is model or name.startswith(f"{prefix}.")
        part = next((part for part, pattern in _NAME_PATTERNS if pattern in name and in_backbone), None)
        counts[part or ("other" if in_backbone else "heads")] += param.numel()
    counts["total"] = sum(counts.values())
    return counts


def standard_configs() -> dict[str, PretrainedConfig]:
    """BERT-base and ALBERT base/large/xlarge/xxlarge as in Table 1 of the ALBERT paper, built offline."""
    albert = dict(vocab_size=30000, embedding_size=128, hidden_act="gelu_new")
    return {
        "bert-base": BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                                num_attention_heads=12, intermediate_size=3072),
        "albert-base": AlbertConfig(**albert, hidden_size=768, num_hidden_layers=12,
                                    num_attention_heads=12, intermediate_size=3072),
        "albert-large": AlbertConfig(**albert, hidden_size=1024, num_hidden_layers=24,
                                     num_attention_heads=16, intermediate_size=4096),
        "albert-xlarge": AlbertConfig(**albert, hidden_size=2048, num_hidden_layers=24,
                                      num_attention_heads=16, intermediate_size=8192),
        "albert-xxlarge": AlbertConfig(**albert, hidden_size=4096, num_hidden_layers=12,
                                       num_attention_heads=64, intermediate_size=16384),
    }


def compare_models(configs: dict[str, PretrainedConfig] | None = None) -> list[dict]:
    """One row per model: parameters with and without embeddings, H, E, layers, shared?, paper's size."""
    rows = []
    for name, config in (configs or standard_configs()).items():
        counts = parameter_breakdown(config)
        embeddings = sum(counts[part] for part in EMBEDDING_PARTS)
        rows.append({
            "model": name,
            "params": counts["total"],
            "params_without_embeddings": counts["total"] - embeddings,
            "hidden": config.hidden_size,
            "embedding": getattr(config, "embedding_size", config.hidden_size),
            "layers": config.num_hidden_layers,
            "shared": getattr(config, "num_hidden_groups", config.num_hidden_layers) < config.num_hidden_layers,
            "paper_params_millions": PAPER_PARAMS_MILLIONS.get(name),
        })
    return rows


def factorisation_table(
    vocab_size: int = 30000, hidden: int = 768, embedding_sizes: tuple[int, ...] = (64, 128, 256, 768)
) -> list[dict]:
    """Embedding weights with ALBERT's factorisation (V*E + E*H) against BERT's V*H, biases left out."""
    rows = []
    for size in embedding_sizes:
        factorised, unfactorised = vocab_size * size + size * hidden, vocab_size * hidden
        rows.append({"embedding_size": size, "factorised": factorised, "unfactorised": unfactorised,
                     "ratio": factorised / unfactorised})
    return rows


def _hidden_of(output: object) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


def _example_input(model: nn.Module, length: int = 16) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(5, model.config.vocab_size, (1, length), generator=generator)


def _record_block_calls(model: nn.Module, calls: list[dict]) -> list[torch.utils.hooks.RemovableHandle]:
    """Hook every block so that each pass appends ``{block, input, output}`` to ``calls`` in run order."""
    def hook(module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:
        hidden_in = args[0] if args else kwargs["hidden_states"]
        calls.append({"block": module, "input": hidden_in.detach(), "output": _hidden_of(output).detach()})

    return [block.register_forward_hook(hook, with_kwargs=True) for block in set(encoder_blocks(model))]


@contextlib.contextmanager
def _probing(model: nn.Module, handles: list[torch.utils.hooks.RemovableHandle]) -> Iterator[None]:
    """Eval mode and empty gradients during the probe; afterwards remove its hooks, put back the caller's
    gradients and training mode."""
    was_training = model.training
    saved_grads = {param: param.grad for param in model.parameters()}
    model.eval()
    model.zero_grad(set_to_none=True)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for param, grad in saved_grads.items():
            param.grad = grad
        model.train(was_training)


def shared_block_proof(model: nn.Module, input_ids: torch.Tensor | None = None) -> dict:
    """Show that ALBERT's layers are one set of parameters used ``num_hidden_layers`` times.

    Counts the distinct block objects the passes call and the distinct storages of their ``ffn_output``
    weight, then checks that one backward pass leaves in that weight's ``.grad`` exactly the sum of the
    per-pass gradients ``dy_i^T x_i`` captured with hooks on each call of the layer (the loss is the final
    states projected on a fixed random direction; dropout is off). The model is left as it was found.
    """
    device = next(model.parameters()).device
    input_ids = (_example_input(model) if input_ids is None else input_ids).to(device)
    hidden = model.config.hidden_size
    layers = [block_part(block, "ffn_output", hidden)[0] for block in encoder_blocks(model)]
    block_calls: list[dict] = []
    passes: list[dict] = []

    def capture(layer: nn.Linear, args: tuple, output: torch.Tensor) -> None:
        x = args[0].detach().reshape(-1, layer.in_features)
        record = {"layer": layer, "storage": layer.weight.data_ptr()}
        output.register_hook(lambda dy: record.update(grad=dy.reshape(-1, layer.out_features).T @ x))
        passes.append(record)

    handles = _record_block_calls(model, block_calls) + [layer.register_forward_hook(capture) for layer in layers]
    with _probing(model, handles):
        probe = torch.randn(hidden, generator=torch.Generator().manual_seed(0)).to(device)  # fixed readout
        (model.base_model(input_ids=input_ids)[0] @ probe).sum().backward()
        errors = []
        for layer in layers:
            summed = sum(record["grad"] for record in passes if record["layer"] is layer)
            scale = layer.weight.grad.abs().max().clamp_min(1e-30)
            errors.append(((layer.weight.grad - summed).abs().max() / scale).item())
        return {
            "passes": len(block_calls),
            "distinct_blocks": len({id(call["block"]) for call in block_calls}),
            "distinct_ffn_output_storages": len({record["storage"] for record in passes}),
            "per_pass_grad_norm": [record["grad"].norm().item() for record in passes],
            "ffn_output_grad_norm": torch.stack([layer.weight.grad.norm() for layer in layers]).norm().item(),
            "max_relative_error": max(errors),
            "grad_is_sum_of_passes": max(errors) < 1e-4,
        }


@torch.no_grad()
def hidden_state_drift(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> list[dict]:
    """Per pass: mean L2 distance and cosine similarity between its input and output token states.

    Averaged over the non-padding tokens, as in Figure 1 of the ALBERT paper (where ALBERT's transitions are
    much smoother than BERT's).
    """
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
    calls: list[dict] = []
    with _probing(model, _record_block_calls(model, calls)):
        model.base_model(input_ids=input_ids, attention_mask=mask)
    weights = mask.to(torch.float32)
    rows = []
    for index, call in enumerate(calls, start=1):
        before, after = call["input"].float(), call["output"].float()
        l2 = (after - before).norm(dim=-1)
        cosine = nn.functional.cosine_similarity(after, before, dim=-1)
        rows.append({"layer": index, "l2_distance": float((l2 * weights).sum() / weights.sum()),
                     "cosine_similarity": float((cosine * weights).sum() / weights.sum())})
    return rows


def encoder_flops_per_token(config: PretrainedConfig, seq_len: int = 512) -> dict[str, int]:
    """Forward FLOPs per token of the encoder's matrix products (1 multiply-add = 2 FLOPs), by part.

    Per layer: the Q, K, V and output projections (``4 * 2H^2``), the FFN (``2 * 2HI``) and attention itself
    (scores and weighted sum, ``2 * 2SH``); ALBERT adds its E -> H projection (``2EH``) once. Sharing changes
    none of this: every layer is still run. Softmax, LayerNorm, GELU, biases and the pooler are left out.
    """
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    embedding = getattr(config, "embedding_size", hidden)
    per_layer = 2 * (4 * hidden * hidden + 2 * hidden * inner + 2 * seq_len * hidden)
    projection = 2 * embedding * hidden if embedding != hidden else 0
    return {"per_layer": per_layer, "layers": layers, "embedding_projection": projection,
            "total": layers * per_layer + projection}


# ------------------------------------------------------------------------------- the chapter's figures
def plot_parameter_bars(rows: Sequence[Mapping[str, Any]], ax: Any = None) -> Any:
    """Millions of parameters per model, split into embeddings and the rest (rows of :func:`compare_models`)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    names = [row["model"] for row in rows]
    rest = [row["params_without_embeddings"] / 1e6 for row in rows]
    embeddings = [row["params"] / 1e6 - other for row, other in zip(rows, rest)]
    ax.bar(names, embeddings, label="embeddings", color="#f4a261")
    ax.bar(names, rest, bottom=embeddings, label="transformer block(s), projection, pooler", color="#264653")
    for x, total in enumerate(e + r for e, r in zip(embeddings, rest)):
        ax.annotate(f"{total:.1f}M", (x, total), ha="center", va="bottom")
    ax.set_ylabel("parameters (millions)")
    ax.set_title("Parameters: BERT-base against the ALBERT family")
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure


def plot_factorisation(rows: Sequence[Mapping[str, Any]], ax: Any = None) -> Any:
    """Embedding weights V*E + E*H against V*H as E grows (rows of :func:`factorisation_table`)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    sizes = [row["embedding_size"] for row in rows]
    ax.plot(sizes, [row["factorised"] / 1e6 for row in rows], marker="o", label="factorised: V·E + E·H")
    ax.plot(sizes, [row["unfactorised"] / 1e6 for row in rows], linestyle="--", label="BERT-style: V·H")
    ax.set_xticks(range(0, max(sizes) + 1, 128))  # a linear axis: a cost linear in E is a straight line
    ax.set_xlim(0, max(sizes) * 1.04)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("embedding size E")
    ax.set_ylabel("embedding weights (millions)")
    ax.set_title("Factorised embeddings (V = 30,000, H = 768)")
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure


def plot_drift(series: Mapping[str, Sequence[Mapping[str, Any]]], label: str, axes: Any = None) -> Any:
    """L2 distance and cosine similarity between each layer's input and output, one line per model
    (``series`` maps a model name to the rows of :func:`hidden_state_drift`); ``label`` names the weights."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, rows in series.items():
        layers = [row["layer"] for row in rows]
        axes[0].plot(layers, [row["l2_distance"] for row in rows], marker="o", label=name)
        axes[1].plot(layers, [row["cosine_similarity"] for row in rows], marker="o", label=name)
    for ax, what in zip(axes, ("mean L2 distance", "mean cosine similarity")):
        ax.set_xlabel("layer (pass through a block)")
        ax.set_ylabel(what)
        ax.set_title(f"{what}, layer input vs output\n({label})")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    axes[0].figure.tight_layout()
    return axes[0].figure
