"""Parameter accounting against known facts and real models; sharing proof; hidden-state drift."""
from __future__ import annotations

import pytest
import torch
from transformers import AlbertConfig, AlbertModel, BertConfig

from albertzero_utils import anatomy, paths
from albertzero_utils.anatomy import (
    EMBEDDING_PARTS,
    compare_models,
    factorisation_table,
    hidden_state_drift,
    parameter_breakdown,
    shared_block_proof,
    standard_configs,
)
from albertzero_utils.modeling import AlbertForQuestionAnsweringAVPool, avpool_class


def tiny_albert() -> AlbertForQuestionAnsweringAVPool:
    torch.manual_seed(0)
    config = AlbertConfig(vocab_size=1000, embedding_size=64, hidden_size=128, num_hidden_layers=12,
                          num_attention_heads=4, intermediate_size=512, max_position_embeddings=64)
    return AlbertForQuestionAnsweringAVPool(config)


def tiny_bert() -> torch.nn.Module:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64)
    return avpool_class("bert")(config)


def real_count(model: torch.nn.Module) -> int:
    return sum(param.numel() for param in model.parameters())


def test_albert_base_and_bert_base_counts() -> None:
    configs = standard_configs()
    albert = parameter_breakdown(configs["albert-base"])
    assert albert["total"] == 11_683_584
    assert albert["total"] - albert["pooler"] == 11_092_992
    assert sum(albert[part] for part in EMBEDDING_PARTS) == 3_906_048
    assert albert["embedding_projection"] == 128 * 768 + 768
    assert parameter_breakdown(configs["bert-base"])["total"] == 109_482_240
    assert parameter_breakdown(configs["bert-base"])["embedding_projection"] == 0


def test_meta_counts_match_real_instantiations() -> None:
    config = standard_configs()["albert-base"]
    counts = parameter_breakdown(config)
    assert real_count(AlbertModel(config)) == counts["total"]
    assert real_count(AlbertModel(config, add_pooling_layer=False)) == counts["total"] - counts["pooler"]
    model = tiny_albert()
    breakdown = parameter_breakdown(model)
    assert breakdown["total"] == real_count(model) == sum(v for k, v in breakdown.items() if k != "total")
    assert breakdown["heads"] == 2 * (128 * 2 + 2) and breakdown["pooler"] == 0 and breakdown["other"] == 0
    block = model.albert.encoder.albert_layer_groups[0].albert_layers[0]
    assert breakdown["blocks"] == real_count(block)  # ALBERT: the one shared block, counted once


@pytest.mark.slow
def test_bert_base_meta_count_matches_a_real_instantiation() -> None:
    from transformers import BertModel

    config = standard_configs()["bert-base"]
    assert real_count(BertModel(config)) == parameter_breakdown(config)["total"]


def test_real_albert_base_v2_config_counts() -> None:
    config = AlbertConfig.from_pretrained(paths.ALBERT_BASE_DIR)
    assert parameter_breakdown(config)["total"] == 11_683_584


def test_compare_models_rows() -> None:
    rows = {row["model"]: row for row in compare_models()}
    assert list(rows) == ["bert-base", "albert-base", "albert-large", "albert-xlarge", "albert-xxlarge"]
    assert rows["bert-base"]["shared"] is False and all(rows[n]["shared"] for n in rows if n.startswith("albert"))
    assert rows["albert-base"]["params"] == 11_683_584
    assert rows["albert-base"]["params_without_embeddings"] == 11_683_584 - 3_906_048
    assert (rows["albert-large"]["hidden"], rows["albert-large"]["embedding"], rows["albert-large"]["layers"]) == (
        1024, 128, 24)
    for name in ("albert-base", "albert-large"):  # Table 1 rounds to millions
        assert round(rows[name]["params"] / 1e6) == rows[name]["paper_params_millions"]


def test_factorisation_table() -> None:
    rows = {row["embedding_size"]: row for row in factorisation_table(30000, 768, (128, 768))}
    assert (rows[128]["factorised"], rows[128]["unfactorised"]) == (3_938_304, 23_040_000)
    assert rows[768]["factorised"] > rows[768]["unfactorised"]  # factorising only pays off when E << H


