"""Retro-Reader's AVPool question-answering head for ALBERT and any other HF encoder, and how to load it.

The head (Zhang et al. 2021, "Retrospective Reader", arXiv 2001.09694) puts two linear layers on the encoder:
``qa_outputs`` gives start/end logits for every token, and ``has_ans`` (dropout + linear) reads the first
token's final hidden state and says whether the window holds an answer (column 1 = "no answer"). Training
averages the three cross-entropies: ``(start + end + answerability) / 3``.

``AlbertForQuestionAnsweringAVPool`` is written out for ALBERT; :func:`avpool_class` builds the same head on
any other encoder family (BERT, RoBERTa, ELECTRA, MiniLM, ...) by subclassing that family's
``PreTrainedModel``, so initialisation, attention back-ends and checkpoint prefixes behave exactly as in the
family's own ``...ForQuestionAnswering``. Published checkpoints (``.bin``/``.pt``/``.safetensors``) are read
by :func:`albertzero_utils.weights.load_albertzero_weights`, which never executes pickled code.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import pickle
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AlbertModel, AlbertPreTrainedModel, AutoConfig, PretrainedConfig, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_MAPPING, MODEL_MAPPING_NAMES
from transformers.utils import ModelOutput

from .errors import CheckpointError, ConfigError, UnsafeCheckpointError
from .paths import TINY_MODEL_DIR, model_location

#: Files whose presence means a directory holds trained weights (otherwise it is built from its config).
WEIGHT_FILES = (
    "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class QAModelOutput(ModelOutput):
    """Loss (when labels are given), span logits ``[batch, seq]`` and answerability logits ``[batch, 2]``."""

    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    has_logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def _classifier_dropout(config: PretrainedConfig) -> float:
    """The dropout before the answerability layer: the family's classifier dropout, else its hidden dropout."""
    for name in ("classifier_dropout_prob", "classifier_dropout", "hidden_dropout_prob", "dropout"):
        value = getattr(config, name, None)
        if value is not None:
            return float(value)
    return 0.1


def span_and_answerability_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    has_logits: torch.Tensor,
    start_positions: torch.Tensor | None,
    end_positions: torch.Tensor | None,
    is_impossible: torch.Tensor | None,
) -> torch.Tensor | None:
    """Mean of the cross-entropies whose labels are given: start, end (both or neither) and answerability.

    Positions outside the sequence are clamped to ``seq_len`` and ignored, as in HF's QA heads.
    """
    terms = []
    if (start_positions is None) != (end_positions is None):
        raise ValueError("start_positions and end_positions must be given together")
    if start_positions is not None:
        ignored_index = start_logits.size(1)
        span_ce = nn.CrossEntropyLoss(ignore_index=ignored_index)
        for logits, positions in ((start_logits, start_positions), (end_logits, end_positions)):
            positions = positions.view(-1).clamp(0, ignored_index)
            terms.append(span_ce(logits, positions))
    if is_impossible is not None:
        terms.append(nn.functional.cross_entropy(has_logits, is_impossible.view(-1).long()))
    return torch.stack(terms).mean() if terms else None


