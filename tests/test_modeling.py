"""The AVPool QA head (ALBERT and generic encoders) and load_qa_model."""
from __future__ import annotations

import copy
import io
import logging
import os
import pickle
import subprocess
import sys

import pytest
import torch
from transformers import AlbertConfig, AlbertForMaskedLM, BertConfig, BertForMaskedLM, DistilBertConfig
from transformers.utils import logging as hf_logging

from albertzero_utils import paths
from albertzero_utils.errors import CheckpointError, ConfigError
from albertzero_utils.modeling import (
    AlbertForQuestionAnsweringAVPool,
    EncoderForQuestionAnsweringAVPool,
    avpool_class,
    load_qa_model,
)

HEAD_KEYS = {"qa_outputs.weight", "qa_outputs.bias", "has_ans.1.weight", "has_ans.1.bias"}


def tiny_albert_config(**overrides: object) -> AlbertConfig:
    """data/tiny-albert's config: 12 layers sharing one 128-wide block."""
    return AlbertConfig.from_pretrained(paths.TINY_MODEL_DIR, **overrides)


def tiny_bert_config() -> BertConfig:
    return BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                      intermediate_size=128, max_position_embeddings=64)


def batch(seq_len: int = 16, size: int = 3) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 900, (size, seq_len), generator=generator)  # below every test vocabulary
    mask = torch.ones_like(ids)
    mask[-1, seq_len // 2:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def seeded_albert() -> AlbertForQuestionAnsweringAVPool:
    torch.manual_seed(0)
    return AlbertForQuestionAnsweringAVPool(tiny_albert_config()).eval()


# --- The head and its loss ----------------------------------------------------------------------------------

def test_forward_shapes_and_answerability_reads_the_first_token() -> None:
    model = seeded_albert()
    out = model(**batch(), output_hidden_states=True)
    assert out.start_logits.shape == out.end_logits.shape == (3, 16)
    assert out.has_logits.shape == (3, 2) and out.loss is None
    assert len(out.hidden_states) == 13  # embedding projection + 12 passes of the shared block
    first_token = out.hidden_states[-1][:, 0]
    torch.testing.assert_close(out.has_logits, model.has_ans(first_token))
    span = model.qa_outputs(out.hidden_states[-1])
    torch.testing.assert_close(out.start_logits, span[..., 0])
    torch.testing.assert_close(out.end_logits, span[..., 1])


def test_loss_is_mean_of_three_cross_entropies_and_ignores_out_of_range_positions() -> None:
    model = seeded_albert()
    inputs = batch()
    start, end, impossible = torch.tensor([3, 0, 40]), torch.tensor([5, 0, 41]), torch.tensor([0, 1, 0])
    out = model(**inputs, start_positions=start, end_positions=end, is_impossible=impossible)
    ce = torch.nn.functional.cross_entropy
    kept = slice(0, 2)  # positions 40/41 lie beyond the 16 tokens: clamped to 16 and ignored
    expected = (ce(out.start_logits[kept], start[kept]) + ce(out.end_logits[kept], end[kept])
                + ce(out.has_logits, impossible)) / 3
    torch.testing.assert_close(out.loss, expected)
    span_only = model(**inputs, start_positions=start, end_positions=end).loss
    torch.testing.assert_close(span_only, (ce(out.start_logits[kept], start[kept])
                                           + ce(out.end_logits[kept], end[kept])) / 2)
    assert model(**inputs, start_positions=start, end_positions=end, is_impossible=impossible,
                 return_dict=False)[0] == out.loss


def test_heads_are_initialised_normal_with_zero_bias_and_sdpa_is_the_default() -> None:
    model = seeded_albert()
    for layer in (model.qa_outputs, model.has_ans[1]):
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.25)
        assert torch.count_nonzero(layer.bias) == 0
    assert model.has_ans[0].p == model.config.classifier_dropout_prob
    assert model.config._attn_implementation == "sdpa"
    assert model.albert.pooler is None


