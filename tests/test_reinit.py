"""reinit_layers: what it re-draws, how, the pairing contract (global RNG untouched) and the shared block."""
from __future__ import annotations

import pytest
import torch
from transformers import AlbertConfig, AlbertModel, BertConfig

from albertzero_utils.errors import ConfigError
from albertzero_utils.modeling import AlbertForQuestionAnsweringAVPool, avpool_class
from albertzero_utils.reinit import (
    available_targets,
    changed_parameters,
    check_target_names,
    encoder_blocks,
    is_known_target,
    parse_targets,
    reinit_layers,
)

BLOCK = "albert.encoder.albert_layer_groups.0.albert_layers.0"


def tiny_albert(seed: int = 0) -> AlbertForQuestionAnsweringAVPool:
    torch.manual_seed(seed)
    config = AlbertConfig(vocab_size=1000, embedding_size=64, hidden_size=128, num_hidden_layers=12,
                          num_attention_heads=4, intermediate_size=512, max_position_embeddings=64)
    return AlbertForQuestionAnsweringAVPool(config).eval()


def tiny_bert(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64)
    return avpool_class("bert")(config).eval()


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def changed(before: dict[str, torch.Tensor], model: torch.nn.Module) -> set[str]:
    return {name for name, param in model.named_parameters() if not torch.equal(before[name], param)}


def test_default_redraws_only_the_shared_ffn_output() -> None:
    model = tiny_albert()
    before = snapshot(model)
    names = reinit_layers(model, seed=0)
    assert names == [f"{BLOCK}.ffn_output.bias", f"{BLOCK}.ffn_output.weight"]
    assert changed(before, model) == {f"{BLOCK}.ffn_output.weight"}  # the bias was already 0 and stays 0


def test_draws_follow_the_requested_distribution() -> None:
    model = tiny_albert()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.5)  # so that zeros and ones below are re-drawn values, not leftovers
    names = reinit_layers(model, "ffn_output,layer_norms", seed=0, std=0.3)
    layer = model.albert.encoder.albert_layer_groups[0].albert_layers[0]
    assert layer.ffn_output.weight.std().item() == pytest.approx(0.3, rel=0.02)  # 65,536 draws
    assert abs(layer.ffn_output.weight.mean().item()) < 0.01
    assert torch.count_nonzero(layer.ffn_output.bias) == 0
    for norm in (layer.attention.LayerNorm, layer.full_layer_layer_norm):
        assert torch.all(norm.weight == 1) and torch.count_nonzero(norm.bias) == 0
    assert len(names) == 6
    default = tiny_albert()
    reinit_layers(default, seed=0)
    std = default.albert.encoder.albert_layer_groups[0].albert_layers[0].ffn_output.weight.std().item()
    assert std == pytest.approx(default.config.initializer_range, rel=0.02)


def test_seeded_reinit_is_deterministic_and_leaves_the_global_rng_alone() -> None:
    first, second, third = tiny_albert(), tiny_albert(), tiny_albert()
    torch.manual_seed(2024)
    expected_next = torch.rand(5)
    torch.manual_seed(2024)
    reinit_layers(first, "ffn_output", seed=11)
    assert torch.equal(torch.rand(5), expected_next)  # dropout masks and data order are unaffected
    reinit_layers(second, "ffn_output", seed=11)
    reinit_layers(third, "ffn_output", seed=12)
    for name, param in first.named_parameters():
        assert torch.equal(param, dict(second.named_parameters())[name]), name
    weight = f"{BLOCK}.ffn_output.weight"
    assert not torch.equal(dict(first.named_parameters())[weight], dict(third.named_parameters())[weight])


def test_unseeded_reinit_uses_the_global_rng() -> None:
    model = tiny_albert()
    torch.manual_seed(5)
    reinit_layers(model)
    after = torch.rand(1)
    torch.manual_seed(5)
    assert not torch.equal(torch.rand(1), after)


def test_the_shared_block_is_redrawn_once_and_all_twelve_passes_see_it() -> None:
    model = tiny_albert()
    layer = model.albert.encoder.albert_layer_groups[0].albert_layers[0]
    outputs: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, args, output: outputs.append(output.detach()))
    ids = torch.randint(5, 1000, (2, 12), generator=torch.Generator().manual_seed(0))
    pointer = layer.ffn_output.weight.data_ptr()
    try:
        model(input_ids=ids)
        before = list(outputs)
        outputs.clear()
        reinit_layers(model, seed=0)
        model(input_ids=ids)
    finally:
        handle.remove()
    assert len(before) == len(outputs) == 12
    assert all(not torch.allclose(old, new) for old, new in zip(before, outputs))
    assert layer.ffn_output.weight.data_ptr() == pointer  # re-drawn in place: optimisers and hooks still valid
    assert len(encoder_blocks(model)) == 1