class EncoderForQuestionAnsweringAVPool:
    """The AVPool head and forward pass, mixed in before an encoder family's ``PreTrainedModel``.

    Every AVPool model is an instance of this class. Used directly, it works like an ``AutoModel``:
    ``EncoderForQuestionAnsweringAVPool(config)`` and ``.from_pretrained(name_or_dir)`` build the concrete
    class for ``config.model_type`` (``BertForQuestionAnsweringAVPool``, ...), see :func:`avpool_class`.
    """

    #: The encoder class this family's base model is built from (``AlbertModel``, ``BertModel``, ...).
    backbone_class: type[PreTrainedModel]

    def __new__(cls, *args: object, **kwargs: object) -> EncoderForQuestionAnsweringAVPool:
        if cls is EncoderForQuestionAnsweringAVPool:  # (config) -> the family's class; __init__ then runs once
            cls = avpool_class((args[0] if args else kwargs["config"]).model_type)
        return super().__new__(cls)

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path, *args: object, **kwargs: object) -> PreTrainedModel:
        """The family's ``from_pretrained``; on this class itself, dispatched on the checkpoint's model type."""
        if cls is EncoderForQuestionAnsweringAVPool:
            config = kwargs.get("config") or AutoConfig.from_pretrained(name_or_dir)
            return avpool_class(config.model_type).from_pretrained(name_or_dir, *args, **kwargs)
        return super().from_pretrained(name_or_dir, *args, **kwargs)

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)  # the family's PreTrainedModel
        setattr(self, self.base_model_prefix, _build_backbone(self.backbone_class, config))
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.has_ans = nn.Sequential(nn.Dropout(_classifier_dropout(config)), nn.Linear(config.hidden_size, 2))
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        is_impossible: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool = True,
    ) -> QAModelOutput | tuple:
        """Span logits for every token, answerability logits from the first token, and the mean loss."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                  "position_ids": position_ids, "inputs_embeds": inputs_embeds,
                  "output_hidden_states": output_hidden_states, "output_attentions": output_attentions}
        accepted = _forward_arguments(self.backbone_class)
        outputs = self.base_model(**{k: v for k, v in inputs.items() if v is not None and k in accepted})
        sequence_output = outputs[0]
        start_logits, end_logits = self.qa_outputs(sequence_output).unbind(dim=-1)
        has_logits = self.has_ans(sequence_output[:, 0])
        loss = span_and_answerability_loss(
            start_logits, end_logits, has_logits, start_positions, end_positions, is_impossible
        )
        result = QAModelOutput(
            loss=loss,
            start_logits=start_logits.contiguous(),
            end_logits=end_logits.contiguous(),
            has_logits=has_logits,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )
        return result if return_dict else result.to_tuple()


class AlbertForQuestionAnsweringAVPool(EncoderForQuestionAnsweringAVPool, AlbertPreTrainedModel):
    """ALBERT (no pooler, as in HF's ``AlbertForQuestionAnswering``) with span and answerability heads."""

    backbone_class = AlbertModel


def _build_backbone(backbone_class: type[PreTrainedModel], config: PretrainedConfig) -> PreTrainedModel:
    """The family's base model, without its pooler when it has one (the QA heads read token states)."""
    parameters = inspect.signature(backbone_class.__init__).parameters
    kwargs = {"add_pooling_layer": False} if "add_pooling_layer" in parameters else {}
    return backbone_class(config, **kwargs)


@functools.cache
def _forward_arguments(backbone_class: type[PreTrainedModel]) -> frozenset[str]:
    """Keyword arguments the encoder's forward takes (DistilBERT has no token_type_ids, for instance)."""
    parameters = inspect.signature(backbone_class.forward).parameters
    names = set(parameters)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        names |= {"output_hidden_states", "output_attentions"}
    return frozenset(names)


def _family_base(backbone_class: type[PreTrainedModel]) -> type[PreTrainedModel]:
    """``BertPreTrainedModel`` for ``BertModel``: the class that carries the family's init and prefix."""
    for cls in backbone_class.__mro__:
        if PreTrainedModel in cls.__bases__:
            return cls
    raise ConfigError(f"{backbone_class.__name__} is not a transformers PreTrainedModel")


@functools.cache
def avpool_class(model_type: str) -> type[PreTrainedModel]:
    """The AVPool QA class for a ``config.model_type`` (``"albert"``, ``"bert"``, ``"roberta"``, ...)."""
    if model_type == "albert":
        return AlbertForQuestionAnsweringAVPool
    try:
        backbone_class = MODEL_MAPPING[AutoConfig.for_model(model_type).__class__]
    except (KeyError, ValueError):
        raise ConfigError(f"model type {model_type!r} has no encoder in transformers to put a QA head on") from None
    name = _class_name(backbone_class.__name__)
    bases = (EncoderForQuestionAnsweringAVPool, _family_base(backbone_class))
    return type(name, bases, {"backbone_class": backbone_class, "__module__": __name__, "__doc__": (
        f"{backbone_class.__name__} with AVPool span and answerability heads (built by avpool_class).")})


def _class_name(backbone_name: str) -> str:
    return backbone_name.removesuffix("Model") + "ForQuestionAnsweringAVPool"


def __getattr__(name: str) -> type[PreTrainedModel]:
    """Resolve classes built by :func:`avpool_class` by name, so that pickle and copy can find them."""
    for model_type, backbone_name in MODEL_MAPPING_NAMES.items():
        if isinstance(backbone_name, str) and _class_name(backbone_name) == name:
            return avpool_class(model_type)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def seeded_init(seed: int | None) -> Iterator[None]:
    """Make weight initialisation a function of ``seed`` without touching the caller's CPU RNG.

    With a seed, the block runs on a forked CPU RNG seeded with ``seed`` (models are built on the CPU), so
    the global stream (dropout, data order) is the same afterwards as before. Without one, it is a no-op.
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _resolve_config(name_or_dir: str | Path, overrides: dict[str, object]) -> PretrainedConfig:
    """Read the config of a local directory or hub id; one-line errors that name the offline alternatives."""
    source = str(name_or_dir)
    offline_hint = f"offline, use {TINY_MODEL_DIR} (tiny, random weights) or a local directory with config.json"
    path = Path(source).expanduser()
    if not path.is_dir() and (path.is_absolute() or source.startswith(("~", ".")) or not _HUB_ID.match(source)):
        raise CheckpointError(f"{source}: no such model directory; {offline_hint}")
    try:
        config = AutoConfig.from_pretrained(str(path) if path.is_dir() else source, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"{source}: cannot load its config ({reason}); {offline_hint}") from None
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise ConfigError(f"{source}: {type(config).__name__} has no option {key!r}")
        setattr(config, key, value)
    return config


def load_model_config(name_or_dir: str | Path) -> PretrainedConfig:
    """The transformers config of a local directory or hub id (one-line errors, as for :func:`load_qa_model`)."""
    return _resolve_config(name_or_dir, {})


def has_weights(name_or_dir: str | Path) -> bool:
    """True for a hub id or a directory holding weights; False for a config-only directory (or a named
    embedded model without weights, such as ``tiny-random``)."""
    path = Path(model_location(name_or_dir)).expanduser()
    return not path.is_dir() or any((path / name).is_file() for name in WEIGHT_FILES)


def load_qa_model(
    name_or_dir: str | Path,
    *,
    from_config: bool = False,
    seed: int | None = None,
    attn_implementation: str | None = None,
    **config_overrides: object,
) -> PreTrainedModel:
    """An AVPool QA model: the pretrained encoder with freshly initialised heads.

    ``name_or_dir`` is a hub id (``albert/albert-base-v2``), a local directory, or a named embedded model
    (``tiny-random``: the tiny config with random weights; see ``paths.NAMED_MODELS``). A directory with only
    ``config.json`` (like ``data/tiny-albert``), or ``from_config=True``, gives random weights. Every
    randomly initialised weight (all of them, or only the heads) is a deterministic function of ``seed`` and
    the caller's global RNG is left untouched (see :func:`seeded_init`). ``config_overrides`` set existing
    config options (e.g. ``hidden_dropout_prob=0.1``). Attention defaults to transformers' choice (SDPA).
    """
    name_or_dir = model_location(name_or_dir)
    config = _resolve_config(name_or_dir, config_overrides)
    model_class = avpool_class(config.model_type)
    with seeded_init(seed):
        if from_config or not has_weights(name_or_dir):
            if attn_implementation is not None:
                config._attn_implementation = attn_implementation
            return model_class(config)
        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        try:
            return model_class.from_pretrained(str(name_or_dir), config=config, trust_remote_code=False, **kwargs)
        except pickle.UnpicklingError:  # transformers reads .bin files with weights_only=True: nothing ran
            raise UnsafeCheckpointError(
                f"{name_or_dir}: refused to load its pickled weights: they would need code execution to "
                f"unpickle (nothing was executed); use a safetensors file from a source you trust") from None
        except (OSError, RuntimeError) as exc:  # unreadable files, or weights that do not fit the config
            reason = " ".join(str(exc).split())[:200]
            raise CheckpointError(f"{name_or_dir}: cannot load weights ({reason})") from None


def enable_gradient_checkpointing(model: PreTrainedModel) -> None:
    """Recompute each encoder layer's activations in the backward pass instead of storing them.

    transformers' own switch is used where the family supports it. transformers 5's ALBERT does not, so its
    (shared) ``AlbertLayer`` is wrapped with ``torch.utils.checkpoint``: each of the 12 passes is recomputed
    with the RNG state it had, so gradients are those of the plain forward, for less activation memory.
    """
    if getattr(model, "supports_gradient_checkpointing", False):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return
    layers = [module for module in model.modules() if type(module).__name__ == "AlbertLayer"]
    if not layers:
        raise ConfigError(f"--gradient-checkpointing: {type(model).__name__} does not support it")
    for layer in layers:
        layer.forward = functools.partial(_checkpointed_forward, layer, layer.forward)


def _checkpointed_forward(layer: nn.Module, forward: Callable[..., torch.Tensor], *args: object,
                          **kwargs: object) -> torch.Tensor:
    if layer.training and torch.is_grad_enabled():
        return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)