def test_sdpa_attention_gives_the_eager_logits() -> None:
    """PyTorch's fused attention (the default) and transformers' eager attention agree in fp32, padding included."""
    eager = load_qa_model(paths.TINY_MODEL_DIR, seed=0, attn_implementation="eager").eval()
    sdpa = load_qa_model(paths.TINY_MODEL_DIR, seed=0, attn_implementation="sdpa").eval()
    assert eager.config._attn_implementation == "eager" and sdpa.config._attn_implementation == "sdpa"
    inputs = batch(seq_len=24, size=4)
    real = inputs["attention_mask"].bool()
    with torch.no_grad():
        a, b = eager(**inputs), sdpa(**inputs)
    for name in ("start_logits", "end_logits"):
        assert torch.allclose(getattr(a, name)[real], getattr(b, name)[real], atol=1e-5, rtol=0)
    assert torch.allclose(a.has_logits, b.has_logits, atol=1e-5, rtol=0)
    assert not torch.equal(a.start_logits[0], a.start_logits[1])  # real, distinct outputs were compared


def test_save_and_load_round_trip_with_safetensors(tmp_path: os.PathLike) -> None:
    model = seeded_albert()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    again = AlbertForQuestionAnsweringAVPool.from_pretrained(tmp_path).eval()
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    torch.testing.assert_close(again(**batch()).has_logits, model(**batch()).has_logits)


