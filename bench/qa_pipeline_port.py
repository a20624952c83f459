"""A port of transformers 4.57's ``pipeline("question-answering")`` (removed in transformers 5), for the bench.

The per-example path of ``QuestionAnsweringPipeline`` (fast tokenizer, question first), kept as written
there: ``preprocess`` tokenises one example at a time (``do_not_pad``, overflowing windows, offsets,
``p_mask`` = not context except [CLS]); the windows go through the model in batches of ``batch_size``
padded to the longest window of the batch (the pipeline's ``pad_collate_fn``); ``postprocess`` runs
``select_starts_ends`` / ``decode_spans`` per window (softmax, outer product, ``top_k * 2 + 10``
candidates when aligning to words), merges equal answer texts across windows, adds the null answer
(``handle_impossible_answer``) and keeps the ``top_k`` best. Only the generic pipeline machinery
(argument handler, ``PipelineIterator``, ``DataLoader``) is left out, which can only make this faster.
The pipeline reads ``start_logits`` / ``end_logits`` only: an answerability head is computed and ignored.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def decode_spans(start: np.ndarray, end: np.ndarray, topk: int, max_answer_len: int,
                 undesired_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """transformers 4.57 ``decode_spans``: the ``topk`` best (start, end) cells of the probability outer product."""
    if start.ndim == 1:
        start = start[None]
    if end.ndim == 1:
        end = end[None]
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    scores_flat = candidates.flatten()
    if topk == 1:
        idx_sort = [np.argmax(scores_flat)]
    elif len(scores_flat) < topk:
        idx_sort = np.argsort(-scores_flat)
    else:
        idx = np.argpartition(-scores_flat, topk)[0:topk]
        idx_sort = idx[np.argsort(-scores_flat[idx])]
    starts, ends = np.unravel_index(idx_sort, candidates.shape)[1:]
    desired = np.isin(starts, undesired_tokens.nonzero()) & np.isin(ends, undesired_tokens.nonzero())
    starts, ends = starts[desired], ends[desired]
    return starts, ends, candidates[0, starts, ends]


def select_starts_ends(start: np.ndarray, end: np.ndarray, p_mask: list[int], attention_mask: np.ndarray,
                       min_null_score: float, top_k: int, handle_impossible_answer: bool,
                       max_answer_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """transformers 4.57 ``select_starts_ends``: mask, softmax, null score, then ``decode_spans``."""
    undesired_tokens = np.abs(np.array(p_mask) - 1) & attention_mask
    undesired_mask = undesired_tokens == 0.0
    start = np.where(undesired_mask, -10000.0, start)
    end = np.where(undesired_mask, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, (start[0, 0] * end[0, 0]).item())
    start[0, 0] = end[0, 0] = 0.0
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, undesired_tokens)
    return starts, ends, scores, min_null_score


def preprocess(tokenizer: Any, question: str, context: str, max_seq_len: int, doc_stride: int) -> list[dict]:
    """The windows of one example: model inputs, ``p_mask`` and the tokenizers ``Encoding``."""
    encoded = tokenizer(text=question, text_pair=context, padding="do_not_pad", truncation="only_second",
                        max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
                        return_overflowing_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True)
    windows = []
    for span in range(len(encoded["input_ids"])):
        input_ids = encoded["input_ids"][span]
        p_mask = [tok != 1 for tok in encoded.sequence_ids(span)]
        for cls_index in np.nonzero(np.array(input_ids) == tokenizer.cls_token_id)[0]:
            p_mask[cls_index] = 0
        windows.append({"input_ids": input_ids, "attention_mask": encoded["attention_mask"][span],
                        "token_type_ids": encoded["token_type_ids"][span], "p_mask": p_mask,
                        "encoding": encoded[span]})
    return windows


def forward(model: torch.nn.Module, windows: list[dict], batch_size: int, pad_id: int) -> list[tuple]:
    """Start/end logits of every window, batched and padded to each batch's longest window."""
    outputs = []
    with torch.inference_mode():
        for lo in range(0, len(windows), batch_size):
            batch = windows[lo:lo + batch_size]
            length = max(len(w["input_ids"]) for w in batch)
            tensors = {name: torch.tensor([w[name] + [pad_id if name == "input_ids" else 0] * (length - len(w[name]))
                                           for w in batch]) for name in ("input_ids", "attention_mask", "token_type_ids")}
            out = model(**tensors)
            for i, w in enumerate(batch):
                n = len(w["input_ids"])  # the pipeline un-batches, then sees padded rows; cut for the masks below
                outputs.append((out.start_logits[i:i + 1, :n].numpy(), out.end_logits[i:i + 1, :n].numpy()))
    return outputs


def postprocess(context: str, windows: list[dict], logits: list[tuple], top_k: int, handle_impossible_answer: bool,
                max_answer_len: int, align_to_words: bool = True) -> list[dict]:
    """transformers 4.57 ``QuestionAnsweringPipeline.postprocess`` (fast tokenizer, padding on the right)."""
    min_null_score = 1000000.0
    answers: list[dict] = []
    for window, (start, end) in zip(windows, logits):
        pre_topk = top_k * 2 + 10 if align_to_words else top_k
        attention_mask = np.array(window["attention_mask"])[None]
        starts, ends, scores, min_null_score = select_starts_ends(
            start, end, window["p_mask"], attention_mask, min_null_score, pre_topk, handle_impossible_answer,
            max_answer_len)
        enc = window["encoding"]
        for s, e, score in zip(starts, ends, scores):
            start_index, end_index = _indices(enc, int(s), int(e), align_to_words)
            target = context[start_index:end_index]
            same = next((a for a in answers if a["answer"].lower() == target.lower()), None)
            if same:
                same["score"] += score.item()
            else:
                answers.append({"score": score.item(), "start": start_index, "end": end_index, "answer": target})
    if handle_impossible_answer:
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]


def _indices(enc: Any, s: int, e: int, align_to_words: bool) -> tuple[int, int]:
    if align_to_words:
        try:
            start_word, end_word = enc.token_to_word(s), enc.token_to_word(e)
            return enc.word_to_chars(start_word, sequence_index=1)[0], enc.word_to_chars(end_word, sequence_index=1)[1]
        except Exception:  # noqa: BLE001 - as in the pipeline: fall back to token offsets
            pass
    return enc.offsets[s][0], enc.offsets[e][1]


def answer_all(model: torch.nn.Module, tokenizer: Any, questions: list[str], contexts: list[str], *,
               top_k: int = 20, max_answer_len: int = 30, max_seq_len: int = 384, doc_stride: int = 128,
               batch_size: int = 32, handle_impossible_answer: bool = True) -> list[list[dict]]:
    """``pipeline("question-answering")(question=questions, context=contexts, ...)`` for a list of questions."""
    model.eval()
    per_example = [preprocess(tokenizer, q, c, max_seq_len, doc_stride) for q, c in zip(questions, contexts)]
    flat = [w for windows in per_example for w in windows]
    logits = forward(model, flat, batch_size, tokenizer.pad_token_id)
    results, lo = [], 0
    for context, windows in zip(contexts, per_example):
        results.append(postprocess(context, windows, logits[lo:lo + len(windows)], top_k, handle_impossible_answer,
                                   max_answer_len))
        lo += len(windows)
    return results