def test_targets_accept_lists_commas_and_plus_and_union_their_parameters() -> None:
    model = tiny_albert()
    as_list = reinit_layers(model, ["ffn", "attention_output"], seed=0)
    assert reinit_layers(model, "ffn,attention_output", seed=0) == as_list
    assert reinit_layers(model, "ffn + attention_output", seed=0) == as_list
    assert as_list == sorted(f"{BLOCK}.{part}.{kind}" for part in ("ffn", "attention.dense")
                             for kind in ("weight", "bias"))
    qkv = reinit_layers(model, "attention_qkv", seed=0)
    assert [name.split(".")[-2] for name in qkv] == ["key", "key", "query", "query", "value", "value"]
    assert reinit_layers(model, [], seed=0) == []


def test_unknown_or_absent_targets_list_the_valid_ones() -> None:
    model = tiny_albert()
    before = snapshot(model)
    assert available_targets(model) == ["attention_output", "attention_qkv", "ffn", "ffn_output", "layer_norms"]
    for bad in ("pooler", "top:2", "ffn_outptu"):
        with pytest.raises(ConfigError) as caught:
            reinit_layers(model, f"ffn_output,{bad}", seed=0)
        message = str(caught.value)
        assert bad in message and "valid targets: attention_output" in message and "\n" not in message
    assert changed(before, model) == set()  # a bad request re-draws nothing
    with pytest.raises(ConfigError, match="std"):
        reinit_layers(model, std=0.0)


def test_pooler_target_exists_when_the_model_has_a_pooler() -> None:
    torch.manual_seed(0)
    model = AlbertModel(AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=3,
                                     num_attention_heads=2, intermediate_size=64))
    assert "pooler" in available_targets(model)
    assert reinit_layers(model, "pooler", seed=0) == ["pooler.bias", "pooler.weight"]


def test_unshared_encoders_get_every_layers_parts_top_layers_and_scoped_parts() -> None:
    model = tiny_bert()
    offered = available_targets(model)
    assert offered[:9] == ["attention_output", "attention_qkv", "ffn", "ffn_output", "layer_norms", "top:1", "top:2",
                           "top:3", "top:4"]
    assert {"top:1/ffn_output", "top:4/layer_norms"} <= set(offered)
    before = snapshot(model)
    # a bare part is that part in every layer (the analogue of ALBERT's shared block acting in every pass)
    assert reinit_layers(model, "ffn_output", seed=0) == [f"bert.encoder.layer.{i}.output.dense.{kind}"
                                                          for i in range(4) for kind in ("bias", "weight")]
    assert reinit_layers(model, "top:1/ffn_output", seed=0) == ["bert.encoder.layer.3.output.dense.bias",
                                                                "bert.encoder.layer.3.output.dense.weight"]
    assert reinit_layers(model, "top:2/ffn", seed=0) == [f"bert.encoder.layer.{i}.intermediate.dense.{kind}"
                                                         for i in (2, 3) for kind in ("bias", "weight")]
    assert reinit_layers(model, "top:1/attention_output", seed=0)[0] == \
        "bert.encoder.layer.3.attention.output.dense.bias"
    top = reinit_layers(model, "top:2", seed=0)
    assert {name.split(".")[3] for name in top} == {"2", "3"}
    assert set(top) == {name for name in before if name.startswith(("bert.encoder.layer.2.", "bert.encoder.layer.3."))}
    assert all(name in top for name in changed(before, model) if ".output.dense." not in name)


@pytest.mark.parametrize("target, layers", [("ffn_output", {"0", "1", "2", "3"}), ("top:1/ffn_output", {"3"})])
def test_bert_ffn_output_changes_exactly_the_named_tensors(target: str, layers: set[str]) -> None:
    model = tiny_bert()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    names = reinit_layers(model, target, seed=0)
    changed_names, identical = changed_parameters(before, model)
    assert {name.split(".")[3] for name in names} == layers and all(".output.dense." in n for n in names)
    assert changed_names == [name for name in names if name.endswith("weight")]  # biases were 0 and stay 0
    assert identical == len(before) - len(changed_names)
    for name in names:
        tensor = model.state_dict()[name]
        assert (tensor == 0).all() if name.endswith("bias") else abs(tensor.std().item() - 0.02) < 0.004


def test_albert_keeps_its_meaning_and_has_no_scoped_targets() -> None:
    model = tiny_albert()
    assert reinit_layers(model, "ffn_output", seed=0) == [f"{BLOCK}.ffn_output.bias", f"{BLOCK}.ffn_output.weight"]
    with pytest.raises(ConfigError, match="top:1/ffn_output"):
        reinit_layers(model, "top:1/ffn_output", seed=0)


def test_known_target_names_without_a_model() -> None:
    assert all(is_known_target(name) for name in ("ffn_output", "pooler", "top:1", "top:12", "top:1/ffn_output"))
    assert not any(is_known_target(name) for name in ("top:0", "top:N", "top:x", "ffn_out", "top:1/ffn_out",
                                                      "top:0/ffn", "ffn_output/top:1"))
    assert parse_targets("ffn+pooler, ffn") == ("ffn", "pooler") and parse_targets("none") == ()
    with pytest.raises(ConfigError, match="unknown target 'top:0'"):
        check_target_names(("ffn", "top:0"))
