"""GPU throughput of albertZero's AVPool model on the albert-base-v2 config (random weights, 384 tokens).

    python bench/gpu_throughput.py --steps 30          # writes bench/gpu_results.json (not yet run on a GPU)

For fp16 and bf16 autocast (bf16 only with native bf16, compute capability 8.0+): training samples/s
(forward, backward, AdamW), evaluation windows/s (forward under ``inference_mode``), peak GPU memory, and the
model FLOPs utilisation (MFU) against the card's dense peak. FLOPs are counted analytically (:func:`flops_per_token`), not measured.
Without a CUDA GPU the script stops with a one-line message (``--allow-cpu`` runs the same code on the CPU,
for tests only: its timings mean nothing).
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "data" / "albert-base-v2" / "config.json"
#: albert-base-v2 as published (Lan et al. 2020, Table 1; the Hub's config.json), if data/ lacks its config.
ALBERT_BASE_V2 = {"vocab_size": 30000, "embedding_size": 128, "hidden_size": 768, "num_hidden_layers": 12,
                  "num_hidden_groups": 1, "inner_group_num": 1, "num_attention_heads": 12, "intermediate_size": 3072,
                  "hidden_act": "gelu_new", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
                  "max_position_embeddings": 512, "type_vocab_size": 2, "classifier_dropout_prob": 0.1}

# Dense (no structured sparsity) tensor-core peaks in TFLOP/s, bf16 and fp16 with fp32 accumulation, from
# NVIDIA's datasheets (the "with sparsity" figures halved): H100 SXM5 989.4, H100 PCIe 756, H100 NVL 835
# (H100 Tensor Core GPU datasheet); H200 SXM 989, H200 NVL 835 (H200 datasheet); A100 SXM/PCIe 312 (A100
# datasheet); L4 121 (L4 datasheet: 242 with sparsity); T4 65 fp16 and no bf16 tensor cores (T4 datasheet).
# More specific patterns first: the first match wins.
PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    (r"H100.*NVL", {"bf16": 835.0, "fp16": 835.0}),
    (r"H100.*PCIe", {"bf16": 756.0, "fp16": 756.0}),
    (r"H100", {"bf16": 989.4, "fp16": 989.4}),
    (r"H200.*NVL", {"bf16": 835.0, "fp16": 835.0}),
    (r"H200", {"bf16": 989.0, "fp16": 989.0}),
    (r"A100", {"bf16": 312.0, "fp16": 312.0}),
    (r"\bL4\b", {"bf16": 121.0, "fp16": 121.0}),
    (r"\bT4\b", {"fp16": 65.0}),
]


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The dense peak of ``device_name`` for ``precision`` ('bf16' or 'fp16'), or None when unknown."""
    for pattern, peaks in PEAK_TFLOPS:
        if re.search(pattern, device_name):
            return peaks.get(precision)
    return None


def flops_per_token(config: Any, seq_len: int, *, training: bool) -> float:
    """Model FLOPs per token of the AVPool ALBERT at ``seq_len`` (matmuls only; 1 multiply-add = 2 FLOPs).

    Weights used per token: the embedding projection E*H, then the shared block once per layer (12 passes:
    Q, K, V, output 4*H^2 and the FFN 2*H*I), and the span head 2*H; forward = 2 FLOPs per weight. Attention
    adds, per layer, QK^T and AV: 2 * seq_len * H multiply-adds per token. Training = 3x forward (backward:
    gradients of inputs and of weights). The answerability head (one token per window) and biases,
    softmax, LayerNorm and GELU are left out (well under 1%).
    """
    hidden, layers = config.hidden_size, config.num_hidden_layers
    weights = (config.embedding_size * hidden + layers * (4 * hidden * hidden + 2 * hidden * config.intermediate_size)
               + 2 * hidden)
    forward = 2 * weights + 4 * layers * seq_len * hidden
    return float(3 * forward if training else forward)


def load_config(path: str | None) -> tuple[Any, str]:
    from transformers import AlbertConfig

    source = Path(path) if path else DEFAULT_CONFIG
    if source.is_file():
        return AlbertConfig.from_dict(json.loads(source.read_text(encoding="utf-8"))), str(source)
    if path:
        raise SystemExit(f"gpu_throughput.py: error: {path}: no such config file")
    return AlbertConfig(**ALBERT_BASE_V2), "published albert-base-v2 numbers (data/albert-base-v2/config.json absent)"


def random_batch(config: Any, batch: int, seq_len: int, device: Any, generator: Any) -> dict[str, Any]:
    """Full-length random windows with random span and answerability labels."""
    import torch

    ids = torch.randint(5, config.vocab_size, (batch, seq_len), generator=generator).to(device)
    types = (torch.arange(seq_len) >= seq_len // 4).long().expand(batch, seq_len).to(device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": types,
            "start_positions": torch.randint(0, seq_len, (batch,), generator=generator).to(device),
            "end_positions": torch.randint(0, seq_len, (batch,), generator=generator).to(device),
            "is_impossible": torch.randint(0, 2, (batch,), generator=generator).to(device)}


def synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model: Any, config: Any, precision: str, args: argparse.Namespace, device: Any) -> dict[str, Any]:
    """Training samples/s, eval windows/s, peak memory and MFU for one autocast precision."""
    import torch

    from albertzero_utils.features import MODEL_INPUT_COLUMNS

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    generator = torch.Generator().manual_seed(0)
    train_batch = random_batch(config, args.batch_size, args.seq_len, device, generator)
    eval_batch = {k: v for k, v in random_batch(config, args.eval_batch_size, args.seq_len, device, generator).items()
                  if k in MODEL_INPUT_COLUMNS}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)

    def train_step() -> None:
        with torch.autocast(device.type, dtype=dtype):
            loss = model(**train_batch).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    model.train()
    train_s = timed_loop(train_step, args.warmup, args.steps, device)
    train_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    model.eval()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def eval_step() -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype):
            model(**eval_batch)

    eval_s = timed_loop(eval_step, args.warmup, args.steps, device)
    eval_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    samples_per_s = args.steps * args.batch_size / train_s
    windows_per_s = args.steps * args.eval_batch_size / eval_s
    train_tflops = samples_per_s * args.seq_len * flops_per_token(config, args.seq_len, training=True) / 1e12
    eval_tflops = windows_per_s * args.seq_len * flops_per_token(config, args.seq_len, training=False) / 1e12
    peak = peak_tflops(torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", precision)
    return {"train_samples_per_s": round(samples_per_s, 2), "eval_windows_per_s": round(windows_per_s, 2),
            "train_tflops": round(train_tflops, 2), "eval_tflops": round(eval_tflops, 2),
            "train_mfu": round(train_tflops / peak, 4) if peak else None,
            "eval_mfu": round(eval_tflops / peak, 4) if peak else None, "peak_tflops": peak,
            "train_peak_memory_gib": round(train_peak / 2**30, 2) if train_peak is not None else None,
            "eval_peak_memory_gib": round(eval_peak / 2**30, 2) if eval_peak is not None else None}


def timed_loop(step: Any, warmup: int, steps: int, device: Any) -> float:
    """Seconds for ``steps`` calls of ``step`` after ``warmup`` untimed ones (device synchronised)."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return time.perf_counter() - start


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement (default: 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: 5)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch (default: 32)")
    parser.add_argument("--eval-batch-size", type=int, default=128, help="evaluation batch (default: 128)")
    parser.add_argument("--seq-len", type=int, default=384, help="tokens per window (default: 384)")
    parser.add_argument("--config", default=None, help="an ALBERT config.json (default: data/albert-base-v2/config.json)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench" / "gpu_results.json")
    parser.add_argument("--allow-cpu", action="store_true", help="for tests: run on the CPU (bf16 only)")
    args = parser.parse_args(argv)
    if min(args.steps, args.batch_size, args.eval_batch_size, args.seq_len) < 1 or args.warmup < 0:
        parser.error("--steps, --batch-size, --eval-batch-size and --seq-len must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        sys.stderr.write("gpu_throughput.py: error: no CUDA GPU found (torch.cuda.is_available() is False); "
                         "run it on a machine with an NVIDIA GPU\n")
        return 2
    sys.path.insert(0, str(REPO_ROOT))
    from albertzero_utils.fileio import write_json_atomic
    from albertzero_utils.modeling import AlbertForQuestionAnsweringAVPool
    from albertzero_utils.run_setup import precision_for_capability

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config, config_source = load_config(args.config)
    torch.manual_seed(0)
    model = AlbertForQuestionAnsweringAVPool(config).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    precisions = ["bf16"] if device.type == "cpu" else ["bf16", "fp16"]
    if device.type == "cuda" and precision_for_capability(torch.cuda.get_device_capability(device)) != "bf16":
        precisions.remove("bf16")  # emulated bf16 only (T4, V100): what `auto` avoids too
    results = {"device": name, "config": config_source, "seq_len": args.seq_len, "batch_size": args.batch_size,
               "eval_batch_size": args.eval_batch_size, "steps": args.steps, "warmup": args.warmup,
               "torch": torch.__version__, "attention": model.config._attn_implementation,
               "parameters": sum(p.numel() for p in model.parameters()),
               "train_flops_per_token": flops_per_token(config, args.seq_len, training=True),
               "eval_flops_per_token": flops_per_token(config, args.seq_len, training=False),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "timings": "one run per precision; after --warmup untimed steps, the device synchronised"}
    for precision in precisions:
        results[precision] = measure(model, config, precision, args, device)
        print(f"{name} {precision}: {json.dumps(results[precision])}", flush=True)
    write_json_atomic(args.output, results)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
