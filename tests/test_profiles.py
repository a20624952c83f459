"""Profiles and option resolution: profile -> config file -> command line, with one-line errors."""
from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from albertzero_utils import paths, profiles
from albertzero_utils.cli import main
from albertzero_utils.cli.train import add_training_arguments, overrides_from_args
from albertzero_utils.errors import ConfigError
from albertzero_utils.profiles import PROFILES, TrainConfig, resolve, validate
from albertzero_utils.reinit import parse_targets


def test_smoke_profile_is_the_dataclass_default() -> None:
    assert resolve("smoke") == TrainConfig()
    assert TrainConfig().model == str(paths.TINY_MODEL_DIR) and TrainConfig().cpu


def test_every_profile_sets_only_known_fields() -> None:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, values in PROFILES.items():
        assert set(values) <= known, name


def test_paper_profile_follows_the_albert_recipe() -> None:
    paper = PROFILES["paper"]
    assert paper["learning_rate"] == 3e-5
    assert paper["global_batch_size"] == 48 and paper["micro_batch_size"] == "auto"
    assert paper["warmup_ratio"] == pytest.approx(814 / 8144)
    # the recipe's 8,144 steps at batch 48 are 3 epochs of SQuAD 2.0; the early window is the first of them
    assert paper["num_epochs"] == 3 and paper["max_eval_samples"] is None
    assert paper["early_window_epochs"] == 1.0


def test_gpu_profiles_plan_five_seeds_two_coprimary_metrics_and_the_first_epoch() -> None:
    for name in ("colab", "paper"):
        cfg = resolve(name)
        assert len(cfg.seeds) >= 5 and (cfg.headline_metric, cfg.coprimary_metric) == ("f1", "best_f1")
        assert cfg.early_window_epochs == 1.0 and cfg.claim_gain == 2.0
    assert resolve("colab").num_epochs == 1  # colab's window is its whole run
    smoke = resolve("smoke")
    assert (smoke.headline_metric, smoke.coprimary_metric, smoke.early_window_epochs) == ("HasAns_span_f1", None, 0.4)


@pytest.mark.parametrize("option, value, message", [
    ("coprimary_metric", "HasAns_span_f1", "coprimary_metric must be null or one of"),  # the headline twice
    ("coprimary_metric", "accuracy", "coprimary_metric must be null or one of"),
    ("early_window_epochs", 0.0, "--early-window-epochs must be a positive"),
    ("early_window_epochs", float("nan"), "early_window_epochs' must be a finite number"),  # every NaN is refused first
    ("claim_gain", -2.0, "--claim-gain must be a positive"),
])
def test_plan_options_are_checked(option, value, message) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve("smoke", None, {option: value})


def test_config_file_then_command_line_override_the_profile(tmp_path) -> None:
    file = tmp_path / "run.yaml"
    file.write_text("learning-rate: 2e-4\nglobal_batch_size: 8\nreinit: ffn_output\nseeds: [3, 4]\n")
    cfg = resolve("smoke", file, {"global_batch_size": 2})
    assert (cfg.learning_rate, cfg.global_batch_size, cfg.reinit, cfg.seeds) == (2e-4, 2, ("ffn_output",), (3, 4))
    assert cfg.max_seq_length == TrainConfig().max_seq_length
    json_file = tmp_path / "run.json"
    json_file.write_text(json.dumps({"profile": "smoke", "num_epochs": 5}))
    assert resolve(None, json_file, {}).num_epochs == 5


def test_smoke_profile_states_nothing_beyond_the_defaults() -> None:
    assert PROFILES["smoke"] == {}  # one source of truth: the TrainConfig defaults


def test_a_later_layer_replaces_the_whole_duration(tmp_path) -> None:
    smoke = resolve("smoke")
    assert (smoke.num_epochs, smoke.max_steps, smoke.duration_source) == (2, 60, "defaults")
    epoch = resolve("smoke", None, {"num_epochs": 1})  # not cut short by the profile's max_steps
    assert (epoch.num_epochs, epoch.max_steps) == (1, None)
    assert epoch.duration_source == "command line (num_epochs=1)"
    file = tmp_path / "run.yaml"
    file.write_text("max-steps: 7\n")
    from_file = resolve("colab", file, {})
    assert (from_file.max_steps, from_file.duration_source) == (7, f"config file {file} (max_steps=7)")
    assert resolve("colab", file, {"num_epochs": 3}).max_steps is None  # the command line beats the file
    assert resolve("colab").duration_source == "profile colab (num_epochs=1)"
    both = resolve("smoke", None, {"num_epochs": 4, "max_steps": 9})  # on one layer, max_steps wins
    assert (both.num_epochs, both.max_steps) == (4, 9)


@pytest.mark.parametrize("text, fragment", [
    ("no_such_option: 1\n", "unknown option 'no_such_option'"),
    ("global_batch_size: eight\n", "option 'global_batch_size' expects int"),
    ("cpu: 1\n", "option 'cpu' expects bool"),
    ("- a list\n", "expected a mapping"),
])
def test_bad_config_file_is_a_one_line_error(tmp_path, text: str, fragment: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=fragment) as info:
        resolve("smoke", file, {})
    assert "\n" not in str(info.value) and str(file) in str(info.value)