def test_pretrained_backbone_is_kept_and_only_heads_are_new(tmp_path: os.PathLike) -> None:
    torch.manual_seed(0)
    masked_lm = AlbertForMaskedLM(tiny_albert_config())
    masked_lm.save_pretrained(tmp_path)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    hf_logging.get_logger("transformers").addHandler(handler)
    verbosity = hf_logging.get_verbosity()  # another test (a notebook's quiet setup) may have raised it
    hf_logging.set_verbosity_warning()
    try:
        model, info = AlbertForQuestionAnsweringAVPool.from_pretrained(tmp_path, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.get_logger("transformers").removeHandler(handler)
    assert set(info["missing_keys"]) == HEAD_KEYS
    missing_lines = [line for line in stream.getvalue().splitlines() if "MISSING" in line and "|" in line]
    assert {line.split("|")[0].strip() for line in missing_lines} == HEAD_KEYS
    backbone = masked_lm.albert.state_dict()
    for key, value in model.albert.state_dict().items():
        assert torch.equal(value, backbone[key]), key


# --- Any encoder ----------------------------------------------------------------------------------------------

def test_generic_head_loads_a_pretrained_bert_backbone_and_round_trips(tmp_path: os.PathLike) -> None:
    torch.manual_seed(0)
    masked_lm = BertForMaskedLM(tiny_bert_config())
    masked_lm.save_pretrained(tmp_path / "mlm")
    model, info = EncoderForQuestionAnsweringAVPool.from_pretrained(tmp_path / "mlm", output_loading_info=True)
    assert type(model).__name__ == "BertForQuestionAnsweringAVPool"
    assert isinstance(model, EncoderForQuestionAnsweringAVPool) and model.bert.pooler is None
    assert set(info["missing_keys"]) == HEAD_KEYS
    assert torch.equal(model.bert.encoder.layer[-1].output.dense.weight,
                       masked_lm.bert.encoder.layer[-1].output.dense.weight)
    model.save_pretrained(tmp_path / "qa")
    again = load_qa_model(tmp_path / "qa")
    assert type(again) is type(model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def test_generic_head_copies_pickles_and_skips_inputs_the_encoder_lacks() -> None:
    model = EncoderForQuestionAnsweringAVPool(tiny_bert_config()).eval()
    assert type(model) is avpool_class("bert")
    clone = pickle.loads(pickle.dumps(copy.deepcopy(model)))
    torch.testing.assert_close(clone(**batch()).start_logits, model(**batch()).start_logits)
    distil = avpool_class("distilbert")(DistilBertConfig(vocab_size=1000, dim=64, n_layers=2, n_heads=4,
                                                         hidden_dim=128, max_position_embeddings=64))
    assert distil(**batch(), is_impossible=torch.tensor([0, 1, 1])).loss is not None  # no token_type_ids


def test_unknown_model_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no-such-model"):
        avpool_class("no-such-model")


# --- load_qa_model --------------------------------------------------------------------------------------------

def test_config_only_directory_builds_a_seeded_random_model_without_touching_global_rng() -> None:
    assert (paths.TINY_MODEL_DIR / "config.json").is_file()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = load_qa_model(paths.TINY_MODEL_DIR, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    second = load_qa_model(paths.TINY_MODEL_DIR, seed=7)
    other = load_qa_model(paths.TINY_MODEL_DIR, seed=8)
    assert isinstance(first, AlbertForQuestionAnsweringAVPool)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    assert not torch.equal(first.qa_outputs.weight, other.qa_outputs.weight)


def test_seeded_heads_on_a_pretrained_backbone_and_from_config(tmp_path: os.PathLike) -> None:
    torch.manual_seed(0)
    AlbertForMaskedLM(tiny_albert_config()).save_pretrained(tmp_path)
    first, second = load_qa_model(tmp_path, seed=3), load_qa_model(tmp_path, seed=3)
    assert torch.equal(first.has_ans[1].weight, second.has_ans[1].weight)
    fresh = load_qa_model(tmp_path, from_config=True, seed=3)
    shared_block = "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output.weight"
    assert not torch.equal(fresh.state_dict()[shared_block], first.state_dict()[shared_block])


def test_config_overrides_are_applied_and_checked() -> None:
    model = load_qa_model(paths.TINY_MODEL_DIR, seed=0, classifier_dropout_prob=0.3, attn_implementation="eager")
    assert model.has_ans[0].p == 0.3 and model.config._attn_implementation == "eager"
    with pytest.raises(ConfigError, match="hiden_dropout_prob"):
        load_qa_model(paths.TINY_MODEL_DIR, hiden_dropout_prob=0.1)


@pytest.mark.parametrize("source", ["./no/such/dir", "/no/such/dir", "nobody-xyz/no-such-model"])
def test_missing_model_is_a_one_line_error_naming_offline_alternatives(source: str) -> None:
    with pytest.raises(CheckpointError) as caught:
        load_qa_model(source)
    message = str(caught.value)
    assert "\n" not in message and source in message and "tiny-albert" in message


def test_full_size_albert_base_builds_offline_and_runs() -> None:
    model = load_qa_model(paths.ALBERT_BASE_DIR, seed=0).eval()
    assert sum(p.numel() for p in model.parameters()) == 11_092_992 + 2 * (768 * 2 + 2)
    out = model(**batch(seq_len=12, size=1))
    assert out.start_logits.shape == (1, 12) and torch.isfinite(out.has_logits).all()


# --- Package exports ------------------------------------------------------------------------------------------

def test_top_level_exports_are_lazy() -> None:
    code = "import sys, albertzero_utils.paths; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=paths.REPO_ROOT, timeout=60)
    assert result.stdout.strip() == "[]"
    import albertzero_utils
    import importlib

    for name in albertzero_utils.__all__:
        module = importlib.import_module(f"albertzero_utils.{albertzero_utils._LAZY_EXPORTS[name]}")
        assert getattr(albertzero_utils, name) is getattr(module, name), name
    assert {"AlbertForQuestionAnsweringAVPool", "EncoderForQuestionAnsweringAVPool", "load_qa_model",
            "available_targets", "load_albertzero_weights"} <= set(albertzero_utils.__all__)
    with pytest.raises(AttributeError):
        albertzero_utils.no_such_name  # noqa: B018


def test_gradient_checkpointing_recomputes_the_shared_block_and_keeps_gradients() -> None:
    from albertzero_utils.modeling import enable_gradient_checkpointing

    def gradients(checkpointing: bool) -> tuple[dict[str, torch.Tensor], int]:
        model = load_qa_model(paths.TINY_MODEL_DIR, seed=3, hidden_dropout_prob=0.1).train()
        if checkpointing:
            enable_gradient_checkpointing(model)
        calls = []
        block = model.albert.encoder.albert_layer_groups[0].albert_layers[0].ffn_output
        block.register_forward_hook(lambda *_: calls.append(1))
        torch.manual_seed(0)  # the same dropout masks in both runs
        labels = {"start_positions": torch.tensor([1, 2, 3]), "end_positions": torch.tensor([2, 3, 4]),
                  "is_impossible": torch.tensor([0, 1, 0])}
        model(**batch(), **labels).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, len(calls)

    plain, plain_calls = gradients(False)
    checkpointed, checkpointed_calls = gradients(True)
    assert plain_calls == 12 and checkpointed_calls == 24  # every pass is recomputed in backward
    assert plain.keys() == checkpointed.keys()
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-7, msg=name)
