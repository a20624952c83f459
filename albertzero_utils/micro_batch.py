"""``micro_batch_size: auto``: the largest micro-batch that fits the device, so a big GPU is fed.

The global batch (the experiment) never changes: auto only chooses how a process's share is split into
accumulated micro-batches, always a divisor of that share. Memory is modelled as what training keeps:

- per parameter, 16 bytes (fp32 weights, gradients and AdamW's two moments);
- per window, the activations saved for backward: ``layers x max_seq_length x hidden`` times
  :data:`ACTIVATION_BYTES` (measured with saved-tensor hooks on albert-base-v2 at 128 and 384 tokens:
  121-137 bytes in fp32, 60-68 under bf16 autocast; rounded up). Batches hold at most ``max_seq_length``
  tokens, and the length-grouped sampler runs the longest batch first, so a misfit shows at once;

and only :data:`MEMORY_FRACTION` of the free memory is planned for (the rest: CUDA workspaces, transient
backward buffers, fragmentation, evaluation). On CUDA the free memory is ``torch.cuda.mem_get_info``; on the
CPU it is the available RAM, and auto takes at most :data:`CPU_MICRO_BATCH_CAP` windows: a CPU runs no
faster per window with larger batches, and the RAM of a small machine is spared.
"""
from __future__ import annotations

import os
from typing import Any

#: Bytes of saved activations per (layer x token x hidden unit), by autocast precision (see the module doc).
ACTIVATION_BYTES = {"no": 140, "fp16": 70, "bf16": 70}
#: fp32 weights + gradients + AdamW's exp_avg and exp_avg_sq.
STATE_BYTES_PER_PARAMETER = 16
#: The share of the free memory that training plans for.
MEMORY_FRACTION = 0.8
#: The most windows auto puts in one CPU forward pass.
CPU_MICRO_BATCH_CAP = 8


def parameter_count(model_config: Any) -> int:
    """An estimate of a Hugging Face encoder's parameters from its config (ALBERT shares its blocks)."""
    hidden, layers = model_config.hidden_size, model_config.num_hidden_layers
    embedding = getattr(model_config, "embedding_size", hidden)
    blocks = getattr(model_config, "num_hidden_groups", layers)
    block = 4 * hidden * hidden + 2 * hidden * model_config.intermediate_size
    return model_config.vocab_size * embedding + embedding * hidden + blocks * block


def window_bytes(model_config: Any, seq_len: int, precision: str) -> int:
    """Saved activations of one training window of `seq_len` tokens (see :data:`ACTIVATION_BYTES`)."""
    units = model_config.num_hidden_layers * seq_len * model_config.hidden_size
    return units * ACTIVATION_BYTES.get(precision, ACTIVATION_BYTES["no"])


def pick_micro_batch(share: int, free_bytes: int, model_config: Any, seq_len: int, precision: str) -> int:
    """The largest divisor of `share` (windows per process and optimizer step) whose activations, with the
    model's training state, fit :data:`MEMORY_FRACTION` of `free_bytes`; 1 when even one window does not."""
    budget = MEMORY_FRACTION * free_bytes - STATE_BYTES_PER_PARAMETER * parameter_count(model_config)
    fits = int(budget // window_bytes(model_config, seq_len, precision))
    return max((d for d in range(1, share + 1) if share % d == 0 and d <= fits), default=1)


def free_memory(cuda: bool) -> int:
    """Free bytes on the current CUDA device, or the available RAM for the CPU."""
    if cuda:
        import torch

        cached = torch.cuda.memory_reserved() - torch.cuda.memory_allocated()  # free to PyTorch, not to CUDA
        return int(torch.cuda.mem_get_info()[0] + cached)
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