@pytest.mark.parametrize("overrides, fragment", [
    ({"global_batch_size": 0}, "--global-batch-size must be a positive integer"),
    ({"learning_rate": 0.0}, "--learning-rate must be positive"),
    ({"learning_rate": -1e-3}, "--learning-rate must be positive"),
    ({"warmup_ratio": 1.0}, "--warmup-ratio"),
    ({"train_file": "/no/such/train.json"}, "--train-file /no/such/train.json: no such file"),
    ({"reinit": "ffn_outptu"}, "unknown target 'ffn_outptu'"),
    ({"mixed_precision": "fp8"}, "--mixed-precision must be one of"),
    ({"resume_from_checkpoint": "/no/such/ckpt"}, "no such checkpoint directory"),
    ({"train_file": None}, "no train data"),
    ({"max_seq_length": 64, "doc_stride": 40}, "doc_stride < max_seq_length - max_query_length - 3"),
])
def test_bad_options_are_one_line_errors(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        resolve("smoke", None, overrides)
    assert "\n" not in str(info.value)


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="unknown profile .huge.; choose one of smoke, colab, paper, cpu-real"):
        resolve("huge")


@pytest.mark.parametrize("value, expected", [
    ("ffn_output", ("ffn_output",)), ("ffn_output,attention_output", ("ffn_output", "attention_output")),
    ("ffn_output+pooler", ("ffn_output", "pooler")), ("none", ()), (None, ()), ([], ()), (["ffn"], ("ffn",)),
])
def test_parse_reinit(value, expected) -> None:
    assert parse_targets(value) == expected
    assert TrainConfig(reinit=value).reinit == expected


def test_default_output_dir_names_profile_arm_and_seed() -> None:
    assert TrainConfig(reinit="ffn_output", seed=2).output_dir.endswith("smoke/ffn_output-seed2")
    assert TrainConfig().output_dir.endswith("smoke/none-seed0")


def test_hub_profiles_fail_fast_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    monkeypatch.setattr(profiles, "cuda_available", lambda: True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", "/nonexistent-hf-home/hub")
    cfg = resolve("colab")
    with pytest.raises(ConfigError) as info:
        profiles.check_environment(cfg)
    message = str(info.value)
    assert "needs the Hugging Face Hub" in message and "--profile smoke" in message and "\n" not in message
    assert "--model DIR --train-file F --eval-file F" in message
    local = resolve("colab", None, {"model": str(paths.TINY_MODEL_DIR), "train_file": "sample:train",
                                     "eval_file": "sample:dev"})
    profiles.check_environment(local)  # everything local: no error


def test_gpu_profiles_fail_fast_without_cuda(monkeypatch) -> None:
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    with pytest.raises(ConfigError, match="needs a CUDA GPU.*--profile smoke"):
        profiles.check_environment(resolve("paper"))
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        profiles.check_environment(resolve("smoke", None, {"mixed_precision": "fp16"}))


def test_default_profile_is_smoke_offline_or_on_cpu(monkeypatch) -> None:
    monkeypatch.setattr(profiles, "cuda_available", lambda: True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert profiles.default_profile() == "smoke"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    assert profiles.default_profile() == "colab"
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    assert profiles.default_profile() == "smoke"


def _parse(argv: list[str], **kwargs) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, **kwargs)
    return parser.parse_args(argv)


def test_only_given_flags_are_overrides() -> None:
    overrides = overrides_from_args(_parse(["--learning-rate", "2e-5", "--gradient-checkpointing"]))
    assert overrides == {"learning_rate": 2e-5, "gradient_checkpointing": True}
    assert overrides_from_args(_parse(["--pad-to-max-length"])) == {"pad_to_max_length": True}
    assert not profiles.resolve("smoke").pad_to_max_length  # dynamic padding is the default
    assert overrides_from_args(_parse(["--dataset", "org/data"])) == {
        "dataset": "org/data", "train_file": None, "eval_file": None}
    with_file = overrides_from_args(_parse(["--dataset", "org/data", "--eval-file", "dev.json"]))
    assert with_file["eval_file"] == "dev.json" and with_file["train_file"] is None
    batch = overrides_from_args(_parse(["--batch-size", "32", "--micro-batch-size", "8",
                                        "--match-original-albert-tokenizer"]))
    assert batch == {"global_batch_size": 32, "micro_batch_size": 8, "match_original_albert_tokenizer": True}


def test_compare_can_leave_per_run_options_out() -> None:
    args = _parse([], exclude=("seed", "reinit", "output_dir", "resume_from_checkpoint"))
    assert not {"seed", "reinit", "output_dir", "resume_from_checkpoint"} & set(vars(args))
    with pytest.raises(SystemExit):
        _parse(["--seed", "1"], exclude=("seed",))


def test_cli_bad_option_is_one_line(capsys) -> None:
    assert main(["train", "--profile", "smoke", "--batch-size", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["albertzero train: error: --global-batch-size must be a positive integer, not 0"]


def test_headline_metric_is_f1_for_the_real_experiment_and_checked() -> None:
    assert resolve("colab").headline_metric == resolve("paper").headline_metric == "f1"
    assert resolve("smoke").headline_metric == "HasAns_span_f1"
    with pytest.raises(ConfigError, match="headline_metric must be one of"):
        validate(dataclasses.replace(resolve("smoke"), headline_metric="accuracy"))