def test_shared_block_proof_for_albert_and_bert() -> None:
    albert = tiny_albert().train()
    marker = torch.full_like(albert.qa_outputs.weight, 7.0)
    albert.qa_outputs.weight.grad = marker
    proof = shared_block_proof(albert)
    assert proof["passes"] == 12 and proof["distinct_blocks"] == 1 and proof["distinct_ffn_output_storages"] == 1
    assert proof["grad_is_sum_of_passes"] and proof["max_relative_error"] < 1e-4
    assert len(proof["per_pass_grad_norm"]) == 12 and min(proof["per_pass_grad_norm"]) > 0
    assert proof["ffn_output_grad_norm"] > max(proof["per_pass_grad_norm"])  # no single pass is the whole grad
    assert albert.training and albert.qa_outputs.weight.grad is marker  # the caller's state is restored
    assert all(param.grad is None for name, param in albert.named_parameters() if not name.startswith("qa_"))
    bert = shared_block_proof(tiny_bert())
    assert (bert["passes"], bert["distinct_blocks"], bert["distinct_ffn_output_storages"]) == (3, 3, 3)


def test_hidden_state_drift_matches_the_hidden_states_and_ignores_padding() -> None:
    model = tiny_albert().eval()
    ids = torch.randint(5, 1000, (2, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    rows = hidden_state_drift(model, ids, mask)
    assert [row["layer"] for row in rows] == list(range(1, 13))
    with torch.no_grad():
        states = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    keep = mask.bool()
    for row, before, after in zip(rows, states[:-1], states[1:]):
        assert row["l2_distance"] == pytest.approx((after - before).norm(dim=-1)[keep].mean().item(), rel=1e-5)
        cosine = torch.nn.functional.cosine_similarity(after, before, dim=-1)[keep].mean().item()
        assert row["cosine_similarity"] == pytest.approx(cosine, rel=1e-5)
    other_padding = ids.clone()
    other_padding[1, 6:] = 7
    for row, same in zip(rows, hidden_state_drift(model, other_padding, mask)):
        assert same == pytest.approx(row, rel=1e-5)


@pytest.mark.parametrize("family", ["albert", "bert"])
def test_encoder_flops_per_token_matches_torch_flop_counter(family: str) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from albertzero_utils.anatomy import encoder_flops_per_token

    model = (tiny_albert() if family == "albert" else tiny_bert()).eval()
    model.config._attn_implementation = "eager"  # SDPA kernels on CPU are not seen by the counter
    input_ids = torch.randint(5, 1000, (2, 16), generator=torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.base_model(input_ids=input_ids)
    assert counter.get_total_flops() / input_ids.numel() == encoder_flops_per_token(model.config, 16)["total"]


def test_sharing_leaves_compute_per_token_unchanged() -> None:
    from albertzero_utils.anatomy import encoder_flops_per_token

    configs = standard_configs()
    bert, albert = (encoder_flops_per_token(configs[name], 384) for name in ("bert-base", "albert-base"))
    assert albert["per_layer"] == bert["per_layer"] and albert["layers"] == bert["layers"] == 12
    assert albert["total"] - bert["total"] == 2 * 128 * 768  # only ALBERT's E -> H projection differs


def test_the_chapter_figures_draw_one_artist_per_item() -> None:
    import matplotlib

    matplotlib.use("Agg")
    rows = [{"model": "a", "params": 10_000_000, "params_without_embeddings": 4_000_000},
            {"model": "b", "params": 3_000_000, "params_without_embeddings": 1_000_000}]
    bars = anatomy.plot_parameter_bars(rows).axes[0].patches
    assert [round(p.get_height(), 6) for p in bars] == [6.0, 2.0, 4.0, 1.0]
    factor = anatomy.plot_factorisation([{"embedding_size": 64, "factorised": 2e6, "unfactorised": 23e6}])
    assert len(factor.axes[0].lines) == 2
    assert factor.axes[0].get_xscale() == "linear" and factor.axes[0].get_xlabel() == "embedding size E"
    rows = [{"layer": 1, "l2_distance": 2.0, "cosine_similarity": 0.5}]
    drift = anatomy.plot_drift({"albert": rows, "bert": rows}, "random weights")
    assert len(drift.axes) == 2 and "random weights" in drift.axes[0].get_title()
    assert [len(ax.lines) for ax in drift.axes] == [2, 2]
    matplotlib.pyplot.close("all")
